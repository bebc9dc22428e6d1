"""Paths of many files added at once: each made absolute, and where a file really is (symlinks resolved).

The waker watches a file's real folder, and a path's real form takes a system call per part of it
(``os.path.realpath``). Thousands of files in a few folders: the current folder, and each folder's real
path, are asked once per batch, and a file's own entry is the ``lstat`` its run makes anyway.
"""

from __future__ import annotations

import os

__all__ = ["Resolver"]


class Resolver:
    """``abspath`` and the real path of the paths of one batch (cached for the batch only: a folder may
    be replaced by the next)."""

    def __init__(self) -> None:
        self._cwd: str | None = None
        self._real_folders: dict[str, str] = {}

    def absolute(self, path: str) -> str:
        """``os.path.abspath(path)``, the current folder asked once."""
        if os.path.isabs(path):
            return os.path.normpath(path)
        if self._cwd is None:
            self._cwd = os.getcwd()
        return os.path.normpath(os.path.join(self._cwd, path))

    def real(self, absolute: str) -> str | None:
        """``os.path.realpath`` of ``absolute`` (absolute and normalized), whose own entry is not a symlink
        (its ``lstat`` said so): only its folder needs resolving. None where there is no folder to resolve."""
        folder, _, name = absolute.rpartition("/")
        if not folder or not name:
            return None
        real = self._real_folders.get(folder)
        if real is None:
            real = self._real_folders[folder] = os.path.realpath(folder)
        return os.path.join(real, name)
