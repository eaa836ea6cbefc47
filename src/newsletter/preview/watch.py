"""Fingerprints of the files a preview depends on: a cheap "has anything changed?" for live reload.

A fingerprint is a hash of the names, sizes, mtimes and inodes found under a few paths; computing
it costs a handful of ``stat`` calls and never reads a file, so browsers may poll it often.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

#: Deeper folders and larger trees are not watched: a preview depends on a few small folders.
MAX_DEPTH = 4
MAX_ENTRIES = 5000


def ignored(name: str) -> bool:
    """Hidden files, editors' swap and backup files, and atomic-write temporaries."""
    return (
        name.startswith((".", "#"))
        or name.endswith(("~", ".swp", ".swx", ".tmp"))
        or name == "__pycache__"
    )


def fingerprint(paths: Iterable[Path]) -> str:
    """A short hex digest that changes when a file under ``paths`` is added, removed or edited.

    Files count with their size, modification time (ns) and inode (an atomic rename changes it);
    a missing path counts as missing, so creating it changes the fingerprint too.
    """
    digest = hashlib.blake2b(digest_size=10)
    seen: set[str] = set()
    for path in paths:
        key = os.path.abspath(path)
        if key in seen:
            continue
        seen.add(key)
        digest.update(key.encode("utf-8", "surrogateescape") + b"\0")
        for entry in _entries(key):
            digest.update(entry)
    return digest.hexdigest()


def _entries(root: str) -> list[bytes]:
    try:
        info = os.stat(root)
    except OSError:
        return [b"missing\0"]
    if not os.path.isdir(root):
        return [_line("", info)]
    found: list[bytes] = []
    _walk(root, "", 0, found)
    found.sort()
    return found


def _walk(folder: str, prefix: str, depth: int, found: list[bytes]) -> None:
    try:
        with os.scandir(folder) as entries:
            listed = [entry for entry in entries if not ignored(entry.name)]
    except OSError:
        found.append(f"{prefix}\0unreadable".encode("utf-8", "surrogateescape"))
        return
    for entry in listed:
        if len(found) >= MAX_ENTRIES:
            return
        relative = f"{prefix}/{entry.name}"
        try:
            if entry.is_dir(follow_symlinks=True):
                found.append(f"{relative}/".encode("utf-8", "surrogateescape"))
                if depth < MAX_DEPTH:
                    _walk(entry.path, relative, depth + 1, found)
            else:
                found.append(_line(relative, entry.stat(follow_symlinks=True)))
        except OSError:
            # Removed between listing and stat: the next poll sees the settled state.
            found.append(f"{relative}\0gone".encode("utf-8", "surrogateescape"))


def _line(relative: str, info: os.stat_result) -> bytes:
    return f"{relative}\0{info.st_size}\0{info.st_mtime_ns}\0{info.st_ino}".encode(
        "utf-8", "surrogateescape"
    )
