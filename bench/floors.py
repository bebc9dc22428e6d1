"""The least a Python program can do to follow files: the floor beside which tailmerge's CPU per line is read.

    python bench/floors.py follow asyncio FILE...   # wake on inotify, read, write complete lines to stdout
    python bench/floors.py follow tasks FILE...     # the same with a task per file, as the asyncio engine
    python bench/floors.py follow blocking FILE...  # the same without an event loop

Nothing else: no rotation, truncation or identity checks, no stop token, no merge stage, no positions, no
line limits, one write per wake-up. ``bench/follow_cpu.py --floors`` runs them beside the engines and
``tail -F``: what tailmerge costs above them is what its guarantees cost; what they cost above ``tail -F``
is Python's. Run with the interpreter that has tailmerge installed (they use its inotify calls).
"""

from __future__ import annotations

import asyncio
import os
import select
import sys

from tailmerge.watch.inotify_fd import IN_MODIFY, InotifyFd  # the same calls as tailmerge's waker

STEP = 8 << 20  # tailmerge's read step


class Follow:
    """Complete lines of the files named, from their ends on, written to stdout as they come."""

    def __init__(self, paths: list[str]) -> None:
        self.out = sys.stdout.fileno()
        self.inotify = InotifyFd()
        self.files: dict[int, list[int | bytes]] = {}  # watch: [fd, position, the part line]
        for path in paths:
            fd = os.open(path, os.O_RDONLY)
            self.files[self.inotify.add_watch(path, IN_MODIFY)] = [fd, os.fstat(fd).st_size, b""]

    def copy_new(self, wd: int) -> None:
        """Write the complete lines that are new in one file."""
        state = self.files[wd]
        fd, pos, part = state
        assert isinstance(fd, int) and isinstance(pos, int) and isinstance(part, bytes)
        # as much as is new (a read of a whole step would allocate 8 MiB a wake-up)
        data = os.pread(fd, min(STEP, os.fstat(fd).st_size - pos), pos)
        state[1] = pos + len(data)
        data = part + data
        cut = data.rfind(b"\n") + 1
        state[2] = data[cut:]
        if cut:
            os.write(self.out, data[:cut])

    def wake(self) -> None:
        for wd, _, _ in self.inotify.read():
            self.copy_new(wd)

    async def run_async(self) -> None:
        asyncio.get_running_loop().add_reader(self.inotify.fd, self.wake)
        await asyncio.Event().wait()

    async def run_tasks(self) -> None:
        """A task per file, woken by an event its watch sets: the asyncio engine's shape (the note's)."""
        events = {wd: asyncio.Event() for wd in self.files}

        def wake() -> None:
            for wd, _, _ in self.inotify.read():
                events[wd].set()

        async def follow(wd: int, event: asyncio.Event) -> None:
            while True:
                await event.wait()
                event.clear()
                self.copy_new(wd)

        asyncio.get_running_loop().add_reader(self.inotify.fd, wake)
        await asyncio.gather(*(follow(wd, event) for wd, event in events.items()))

    def run_blocking(self) -> None:
        while True:
            select.select([self.inotify.fd], [], [])
            self.wake()


def main(argv: list[str]) -> None:
    if argv[:2] == ["follow", "asyncio"]:
        asyncio.run(Follow(argv[2:]).run_async())
    elif argv[:2] == ["follow", "tasks"]:
        asyncio.run(Follow(argv[2:]).run_tasks())
    elif argv[:2] == ["follow", "blocking"]:
        Follow(argv[2:]).run_blocking()
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
