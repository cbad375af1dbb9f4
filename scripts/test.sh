#!/usr/bin/env bash
# Run ninefold's whole test suite on a fresh machine: installs what the tests
# need beyond cargo (Debian packages), then runs every crate's tests.
set -euo pipefail
cd "$(dirname "$0")/.."

# redis-server: the Redis store tests; libssl-dev + pkg-config: the toxiproxy_rust
# compatibility client (a dev-dependency) links openssl; prometheus: the
# remote-write test (tests/run/prometheus.rs) sends a run's series to a real one.
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
dpkg -s libssl-dev >/dev/null 2>&1 || need+=(libssl-dev)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing: ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "missing ${need[*]}: install them (Debian: apt-get install ${need[*]})" >&2
    exit 1
  fi
fi

cargo test --workspace --locked "$@"

# The scenario library's time-scaled smoke run drives real load, which needs an
# optimized build (in a debug build those tests are ignored): every scenario
# but soak and chaos, a few minutes in all.
cargo test --release --locked -p ninefold --test library_e2e
