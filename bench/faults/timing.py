#!/usr/bin/env python3
"""Wall-clock accuracy of a Toxiproxy-compatible server's timing toxics.

Drives a running server through its HTTP API (ours or a real toxiproxy-server):
  latency   error of a downstream latency toxic (p50, p99 over one-byte trips
            from the upstream end to the client end, both in this process; the
            link's own one-way time without the toxic is subtracted)
  bandwidth delivered / set rate of an upstream bandwidth toxic
  slicer    time to pass 3 MB through a slicer (1024 ± 512 bytes) with delay 0
            and with delay 100 µs

Every run is bounded: latency uses min(1000, BUDGET / latency) trips per
setting, bandwidth sends about DUR seconds' worth of bytes per rate.
Prints one JSON object per line; run.sh turns them into a table.
"""

import argparse
import json
import socket
import statistics
import threading
import time
import urllib.request


def api(base, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=10) as r:
        raw = r.read()
        return json.loads(raw) if raw else None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def pct(xs, p):
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, int(round(p / 100 * len(xs) + 0.5)) - 1))
    return xs[k]


def one_way(up, down, n, expect=0.0):
    """`n` one-byte trips upstream socket -> proxy -> client socket, in seconds.
    The reader busy-polls: a process blocked in recv for the whole latency is
    woken late by the kernel (0.1-0.3 ms on a VM); that is the client's delay.
    It sleeps until max(5 ms, 5 %) before `expect` first, so that it leaves
    the CPU to the proxy for most of the wait (and a late wake-up of its own,
    up to several ms on a loaded VM, is not counted either)."""
    out = []
    for _ in range(n):
        t = time.perf_counter()
        up.sendall(b"x")
        early = max(0.005, expect * 0.05)
        if expect > early:
            time.sleep(expect - early)
        while True:
            try:
                d = down.recv(16, socket.MSG_DONTWAIT)
                break
            except BlockingIOError:
                pass
        out.append(time.perf_counter() - t)
        if d != b"x":
            raise RuntimeError("link broke")
    return out


def latency_bench(base, settings, budget, label):
    """Downstream latency toxic: one byte written by the upstream end (this
    process) and read at the client end; the link's own one-way time, in
    the same hot loop without the toxic, is subtracted."""
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(4)
    port = free_port()
    api(base, "POST", "/proxies", {"name": "bench_lat", "listen": f"127.0.0.1:{port}",
                                    "upstream": f"127.0.0.1:{ls.getsockname()[1]}"})
    try:
        for ms in settings:
            n = int(min(1000, max(10, budget * 1000 / ms)))
            down = socket.create_connection(("127.0.0.1", port))
            up, _ = ls.accept()
            for sk in (up, down):
                sk.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            one_way(up, down, 50)
            base_ms = statistics.median(one_way(up, down, 200)) * 1000
            api(base, "POST", "/proxies/bench_lat/toxics",
                {"name": "lat", "type": "latency", "stream": "downstream",
                 "attributes": {"latency": ms, "jitter": 0}})
            got = one_way(up, down, n, ms / 1000)
            api(base, "DELETE", "/proxies/bench_lat/toxics/lat")
            up.close()
            down.close()
            err = [t * 1000 - base_ms - ms for t in got]
            print(json.dumps({"server": label, "kind": "latency", "set_ms": ms, "trips": n,
                              "base_one_way_ms": round(base_ms, 3),
                              "err_p50_ms": round(pct(err, 50), 3),
                              "err_p99_ms": round(pct(err, 99), 3)}), flush=True)
    finally:
        api(base, "DELETE", "/proxies/bench_lat")
        ls.close()


def bandwidth_bench(base, settings, dur, label, slicer):
    sink = socket.socket()
    sink.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sink.bind(("127.0.0.1", 0))
    sink.listen(4)
    port = free_port()
    api(base, "POST", "/proxies", {"name": "bench_bw", "listen": f"127.0.0.1:{port}",
                                   "upstream": f"127.0.0.1:{sink.getsockname()[1]}"})

    def one(total):
        payload = b"hello world " * 5462  # 65544 bytes
        c = socket.create_connection(("127.0.0.1", port))
        srv, _ = sink.accept()
        start = [0.0]

        def send():
            start[0] = time.perf_counter()
            left = total
            while left > 0:
                k = min(left, len(payload))
                c.sendall(payload[:k])
                left -= k

        th = threading.Thread(target=send)
        th.start()
        got = 0
        buf = bytearray(1 << 20)
        while got < total:
            k = srv.recv_into(buf)
            if k == 0:
                raise RuntimeError("sink closed early")
            got += k
        end = time.perf_counter()
        th.join()
        c.close()
        srv.close()
        return end - start[0]

    try:
        took = one(20_000_000)
        print(json.dumps({"server": label, "kind": "plain", "mb_per_s": round(20 / took, 1)}),
              flush=True)
        for mbps in settings:
            rate_kb = int(mbps * 1000)
            total = int(mbps * 1e6 * dur)
            api(base, "POST", "/proxies/bench_bw/toxics",
                {"name": "bw", "type": "bandwidth", "stream": "upstream",
                 "attributes": {"rate": rate_kb}})
            took = one(total)
            api(base, "DELETE", "/proxies/bench_bw/toxics/bw")
            ratio = total / took / (mbps * 1e6)
            print(json.dumps({"server": label, "kind": "bandwidth", "set_mb_per_s": mbps,
                              "bytes": total, "seconds": round(took, 3),
                              "ratio": round(ratio, 4)}), flush=True)
        if slicer:
            for delay_us in (0, 100):
                api(base, "POST", "/proxies/bench_bw/toxics",
                    {"name": "sl", "type": "slicer", "stream": "upstream",
                     "attributes": {"average_size": 1024, "size_variation": 512,
                                    "delay": delay_us}})
                total = 3_000_000 if delay_us == 0 else 300_000
                took = one(total)
                api(base, "DELETE", "/proxies/bench_bw/toxics/sl")
                print(json.dumps({"server": label, "kind": "slicer", "delay_us": delay_us,
                                  "bytes": total, "seconds": round(took, 3)}), flush=True)
    finally:
        api(base, "DELETE", "/proxies/bench_bw")
        sink.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--api", help="http://127.0.0.1:PORT of the server under test")
    ap.add_argument("--label", default="ours")
    ap.add_argument("--latencies", default="1,10,100,1000")
    ap.add_argument("--rates", default="0.1,1,5,20,100", help="MB/s")
    ap.add_argument("--budget", type=float, default=10.0, help="s per latency setting")
    ap.add_argument("--dur", type=float, default=2.0, help="s of data per rate")
    ap.add_argument("--no-slicer", action="store_true")
    ap.add_argument("--only", choices=["latency", "bandwidth"])
    a = ap.parse_args()
    if a.only != "bandwidth":
        latency_bench(a.api, [int(x) for x in a.latencies.split(",")], a.budget, a.label)
    if a.only != "latency":
        bandwidth_bench(a.api, [float(x) for x in a.rates.split(",")], a.dur, a.label,
                        not a.no_slicer)


if __name__ == "__main__":
    main()
