# Sourced by the benchmarks that drive examples/hello (bench/load, bench/live); they set
# NF and HELLO first.

# Exits 2 unless the release builds the benchmark runs are there.
need_release_builds() {
  [[ -x $NF && -x $HELLO ]] || { echo "build first: cargo build --release --bin ninefold --example hello" >&2; exit 2; }
}

# start_hello PORT [CPU]: starts examples/hello on 127.0.0.1:PORT (pinned to CPU when
# given), sets TARGET to its pid and returns once it accepts connections; after 10 s
# without, it kills it and fails.
start_hello() {
  local port=$1 cpu=${2:-} pin=()
  [[ -n $cpu ]] && pin=(taskset -c "$cpu")
  "${pin[@]}" "$HELLO" "127.0.0.1:$port" >/dev/null 2>&1 &
  TARGET=$!
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.1
  done
  kill "$TARGET" 2>/dev/null || true
  echo "examples/hello did not listen on 127.0.0.1:$port" >&2
  return 1
}
