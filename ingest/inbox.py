"""The inbox: files dropped in ``ALPHADAG_HOME/inbox/`` to be ingested once.

A file is known by the SHA-256 of its content, not by its name: the same bars dropped
twice (or under two names) are ingested once, and an edited file is new. Files move
out of the inbox as soon as they are claimed, so the next look does not see them again:

- ``inbox/archive/<hash12>-<name>``: claimed for ingestion (the run reads it from here);
- ``inbox/rejected/<name>`` with ``<name>.error.txt``: unreadable, or no bar in range;
- a file whose content is already in the archive is a duplicate: it is archived under
  the same name (same content) and not ingested again.

Moves are renames within one folder tree (atomic on one file system).
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

SUFFIXES = (".csv", ".parquet")
ARCHIVE = "archive"
REJECTED = "rejected"


def pending_files(inbox: Path, *, settle_seconds: float = 5.0) -> list[Path]:
    """CSV and Parquet files waiting directly in ``inbox``, oldest first.

    A file modified less than ``settle_seconds`` ago may still be being copied in; it
    is left for a later look (hidden files, like a copy tool's temporaries, always are).
    """
    if not inbox.is_dir():
        return []
    settled_before = time.time() - settle_seconds
    files = [
        p
        for p in inbox.iterdir()
        if p.is_file()
        and p.suffix.lower() in SUFFIXES
        and not p.name.startswith(".")
        and p.stat().st_mtime <= settled_before
    ]
    return sorted(files, key=lambda p: (p.stat().st_mtime_ns, p.name))


def content_hash(path: Path) -> str:
    """SHA-256 of the file's bytes, in hex."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def archived_copy(inbox: Path, digest: str) -> Path | None:
    """The archived file with this content, if the inbox has seen it before."""
    folder = inbox / ARCHIVE
    return next(iter(sorted(folder.glob(f"{digest[:12]}-*"))), None) if folder.is_dir() else None


def archive(path: Path, digest: str) -> Path:
    """Move ``path`` to ``archive/<hash12>-<name>`` and return the new path."""
    target = path.parent / ARCHIVE / f"{digest[:12]}-{path.name}"
    target.parent.mkdir(exist_ok=True)
    os.replace(path, target)
    return target


def reject(path: Path, message: str) -> Path:
    """Move ``path`` to ``rejected/`` with a ``.error.txt`` beside it; return the new path."""
    target = path.parent / REJECTED / path.name
    target.parent.mkdir(exist_ok=True)
    os.replace(path, target)
    target.with_name(f"{target.name}.error.txt").write_text(message + "\n")
    return target
