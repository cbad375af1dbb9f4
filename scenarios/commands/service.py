#!/usr/bin/env python3
"""A user's own service, for ninefold's tests of `command` instances.

    service.py --port PORT --instance NAME [--mode ok|never-ready|exit] [--pid-file FILE]

Serves on 127.0.0.1:PORT: GET /health (200; 503 in never-ready mode), GET /items/N
(a small JSON item), POST /orders (201; one order per Idempotency-Key in this
process). Every answer names the instance in X-Backend-Instance. Once it listens
it prints `listening on 127.0.0.1:PORT pid PID` on stdout (not in never-ready
mode); `exit` mode exits with code 3 at once. SIGTERM drains and exits 0.
"""

import argparse
import json
import os
import signal
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--instance", default="service")
    p.add_argument("--mode", default="ok", choices=["ok", "never-ready", "exit"])
    p.add_argument("--pid-file")
    args = p.parse_args()
    if args.pid_file:
        with open(args.pid_file, "a") as f:
            f.write(f"{os.getpid()}\n")
    if args.mode == "exit":
        print("service: exiting at once, as asked", file=sys.stderr)
        sys.exit(3)
    orders = {}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_):
            pass

        def answer(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-Backend-Instance", args.instance)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/health":
                ok = args.mode != "never-ready"
                self.answer(200 if ok else 503, {"ok": ok})
            elif self.path.startswith("/items/"):
                self.answer(200, {"id": self.path[len("/items/"):], "by": args.instance})
            else:
                self.answer(404, {"error": "not found"})

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            if self.path != "/orders":
                return self.answer(404, {"error": "not found"})
            key = self.headers.get("Idempotency-Key") or str(uuid.uuid4())
            with lock:
                order = orders.setdefault(key, str(uuid.uuid4()))
            self.answer(201, {"order_id": order})

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True

    def drain(*_):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, drain)
    if args.mode == "ok":
        print(f"listening on 127.0.0.1:{args.port} pid {os.getpid()}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
