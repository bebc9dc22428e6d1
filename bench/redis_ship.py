"""Lines/s into a Redis Stream over loopback (the shipper, per engine), beside the ceiling of one redis-py
connection (a plain pipelined XADD loop of the same entries, no transaction), and the reader's lines/s.

    python bench/redis_ship.py [--lines N] [--line-bytes B]

It starts its own redis-server (no persistence) on a free port in a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time

import redis


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _timed(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--lines", type=int, default=200_000)
    p.add_argument("--line-bytes", type=int, default=100)
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        port = _free_port()
        server = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", tmp, "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            client = redis.Redis(port=port)
            for _ in range(100):
                try:
                    client.ping()
                    break
                except redis.exceptions.ConnectionError:
                    time.sleep(0.05)
            log = os.path.join(tmp, "app.log")
            line = b"x" * (a.line_bytes - 1) + b"\n"
            with open(log, "wb") as f:
                f.write(line * a.lines)
            st = os.stat(log)
            n = a.lines
            print(f"{n} lines of {a.line_bytes} bytes over loopback; redis-server {port}")
            # the ceiling: one connection, pipelined XADDs of the same fields, 1,000 per round trip
            started = time.perf_counter()
            pipe = client.pipeline(transaction=False)
            file = f"{st.st_dev}:{st.st_ino}"
            for i in range(n):
                pipe.xadd(
                    "ceiling", {"host": "h", "path": log, "file": file, "offset": (i + 1) * len(line), "line": line}
                )
                if i % 1000 == 999:
                    pipe.execute()
            pipe.execute()
            ceiling = n / (time.perf_counter() - started)
            print(f"redis-py pipelined XADD loop (ceiling of one connection): {ceiling:,.0f} lines/s")
            tm = [sys.executable, "-m", "tailmerge", "follow", "--no-follow"]
            for engine in ("threads", "asyncio", "mixed"):
                url = f"redis://127.0.0.1:{port}/ship-{engine}"
                took = _timed([*tm, "--engine", engine, log, "-o", url])
                assert client.xlen(f"ship-{engine}") == n
                print(f"shipper, {engine}: {n / took:,.0f} lines/s ({took:.2f} s, start-up included)")
            for engine in ("threads", "asyncio"):
                took = _timed([*tm, "--engine", engine, f"redis://127.0.0.1:{port}/ship-threads", "-o", os.devnull])
                print(f"reader, {engine}: {n / took:,.0f} lines/s ({took:.2f} s, start-up included)")
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
