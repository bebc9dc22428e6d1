"""Start-up: a run imports what it uses, and the package still offers every public name."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import tailmerge

from .conftest import PY

# what a `follow` never needs: the checker, the state's SQLite, the Python API, the demo, the progress bar,
# JSON and numpy (only for --format jsonl), time order, the decompressors and, without following, inotify
NOT_FOR_A_COPY = (
    "bz2",
    "gzip",
    "lzma",
    "shutil",
    "tailmerge.api",
    "tailmerge.bridge.portal",
    "tailmerge.cli.demo",
    "tailmerge.core.order",
    "tailmerge.core.timing",
    "tailmerge.sinks.queue",
    "tailmerge.state.checkpoint",
    "tailmerge.state.store",
    "tailmerge.verify.check",
    "tailmerge.watch.inotify",
    "ctypes",
    "json",
    "numpy",
    "orjson",
    "sqlite3",
    "tqdm",
    "typing_extensions",
)


def _modules_after(code: str, cwd: Path) -> set[str]:
    """The modules a fresh interpreter has imported after running ``code``."""
    probe = f"import sys\n{code}\nprint('modules:', *sys.modules, file=sys.stderr)"
    res = subprocess.run([PY, "-c", probe], cwd=cwd, capture_output=True, text=True, timeout=60, check=True)
    return set(res.stderr.strip().splitlines()[-1].split()[1:])


def test_a_copy_imports_only_what_it_uses(tmp_path: Path) -> None:
    (tmp_path / "a.log").write_bytes(b"one\n")
    for engine in ("asyncio", "threads", "mixed"):
        run = f"from tailmerge.cli import cli\nassert cli('follow', '--no-follow', '--engine={engine}', 'a.log') == 0"
        assert not set(NOT_FOR_A_COPY) & _modules_after(run, tmp_path), engine


def test_the_version_needs_no_run(tmp_path: Path) -> None:
    loaded = _modules_after("from tailmerge.cli import cli\nassert cli('--version') == 0", tmp_path)
    assert not {"asyncio", "tailmerge.run.pipeline", "tailmerge.sources.file", "sqlite3"} & loaded


def test_every_public_name_is_there() -> None:
    for name in tailmerge.__all__:
        assert getattr(tailmerge, name) is not None
    assert set(tailmerge.__all__) <= set(dir(tailmerge))
    for package in ("bridge", "core", "run", "sinks", "sources", "state", "verify", "watch"):
        module = sys.modules.get(f"tailmerge.{package}") or __import__(f"tailmerge.{package}", fromlist=["_"])
        for name in module.__all__:
            assert getattr(module, name) is not None, f"tailmerge.{package}.{name}"


def test_merge_and_verify_stay_functions_once_their_modules_are_imported() -> None:
    import tailmerge.merge
    import tailmerge.verify.check

    assert callable(tailmerge.merge) and callable(tailmerge.verify)
    assert tailmerge.merge.__module__ == "tailmerge.api"
    assert tailmerge.verify.__module__ == "tailmerge.verify.check"
