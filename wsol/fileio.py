"""Atomic writes and safe paths: an output is either complete or absent and never escapes its root; an input
name stays inside its root by its own components, while symlinks the user put there are followed."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", fsync: bool = True, **kwargs: Any) -> Iterator[IO]:
    """Open a temp file beside ``path``; on success (fsync it and) rename it over ``path``.

    If the body raises, the temp file is removed and ``path`` is left as it was. ``fsync=False`` is for many
    small files whose durability is ensured once for all of them (see ``wsol.export.writers.flush_to_disk``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; outputs follow the umask like open() would
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path, "w", encoding="utf-8") as f:
        f.write(text)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, fsync: bool = True) -> None:
    with atomic_open(path, "wb", fsync=fsync) as f:
        f.write(data)


def atomic_write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> None:
    atomic_write_text(path, json.dumps(obj, indent=indent, sort_keys=False) + "\n")


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` through a temp file so a crash never leaves a truncated checkpoint."""
    import torch

    with atomic_open(path, "wb") as f:
        torch.save(obj, f)


def safe_join(root: str | os.PathLike, relative: str) -> Path:
    """Join ``relative`` (an image id, a class name, ...) under ``root`` and refuse anything that escapes it.

    Absolute paths, ``..`` components and symlink tricks all raise ``ValueError`` naming the offending value.
    """
    root_path = Path(root).resolve()
    if not relative or relative.startswith(("/", "\\")) or (len(relative) > 1 and relative[1] == ":"):
        raise ValueError(f"unsafe output name {relative!r}: expected a relative path inside {root_path}")
    candidate = (root_path / relative).resolve()
    if candidate != root_path and root_path not in candidate.parents:
        raise ValueError(f"unsafe output name {relative!r}: it resolves outside {root_path}")
    return candidate


def input_path(root: str | os.PathLike, relative: str) -> Path:
    """``root / relative`` for a name read from metadata (an image id, a mask path), checked by its components.

    Absolute names and ``..`` components raise ``ValueError``; symlinks are *not* resolved, because inputs
    may live behind them (a shared ``images/`` folder linked into a dataset root). Only outputs need
    :func:`safe_join`, which resolves them.
    """
    parts = relative.replace("\\", "/").split("/")
    if not relative or relative.startswith(("/", "\\")) or (len(relative) > 1 and relative[1] == ":"):
        raise ValueError(f"unsafe input name {relative!r}: expected a path relative to {root}")
    if ".." in parts:
        raise ValueError(f"unsafe input name {relative!r}: '..' would leave {root}")
    return Path(root) / relative
