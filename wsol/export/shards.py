"""The export folder: settings check, fixed shards written atomically, and the deterministic merge.

Layout of ``<out>``::

    export.json                 settings fingerprint: a restart resumes only with the same settings
    shards/shard_00000.json     one finished shard (images, annotations without ids, unreadable images)
    masks/<image_id>.png        class-id masks (see wsol.export.writers)
    scoremaps/<image_id>.npy    wsolevaluation score maps
    results.json                COCO results (loadRes) — written by the merge; its presence = export finished
    dataset.json                COCO dataset of the pseudo-labels (optional)
    bad_images.jsonl            unreadable or damaged images: one ``{"image_id": ..., "reason": ...}`` per line
    .lock.rank<r>               held (flock) while process rank r exports: a second export into the folder stops
    quality.json                COCOeval + localization at the fixed threshold (when ground truth exists)

Images are sorted by image id and cut into shards of ``shard_size`` consecutive indices; COCO image ids are
``index + 1`` and annotation ids are assigned in (image index, rank, area) order at merge time, so the final
files depend only on the settings — not on how many processes ran, in what order, or how often it restarted.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from wsol.config.load import changed_keys
from wsol.fileio import atomic_write_json, atomic_write_text

SETTINGS_FILE = "export.json"
SHARD_DIR = "shards"
RESULTS_FILE = "results.json"
DATASET_FILE = "dataset.json"
BAD_FILE = "bad_images.jsonl"
LOCK_PREFIX = ".lock.rank"
QUALITY_FILE = "quality.json"
Record = dict[str, Any]  # one JSON object of a shard: an image entry, an annotation, a skipped image
MANAGED = (SETTINGS_FILE, SHARD_DIR, "masks", "scoremaps", RESULTS_FILE, DATASET_FILE, BAD_FILE, QUALITY_FILE)


class ExportExistsError(FileExistsError):
    """The output folder holds something this run must not overwrite (pass --overwrite)."""


def num_shards(num_images: int, shard_size: int) -> int:
    if shard_size < 1:
        raise ValueError(f"shard_size must be >= 1, got {shard_size}")
    return (num_images + shard_size - 1) // shard_size


def shard_range(shard: int, num_images: int, shard_size: int) -> range:
    """The sorted image indices of one shard."""
    return range(shard * shard_size, min((shard + 1) * shard_size, num_images))


def rank_shards(total: int, rank: int, world_size: int) -> list[int]:
    """Shards of one process: ``rank, rank + world_size, ...`` (strided, so every rank gets a similar load)."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank must be in [0, world_size={world_size}), got {rank}")
    return list(range(rank, total, world_size))


def shard_path(out_dir: Path, shard: int) -> Path:
    return Path(out_dir) / SHARD_DIR / f"shard_{shard:05d}.json"


