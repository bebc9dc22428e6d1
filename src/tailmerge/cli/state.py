"""``tailmerge state show``: what a state file holds, for people."""

from __future__ import annotations

import os

from ..state import StateError, StateStore

__all__ = ["show_state"]


def show_state(path: str) -> int:
    """Print the state at ``path``; exit status 0, or 2 when it cannot be read."""
    try:
        store = StateStore(path, readonly=True)
    except StateError as e:
        print(f"tailmerge: {e}")
        return 2
    try:
        output, files, streams = store.output(), store.files(), store.streams()
    finally:
        store.close()
    print(f"state {os.path.abspath(path)}")
    if output.file is None:
        print("output: nothing committed into a file (standard output, or no commit yet)")
    else:
        print(f"output: {output.path} (file {output.file}), {output.size} bytes committed")
    reading = [r for r in files if not r.finished]
    finished = [r for r in files if r.finished]
    print(f"reading ({len(reading)}):")
    for r in reading:
        print(f"  {r.path}  file {r.file}  committed to byte {r.offset}")
    print(f"finished ({len(finished)}): rotated away and read to their end; not read again")
    for r in finished:
        print(f"  {r.path}  file {r.file}  {r.offset} bytes")
    if streams:
        print(f"streams ({len(streams)} hosts and paths): each written up to its entry id")
        for s in streams:
            print(f"  {s.stream}  {s.origin}  entry {s.entry.decode()}")
    return 0
