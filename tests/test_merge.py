"""The central merge stage fans out to several sinks, each with its own backpressure policy."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tailmerge.api import make_run
from tailmerge.options import Engine, Options
from tailmerge.run import run_async, run_blocking
from tailmerge.sinks import FileSink, LineQueue, Output


def test_a_lagging_sink_never_holds_the_merge_back_and_counts_what_it_dropped(tmp_path: Path, engine: Engine) -> None:
    files = [tmp_path / f"f{i}.log" for i in range(3)]
    for i, f in enumerate(files):
        f.write_bytes(b"".join(b"file %d line %04d\n" % (i, n) for n in range(2000)))
    out = Output(str(tmp_path / "out.log"))
    to_file = FileSink(out, "raw")
    viewer = LineQueue(limit=10, policy="lag")  # nobody reads it: a stalled live viewer
    run = make_run([str(f) for f in files], Options(engine=engine, follow=False), [to_file, viewer], out)
    if engine == "threads":
        run_blocking(run)
    else:
        asyncio.run(run_async(run))
    to_file.close()
    merged = (tmp_path / "out.log").read_bytes().splitlines()
    assert sorted(merged) == sorted(line for f in files for line in f.read_bytes().splitlines())
    assert run.merge.consumed == {str(f): f.stat().st_size for f in files}
    batches = viewer.get()
    assert batches is not None
    kept = sum(len(b) for b in batches)
    assert kept <= 10 + max(len(b) for b in batches)  # at most the bound, and the batch that crossed it
    assert viewer.missed + kept == 6000  # every line either kept or counted as missed
    assert viewer.missed > 0