def read_json(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: corrupt JSON at line {exc.lineno}: {exc.msg}") from None


def _is_temp(path: Path) -> bool:
    """Atomic writes in flight and the lock files: neither makes a folder hold something."""
    return path.name.startswith(".") and path.name.endswith(".tmp") or path.name.startswith(LOCK_PREFIX)


class ExportLockedError(ExportExistsError):
    """Another process is exporting into the same folder with the same rank."""


@contextlib.contextmanager
def export_lock(out_dir: str | os.PathLike[str], rank: int) -> Iterator[Path]:
    """Hold ``<out>/.lock.rank<rank>`` (an advisory ``flock``, freed by the kernel when the process ends, even
    on kill -9) for the whole export, so that two runs into one folder do not both do the full work.

    The file is removed on the way out while still locked; a process that locked a file just removed sees
    that the path no longer names its file and tries again, so two processes never both hold the lock.
    """
    import fcntl

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ExportExistsError(f"{out}: exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{LOCK_PREFIX}{rank}"
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ExportLockedError(
                f"{out}: another export (rank {rank}) is writing into this folder right now "
                f"(it holds {path.name}); wait for it to finish, or choose another --out"
            ) from None
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        os.close(fd)


def prepare_output(
    out_dir: str | os.PathLike[str], settings: dict[str, Any], overwrite: bool, clean_temp: bool = True
) -> bool:
    """Make ``out_dir`` ready; returns True when it resumes an unfinished export with the same settings.

    Hidden ``.*.tmp`` files are atomic writes in flight (another rank's) or left by a killed run: they never
    make a folder "not empty", and they are deleted only with ``clean_temp`` — which a process must not use
    while other ranks may be writing into the same folder.

    Never overwrites without ``overwrite``: a finished export, an export with other settings, or a non-empty
    folder that is not an export all raise :class:`ExportExistsError`. ``overwrite`` removes only the entries
    an export writes (listed in ``MANAGED``), never other files of the folder.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ExportExistsError(f"{out}: exists and is not a folder")
    if overwrite:
        for name in MANAGED:
            target = out / name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            elif target.exists() or target.is_symlink():
                target.unlink()
    resumed = False
    if not overwrite and out.is_dir() and any(not _is_temp(p) for p in out.iterdir()):
        if (out / RESULTS_FILE).exists():
            raise ExportExistsError(f"{out}: holds a finished export ({RESULTS_FILE}); pass --overwrite to replace it")
        if not (out / SETTINGS_FILE).exists():
            raise ExportExistsError(
                f"{out}: folder is not empty and holds no export; pass --overwrite to write "
                f"into it anyway, or choose an empty folder"
            )
        previous = read_json(out / SETTINGS_FILE)
        if previous != settings:
            changed = changed_keys(previous, settings)
            named = [c for c in changed if not c.startswith("fingerprint:")]  # the hash of the others
            changed = named or changed
            raise ExportExistsError(
                f"{out}: holds an unfinished export with other settings (differs in "
                f"{'; '.join(changed)}); rerun with the same settings to resume it, or pass "
                f"--overwrite to start again"
            )
        resumed = True
        if clean_temp:
            remove_stale_temp_files(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / SETTINGS_FILE, settings)
    return resumed


def remove_stale_temp_files(out_dir: Path) -> int:
    """Delete the ``.<name>.<random>.tmp`` files a killed run left behind in the export's folders."""
    removed = 0
    for name in ("masks", "scoremaps", SHARD_DIR):
        for path in (Path(out_dir) / name).rglob(".*.tmp"):
            path.unlink(missing_ok=True)
            removed += 1
    for path in Path(out_dir).glob(".*.tmp"):
        path.unlink(missing_ok=True)
        removed += 1
    return removed


def shard_done(out_dir: Path, shard: int, fingerprint: str) -> bool:
    """True when the shard file exists and belongs to this export (a torn or foreign file is redone)."""
    path = shard_path(out_dir, shard)
    if not path.is_file():
        return False
    try:
        return bool(read_json(path).get("fingerprint") == fingerprint)
    except (ValueError, OSError):
        return False


def write_shard(
    out_dir: Path, shard: int, fingerprint: str, images: list[Record], annotations: list[Record], bad: list[Record]
) -> Path:
    """Commit one shard: its per-image files are already written, so this file marks the shard finished."""
    path = shard_path(out_dir, shard)
    atomic_write_json(
        path,
        {"fingerprint": fingerprint, "shard": shard, "images": images, "annotations": annotations, "bad_images": bad},
        indent=None,
    )
    return path


def load_shards(out_dir: Path, total: int, fingerprint: str) -> tuple[list[Record], list[Record], list[Record]]:
    """All shards' (images, annotations, bad images) in index order; raises naming any missing shard."""
    missing = [s for s in range(total) if not shard_done(out_dir, s, fingerprint)]
    if missing:
        head = ", ".join(shard_path(out_dir, s).name for s in missing[:5])
        raise FileNotFoundError(
            f"{out_dir}: {len(missing)} of {total} shards are not finished ({head}"
            f"{', ...' if len(missing) > 5 else ''}); run the export again to complete them"
        )
    images: list[Record] = []
    anns: list[Record] = []
    bad: list[Record] = []
    for s in range(total):
        data = read_json(shard_path(out_dir, s))
        images += data["images"]
        anns += data["annotations"]
        bad += data["bad_images"]
    images.sort(key=lambda im: im["index"])
    anns.sort(key=lambda a: (a["image_index"], a["order"]))
    bad.sort(key=lambda b: b["index"])
    return images, anns, bad


def number(images: Sequence[Record], annotations: Iterable[Record]) -> tuple[list[Record], list[Record]]:
    """COCO ids: image id = sorted index + 1, annotation ids 1.. in merge order."""
    coco_images = [
        {"id": im["index"] + 1, "file_name": im["image_id"], "width": im["width"], "height": im["height"]}
        for im in images
    ]
    coco_anns = []
    for i, a in enumerate(annotations):
        ann = {k: v for k, v in a.items() if k not in ("image_index", "order", "rank")}
        coco_anns.append({"id": i + 1, "image_id": a["image_index"] + 1, **ann})
    return coco_images, coco_anns


def write_bad_images(out_dir: Path, bad: Sequence[Record]) -> None:
    """``bad_images.jsonl``: one JSON object ``{"image_id", "reason"}`` per skipped image (an empty file when
    none); JSON lines keep any file name (a newline or a tab in it) on its own line."""
    lines = [json.dumps({"image_id": b["image_id"], "reason": " ".join(str(b["reason"]).split())}) + "\n" for b in bad]
    atomic_write_text(Path(out_dir) / BAD_FILE, "".join(lines))
