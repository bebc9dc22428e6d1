"""``tailmerge demo --redis [URL]``: two shippers (two host names) and a reader in a consumer group, on this
machine, through a Redis server that is already running; then the stream is read back and verified."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

from ..verify import verify

__all__ = ["DEFAULT_URL", "run_redis_demo"]

DEFAULT_URL = "redis://127.0.0.1:6379/tailmerge-demo"


def run_redis_demo(url: str, engine: str, seconds: float, files: int) -> int:
    from ..streams.address import parse_address
    from ..streams.client import blocking_client, describe

    address = parse_address(url)
    client = blocking_client(address)
    try:
        client.ping()
    except Exception as e:
        print(f"demo: {describe(e, address)}; start one (redis-server) or name it: --redis URL", file=sys.stderr)
        return 1
    stream = f"{address.stream}-{os.getpid()}"
    url = url.split("?")[0].rsplit("/", 1)[0] + f"/{stream}" + (f"?db={address.db}" if address.db else "")
    tm = [sys.executable, "-m", "tailmerge"]
    try:
        with tempfile.TemporaryDirectory(prefix="tailmerge-demo-") as tmp:
            hosts = {h: [os.path.join(tmp, h, f"service{i + 1}.log") for i in range(files)] for h in ("web1", "web2")}
            for paths in hosts.values():
                os.mkdir(os.path.dirname(paths[0]))
                for p in paths:
                    open(p, "wb").close()
            print(f"demo: two hosts (web1, web2) write {files} logs each in {tmp} for {seconds:g} s;")
            print(f"demo: a shipper per host adds their lines to {address.shown.rsplit('/', 1)[0]}/{stream},")
            print("demo: and a reader in a consumer group merges the stream live:\n", flush=True)
            procs = [
                subprocess.Popen([*tm, "follow", "--engine", engine, *paths, "-o", url, "--host-name", host,
                                  "--idle-exit", "3"])
                for host, paths in hosts.items()
            ]  # fmt: skip
            reader = subprocess.Popen([*tm, "follow", "--engine", engine, url, "--group", "demo", "--format",
                                       "labeled", "--idle-exit", "4"])  # fmt: skip
            time.sleep(1.5)  # the shippers and the reader start (redis-py is imported) before lines come
            writers = [
                subprocess.Popen([sys.executable, "-m", "tailmerge._writer", "--id", host, "--rate", "6",
                                  "--seconds", str(seconds), *paths], start_new_session=True)
                for host, paths in hosts.items()
            ]  # fmt: skip
            for proc in [*writers, *procs, reader]:
                proc.wait()
            merged = os.path.join(tmp, "merged.log")
            subprocess.run([*tm, "follow", "--no-follow", url, "-o", merged], check=False)
            everything = [p for paths in hosts.values() for p in paths]
            verdict = verify(everything, merged)
            entries = client.xlen(stream)
            print(f"\ndemo: the stream holds {entries} entries; read back and checked by tailmerge verify:")
            print(f"demo: {verdict.message}")
            return 0 if verdict.ok else 1
    finally:
        keys = [stream, *(f"tailmerge:positions:{stream}:{h}" for h in ("web1", "web2"))]
        try:
            client.delete(*keys)
        except Exception:
            pass
        client.close()
