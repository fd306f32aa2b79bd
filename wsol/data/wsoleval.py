"""Reader and writer of the wsolevaluation metadata layout (Choe et al., CVPR 2020, https://arxiv.org/abs/2001.07437).

``root/metadata/<split>/`` holds, one record per line, comma separated, image ids relative to ``root``:

- ``image_ids.txt``: ``<image_id>``
- ``class_labels.txt``: ``<image_id>,<class index, 0-based>``
- ``image_sizes.txt``: ``<image_id>,<width>,<height>``
- ``localization.txt``: either boxes (CUB, ILSVRC): ``<image_id>,<x0>,<y0>,<x1>,<y1>``, one line per box, or
  masks (OpenImages30k): ``<image_id>,<mask_path>,<ignore_path>``, one line per instance mask, the ignore
  path given on the image's first line only (empty on the others); mask paths are relative to the mask root.
- ``localization_masks.txt`` (this toolkit's extension, written by the synthetic benchmark): the mask format
  above, so one split can carry boxes in ``localization.txt`` and masks at the same time.
- ``parts.txt`` (synthetic benchmark only): the box format, one line per object: its discriminative part.

``root/metadata/class_names.txt`` (or ``root/class_names.txt``), optional: line ``i`` names class ``i``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from wsol.data.errors import DatasetError, check_box, where
from wsol.data.records import ImageRecord
from wsol.data.split import SplitInfo
from wsol.fileio import atomic_write_text, input_path

BOX_FILE = "localization.txt"
MASK_FILE = "localization_masks.txt"
PART_FILE = "parts.txt"


def iter_lines(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(1-based line number, comma-separated fields) of every non-empty line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(f"{path}: metadata file is missing") from None
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: metadata file is not UTF-8 text ({exc})") from exc
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read metadata file ({exc.strerror})") from None
    for lineno, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if line:
            yield lineno, [f.strip() for f in line.split(",")]


def _number(text: str, at: str, what: str, integer: bool = False) -> float:
    try:
        return int(text) if integer else float(text)
    except ValueError:
        kind = "an integer" if integer else "a number"
        raise DatasetError(f"{at}: {what} {text!r} is not {kind}") from None


def read_class_names(root: Path) -> list[str] | None:
    for path in (root / "metadata" / "class_names.txt", root / "class_names.txt"):
        if path.is_file():
            names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
            while names and not names[-1]:
                names.pop()
            if not all(names):
                raise DatasetError(
                    f"{path}: empty class name at line {names.index('') + 1}; expected one name per line"
                )
            return names
    return None


def _max_label(root: Path) -> int:
    """Largest class index over every split's class_labels.txt (the class count when no names are given)."""
    best = -1
    for labels in sorted((root / "metadata").glob("*/class_labels.txt")):
        for _, fields in iter_lines(labels):
            if len(fields) == 2 and fields[1].lstrip("-").isdigit():
                best = max(best, int(fields[1]))
    return best


def read_box_file(
    path: Path, sizes: dict[str, tuple[int, int]], ids: dict[str, int] | None = None
) -> dict[str, list[tuple[float, ...]]]:
    """Parse a box-format listing; every image id must be known (in ``ids``, default ``sizes``), have a size
    (boxes are rescaled with it) and every box must lie inside the image."""
    boxes: dict[str, list[tuple[float, ...]]] = {}
    for lineno, fields in iter_lines(path):
        at = where(path, lineno)
        if len(fields) != 5:
            raise DatasetError(f"{at}: expected 5 fields <image_id>,<x0>,<y0>,<x1>,<y1>, got {len(fields)}")
        image_id = fields[0]
        if image_id not in (sizes if ids is None else ids):
            raise DatasetError(f"{at}: image id {image_id!r} is not listed in image_ids.txt")
        if image_id not in sizes:
            raise DatasetError(
                f"{at}: image {image_id!r} has a box but no line in image_sizes.txt; expected "
                f"<image_id>,<width>,<height> there (boxes are rescaled with the image size)"
            )
        box = tuple(_number(v, at, name) for v, name in zip(fields[1:], ("x0", "y0", "x1", "y1")))
        check_box(box, sizes[image_id], at)
        boxes.setdefault(image_id, []).append(box)
    return boxes


def read_mask_file(path: Path, ids: set[str]) -> tuple[dict[str, list[str]], dict[str, str | None]]:
    masks: dict[str, list[str]] = {}
    ignores: dict[str, str | None] = {}
    for lineno, fields in iter_lines(path):
        at = where(path, lineno)
        if len(fields) != 3 or not fields[1]:
            raise DatasetError(
                f"{at}: expected 3 fields <image_id>,<mask_path>,<ignore_path> (ignore may be empty), got {fields}"
            )
        image_id, mask_path, ignore_path = fields
        if image_id not in ids:
            raise DatasetError(f"{at}: image id {image_id!r} is not listed in image_ids.txt")
        if image_id in masks and ignore_path:
            raise DatasetError(
                f"{at}: a second ignore mask for {image_id!r}; expected the ignore path only on the image's first line"
            )
        masks.setdefault(image_id, []).append(mask_path)
        ignores.setdefault(image_id, ignore_path or None)
    return masks, ignores


