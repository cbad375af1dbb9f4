# Sourced by bench/tls/run.sh and bench/tls/instructions.sh: the TLS server both measure
# against. `tls_server WORK` makes a throw-away CA and a leaf for localhost / 127.0.0.1
# (openssl, ECDSA P-256) in WORK, starts nginx (one worker pinned to core 1, `return 200
# "ok"`, access log off, keep-alive without a request limit) on a free port and waits for
# its first answer. Sets PORT, URL, CA (the CA file) and NGINX_PID, and appends the pid to
# the caller's PIDS array (the caller kills them on exit).
tls_server() {
  local work=$1
  openssl ecparam -name prime256v1 -genkey -noout -out "$work/ca.key" 2>/dev/null
  openssl req -x509 -new -key "$work/ca.key" -subj "/CN=ninefold bench CA" -days 2 -out "$work/ca.pem" 2>/dev/null
  openssl ecparam -name prime256v1 -genkey -noout -out "$work/leaf.key" 2>/dev/null
  openssl req -new -key "$work/leaf.key" -subj "/CN=localhost" -out "$work/leaf.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$work/ext"
  openssl x509 -req -in "$work/leaf.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial \
    -days 2 -extfile "$work/ext" -out "$work/leaf.pem" 2>/dev/null
  CA=$work/ca.pem

  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  mkdir -p "$work/nginx/logs"
  cat >"$work/nginx/nginx.conf" <<CONF
worker_processes 1;
error_log $work/nginx/logs/error.log warn;
pid $work/nginx/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  server {
    listen 127.0.0.1:$PORT ssl;
    ssl_certificate $work/leaf.pem;
    ssl_certificate_key $work/leaf.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / { return 200 "ok"; }
  }
}
CONF
  taskset -c 1 nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' &
  NGINX_PID=$!
  PIDS+=("$NGINX_PID")
  URL="https://localhost:$PORT/"
  for _ in $(seq 1 50); do curl -fs --cacert "$CA" "$URL" >/dev/null && break; sleep 0.1; done
  curl -fs --cacert "$CA" "$URL" >/dev/null
}
