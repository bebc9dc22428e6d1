"""What the size of each write costs: the same bytes, from the same 8 MiB buffers, written into a file in
writes of each size, after ``sync`` and a pause (so that no run inherits the dirty pages of the one before).

    python bench/write_sizes.py OUT_FILE INPUT... [--sizes 131072,1048576,4194304,8388608] [--pause 5]

Printed: per size, seconds and system seconds of a child process doing only that (reading every input in
8 MiB steps with ``pread``, writing each step in writes of the size). ``Output.write``'s ``_WRITE_MAX``
comes from this: on ext4 here, writes of 4 MiB or more cost 3-4x.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time

CHILD = """
import os, sys
out, piece, inputs = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
for path in inputs:
    f, pos = os.open(path, os.O_RDONLY), 0
    while data := os.pread(f, 8 << 20, pos):
        pos += len(data)
        view = memoryview(data)
        for k in range(0, len(data), piece):
            os.write(fd, view[k : k + piece])
    os.close(f)
os.close(fd)
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out")
    p.add_argument("inputs", nargs="+")
    p.add_argument("--sizes", default="65536,131072,1048576,2097152,3145728,4194304,8388608")
    p.add_argument("--pause", type=float, default=5.0)
    ns = p.parse_args()
    print("| write size | seconds | system seconds |")
    print("| --- | --- | --- |")
    for size in map(int, ns.sizes.split(",")):
        subprocess.run(["sync"], check=True)
        time.sleep(ns.pause)
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_stime
        started = time.monotonic()
        subprocess.run([sys.executable, "-c", CHILD, ns.out, str(size), *ns.inputs], check=True)
        took = time.monotonic() - started
        system = resource.getrusage(resource.RUSAGE_CHILDREN).ru_stime - before
        print(f"| {size} | {took:.2f} | {system:.2f} |")
        os.unlink(ns.out)


if __name__ == "__main__":
    main()