def _localization_kind(path: Path) -> str:
    """'boxes' or 'masks', decided by the first line's field count (an empty file means no boxes)."""
    for lineno, fields in iter_lines(path):
        if len(fields) not in (3, 5):
            raise DatasetError(
                f"{where(path, lineno)}: expected 5 fields <image_id>,<x0>,<y0>,<x1>,<y1> (boxes) "
                f"or 3 fields <image_id>,<mask_path>,<ignore_path> (masks), got {len(fields)}"
            )
        return "boxes" if len(fields) == 5 else "masks"
    return "boxes"


def find_split_folder(metadata_root: str | os.PathLike, split: str) -> Path:
    """The folder holding ``image_ids.txt`` of ``split``: ``<root>/<split>``, ``<root>/metadata/<split>`` or
    ``<root>`` itself (wsolevaluation's ``metadata/<dataset>/<split>`` is the first form)."""
    root = Path(metadata_root)
    for candidate in (root / split, root / "metadata" / split, root):
        if (candidate / "image_ids.txt").is_file():
            return candidate
    raise DatasetError(
        f"{root}: no image_ids.txt under {root / split}, {root / 'metadata' / split} or {root}; "
        f"expected wsolevaluation's metadata layout"
    )


def read_wsoleval_split(root: str | os.PathLike, split: str, mask_root: str | os.PathLike | None = None) -> SplitInfo:
    """Read ``root/metadata/<split>``; masks are looked up under ``mask_root`` (default ``root``)."""
    root = Path(root)
    meta = root / "metadata" / split
    if not meta.is_dir():
        known = sorted(p.name for p in (root / "metadata").glob("*") if p.is_dir())
        raise DatasetError(f"{meta}: split folder is missing; known splits: {known}")
    names = read_class_names(root)
    num_classes = len(names) if names is not None else _max_label(root) + 1
    return read_wsoleval_folder(meta, root, mask_root, num_classes, names, split)


def read_wsoleval_folder(
    meta: str | os.PathLike,
    image_root: str | os.PathLike,
    mask_root: str | os.PathLike | None = None,
    num_classes: int | None = None,
    class_names: list[str] | None = None,
    name: str | None = None,
) -> SplitInfo:
    """Read one split folder (``image_ids.txt``, ``class_labels.txt``, ``image_sizes.txt``, ``localization.txt``).

    ``num_classes`` bounds the labels (default: the largest label of this split + 1). ``image_sizes.txt`` may be
    empty or absent for a split without boxes (wsolevaluation ships OpenImages so): sizes are then (0, 0),
    unknown, and masks are checked against each other instead of against the image size.
    """
    meta = Path(meta)
    ids_path = meta / "image_ids.txt"
    id_lines = _read_ids(ids_path, Path(image_root))
    ids = list(id_lines)
    labels = _read_labels(meta / "class_labels.txt", id_lines, num_classes)
    if num_classes is None:
        num_classes = max(labels.values(), default=-1) + 1
    sizes_path = meta / "image_sizes.txt"
    sizes = _read_sizes(sizes_path, id_lines) if sizes_path.is_file() else {}
    tables = [(labels, meta / "class_labels.txt")] + ([(sizes, sizes_path)] if sizes else [])
    for image_id in ids:
        for table, path in tables:
            if image_id not in table:
                raise DatasetError(f"{where(ids_path, id_lines[image_id])}: image {image_id!r} has no line in {path}")
    boxes: dict = {}
    masks: dict = {}
    ignores: dict = {}
    loc = meta / BOX_FILE
    if loc.is_file():
        kind = _localization_kind(loc)
        if kind == "masks":
            masks, ignores = read_mask_file(loc, set(ids))
        else:
            boxes = read_box_file(loc, sizes, id_lines)
    if (meta / MASK_FILE).is_file():
        masks, ignores = read_mask_file(meta / MASK_FILE, set(ids))
    records = [
        ImageRecord(
            image_id=i,
            label=labels[i],
            size=sizes.get(i, (0, 0)),
            boxes=np.asarray(boxes.get(i, []), dtype=np.float32).reshape(-1, 4),
            mask_paths=tuple(masks.get(i, ())),
            ignore_path=ignores.get(i),
        )
        for i in ids
    ]
    extras = {}
    if (meta / PART_FILE).is_file():
        parts = read_box_file(meta / PART_FILE, sizes, id_lines)
        extras["parts"] = {k: np.asarray(v, np.float32) for k, v in parts.items()}
    image_root = Path(image_root)
    return SplitInfo(
        records=records,
        image_root=image_root,
        mask_root=Path(mask_root) if mask_root else (image_root if masks else None),
        class_names=class_names if class_names is not None else [str(c) for c in range(num_classes)],
        num_classes=num_classes,
        name=name or meta.name,
        fmt="wsolevaluation",
        origins=[where(ids_path, id_lines[i]) for i in ids],
        extras=extras,
    )


