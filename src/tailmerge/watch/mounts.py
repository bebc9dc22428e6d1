"""Network filesystems, where inotify misses other hosts' writes, so their files are polled."""

from __future__ import annotations

from pathlib import Path

__all__ = ["NETWORK_FILESYSTEMS", "network_mount"]

NETWORK_FILESYSTEMS = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "afs", "ceph", "glusterfs", "lustre", "gpfs",
     "fuse.sshfs", "fuse.glusterfs", "fuse.s3fs", "fuse.rclone"}
)  # fmt: skip

# the mount table, read once: (mount point, its prefix with a slash, its filesystem type), longest first
_mounts: list[tuple[str, str, str]] | None = None
_points: dict[str, str | None] = {}  # the answer for a path that is itself a mount point
_folders: dict[str, str | None] = {}  # the answer for any other path in a folder (10,000 files, a few folders)


def network_mount(path: str) -> str | None:
    """The mount point of ``path`` (absolute, normalized) if it lies on a filesystem where inotify misses
    other hosts' writes."""
    mounts = _mounts if _mounts is not None else _read_mounts()
    if path in _points:
        return _points[path]  # the longest mount point that can match: the path itself
    folder, slash, _ = path.rpartition("/")
    if not slash or not folder:
        return _scan(mounts, path)
    # any other match is a mount point above the name: the same for every path in the folder
    try:
        return _folders[folder]
    except KeyError:
        found = _folders[folder] = _scan(mounts, folder + "/")
        return found


def _scan(mounts: list[tuple[str, str, str]], path: str) -> str | None:
    for mountpoint, prefix, fstype in mounts:
        if path == mountpoint or path.startswith(prefix):
            return mountpoint if fstype in NETWORK_FILESYSTEMS else None
    return None


def _read_mounts() -> list[tuple[str, str, str]]:
    global _mounts
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        lines = []
    mounts = []
    for line in lines:
        fields = line.split()
        if len(fields) >= 3:
            mountpoint = fields[1].replace("\\040", " ")
            mounts.append((mountpoint, mountpoint.rstrip("/") + "/", fields[2]))
    _mounts = sorted(mounts, key=lambda m: len(m[0]), reverse=True)
    for mountpoint, _, _ in _mounts:
        if mountpoint not in _points:
            _points[mountpoint] = _scan(_mounts, mountpoint)
    return _mounts
