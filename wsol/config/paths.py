"""Relative paths stored in a checkpoint's config (``data.root``, ``output_dir``), resolved from anywhere.

A run records the paths it was given, relative to the folder it was started from. Reading its checkpoint from
another folder, a relative ``data.root`` is looked up (1) from the current folder, (2) from the run's start
folder — the checkpoint's folder minus the relative ``output_dir`` it was written to (``runs/quickstart/train``
for ``/clone/runs/quickstart/train/best.pt`` gives ``/clone``) — and (3) next to the checkpoint; when none
exists the error names the three places and the flag to pass.
"""

from __future__ import annotations

from pathlib import Path

from wsol.errors import UserInputError


def run_origin(checkpoint: str | Path, output_dir: str | Path | None) -> Path | None:
    """The folder the run was started from, or None when ``output_dir`` is absolute or does not end the
    checkpoint's path."""
    if not output_dir:
        return None
    out = Path(output_dir)
    parts = [p for p in out.parts if p not in (".", "")]
    folder = Path(checkpoint).resolve().parent
    if out.is_absolute() or not parts or ".." in parts or len(parts) >= len(folder.parts):
        return None
    if list(folder.parts[-len(parts) :]) != parts:
        return None
    return Path(*folder.parts[: -len(parts)])


def resolve_config_path(
    value: str | Path,
    checkpoint: str | Path,
    output_dir: str | Path | None,
    field: str = "data.root",
    flag: str = "--data",
) -> Path:
    """``value`` (a path from the checkpoint's config) as it exists from here; UserInputError naming where it
    was looked for otherwise."""
    path = Path(value)
    if path.is_absolute() or path.exists():
        return path
    origin = run_origin(checkpoint, output_dir)
    tried = [Path.cwd() / path]
    for base in ([origin] if origin is not None else []) + [Path(checkpoint).resolve().parent]:
        candidate = base / path
        if candidate.exists():
            return candidate
        tried.append(candidate)
    raise UserInputError(
        f"{field} {str(value)!r} from the checkpoint's config was not found (looked in "
        f"{', '.join(str(t) for t in tried)}); pass {flag} PATH"
    )
