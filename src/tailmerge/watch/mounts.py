"""Network filesystems, where inotify misses other hosts' writes, so their files are polled."""

from __future__ import annotations

from pathlib import Path

__all__ = ["NETWORK_FILESYSTEMS", "network_mount"]

NETWORK_FILESYSTEMS = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "afs", "ceph", "glusterfs", "lustre", "gpfs",
     "fuse.sshfs", "fuse.glusterfs", "fuse.s3fs", "fuse.rclone"}
)  # fmt: skip

_mounts: list[tuple[str, str]] | None = None


def network_mount(path: str) -> str | None:
    """The mount point of ``path`` if it lies on a filesystem where inotify misses other hosts' writes."""
    global _mounts
    if _mounts is None:
        try:
            lines = Path("/proc/self/mounts").read_text().splitlines()
        except OSError:
            lines = []
        mounts = []
        for line in lines:
            fields = line.split()
            if len(fields) >= 3:
                mounts.append((fields[1].replace("\\040", " "), fields[2]))
        _mounts = sorted(mounts, key=lambda m: len(m[0]), reverse=True)
    for mountpoint, fstype in _mounts:
        if path == mountpoint or path.startswith(mountpoint.rstrip("/") + "/"):
            return mountpoint if fstype in NETWORK_FILESYSTEMS else None
    return None
