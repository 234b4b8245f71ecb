"""Durable files: what reaches the disk before a rename or a write is called done."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_path(path: Path) -> None:
    """Flush ``path`` — a file's bytes, or a folder's entries (a new or renamed name) — to
    the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