def _read_ids(path: Path, root: Path) -> dict[str, int]:
    """image id → line number, in file order; ids must be unique and stay inside ``root``."""
    id_lines: dict[str, int] = {}
    for lineno, fields in iter_lines(path):
        image_id = ",".join(fields)
        if len(fields) != 1:
            raise DatasetError(f"{where(path, lineno)}: expected one image id per line, got {fields}")
        if image_id in id_lines:
            raise DatasetError(f"{where(path, lineno)}: image id {image_id!r} repeats line {id_lines[image_id]}")
        try:
            input_path(root, image_id)
        except ValueError as exc:
            raise DatasetError(f"{where(path, lineno)}: {exc}") from None
        id_lines[image_id] = lineno
    return id_lines


def _check_entry(
    path: Path, lineno: int, fields: list[str], n: int, spec: str, id_lines: dict[str, int], seen: dict[str, int]
) -> str:
    """Common checks of a per-image line: field count, known id, no second line for the same image."""
    at = where(path, lineno)
    if len(fields) != n:
        raise DatasetError(f"{at}: expected {n} fields {spec}, got {len(fields)}")
    if not all(fields):
        raise DatasetError(f"{at}: empty field in {','.join(fields)!r}; expected {n} fields {spec}")
    if fields[0] not in id_lines:
        raise DatasetError(f"{at}: image id {fields[0]!r} is not listed in image_ids.txt")
    if fields[0] in seen:
        raise DatasetError(f"{at}: image id {fields[0]!r} is listed twice (also at line {seen[fields[0]]})")
    seen[fields[0]] = lineno
    return at


def _read_labels(path: Path, id_lines: dict[str, int], num_classes: int | None) -> dict[str, int]:
    labels: dict[str, int] = {}
    seen: dict[str, int] = {}
    for lineno, fields in iter_lines(path):
        at = _check_entry(path, lineno, fields, 2, "<image_id>,<class_index>", id_lines, seen)
        label = int(_number(fields[1], at, "class index", integer=True))
        if label < 0 or (num_classes is not None and label >= num_classes):
            bound = "a non-negative index" if num_classes is None else f"an index in [0, {num_classes})"
            raise DatasetError(f"{at}: unknown class id {label}; expected {bound}")
        labels[fields[0]] = label
    return labels


def _read_sizes(path: Path, id_lines: dict[str, int]) -> dict[str, tuple[int, int]]:
    sizes: dict[str, tuple[int, int]] = {}
    seen: dict[str, int] = {}
    for lineno, fields in iter_lines(path):
        at = _check_entry(path, lineno, fields, 3, "<image_id>,<width>,<height>", id_lines, seen)
        w = int(_number(fields[1], at, "width", integer=True))
        h = int(_number(fields[2], at, "height", integer=True))
        if w <= 0 or h <= 0:
            raise DatasetError(f"{at}: image size {w}x{h} is not positive")
        sizes[fields[0]] = (w, h)
    return sizes


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def write_wsoleval_split(
    root: str | os.PathLike,
    split: str,
    records: Iterable[ImageRecord],
    parts: dict[str, np.ndarray] | None = None,
) -> Path:
    """Write ``root/metadata/<split>/`` for ``records`` (atomically per file): boxes go to localization.txt,
    masks (if any record has them) to localization_masks.txt, part boxes to parts.txt."""
    records = list(records)
    meta = Path(root) / "metadata" / split
    ids = [r.image_id for r in records]
    atomic_write_text(meta / "image_ids.txt", "".join(f"{i}\n" for i in ids))
    atomic_write_text(meta / "class_labels.txt", "".join(f"{r.image_id},{r.label}\n" for r in records))
    atomic_write_text(meta / "image_sizes.txt", "".join(f"{r.image_id},{r.size[0]},{r.size[1]}\n" for r in records))
    box_lines = [f"{r.image_id}," + ",".join(map(_fmt, b)) + "\n" for r in records for b in r.boxes]
    atomic_write_text(meta / BOX_FILE, "".join(box_lines))
    if any(r.has_mask for r in records):
        mask_lines = [
            f"{r.image_id},{m},{(r.ignore_path or '') if k == 0 else ''}\n"
            for r in records
            for k, m in enumerate(r.mask_paths)
        ]
        atomic_write_text(meta / MASK_FILE, "".join(mask_lines))
    if parts is not None:
        part_lines = [f"{i}," + ",".join(map(_fmt, b)) + "\n" for i in ids for b in parts.get(i, [])]
        atomic_write_text(meta / PART_FILE, "".join(part_lines))
    return meta
