"""The built-in synthetic WSOL benchmark: a seeded generator that writes a real dataset in the
wsolevaluation metadata layout, with boxes and OpenImages-style masks.

Why it exists: weakly supervised localization is hard because a classifier trained with image labels
only needs the *most discriminative* part of an object (a bird's head), so its class activation map (CAM;
Zhou et al., CVPR 2016, https://arxiv.org/abs/1512.04150) covers that part and misses the rest. Methods
such as ACoL (Zhang et al., CVPR 2018, https://arxiv.org/abs/1804.06962), HaS and ADL exist to spread the
map over the whole object. This benchmark reproduces that situation in miniature, on CPU, without downloads.

Design of one image (class ``c`` of ``C``):

- **Object** = body + head. The body is a large ellipse (major axis ~40-75% of the short image side, random
  rotation) on a random, class-independent colour, modulated by a *subtle* class texture (a square wave in
  one of five flip-invariant layouts - horizontal/vertical stripes, checker, diagonal cross-hatch, grid -
  times one of three duty cycles, period 9% of the short image side; contrast ``body_contrast``): weak
  evidence spread over the whole extent. The head is a small disc at one end of the major axis
  (part/object box area ~10-15%) in a *saturated class hue* ``c / C`` with a dark complementary centre
  dot: strong, compact evidence.
- **Clutter**: a smooth random colour background; head-like discs with centre dots in unsaturated
  colours (same shape as heads, no class colour); random unsaturated rectangles, ellipses and bars; small
  patches of a random class texture without a head (a few periods of texture do not name the class).
- 1-``objects_per_image`` objects of the image's class, with non-overlapping boxes; image sizes vary
  (``size_range``, width and height independently) to exercise the rescaling conventions.

A plain CAM then fires on the head and under-covers the object. Measured with a tiny CNN + GAP + 1x1
classifier trained from scratch on the default dataset (64x64 inputs, 20 epochs, one CPU thread, training
seeds 0/1/2): top-1 82.0/94.5/96.0%, CAM MaxBoxAcc (IoU >= 0.5) 10.0/12.0/3.5%. The same network trained and
tested with the heads erased (body evidence only) reaches top-1 58.0/60.5/53.5% (chance 10%) and MaxBoxAcc
55.5/49.0/59.5%: the body evidence is learnable and localizes the object, so there is room for methods
that spread attention. (With ``body_contrast=0.25`` one of two seeds already spread the CAM: 22.5% and 61.0%.)

Ground truth per object: the tight inclusive box of its pixels (``localization.txt``),
its mask (``masks/<split>/<name>_o<k>.png``, 0/255), one ignore mask per image (a 2-px band just outside
the objects, ``..._ignore.png``; boundary pixels are ambiguous after resizing), listed in
``localization_masks.txt``; the head box goes to ``parts.txt`` so tools can check the part/object ratio.

Determinism: image ``i`` of split ``s`` is drawn from ``numpy.random.default_rng([seed, s, i])`` and
written as PNG by OpenCV, so the output is byte-for-byte identical for a seed (and independent of order).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from wsol.data import synthetic_draw as draw
from wsol.data.errors import DatasetError
from wsol.data.records import ImageRecord
from wsol.data.synthetic_config import SyntheticConfig
from wsol.data.wsoleval import write_wsoleval_split
from wsol.fileio import atomic_write_bytes, atomic_write_json, atomic_write_text

SPLITS = ("train", "val", "test")
STAMP = "metadata/synthetic.json"
GENERATOR_VERSION = 1


def class_names(cfg: SyntheticConfig) -> list[str]:
    return [f"c{c:02d}_{draw.texture_name(c)}" for c in range(cfg.num_classes)]


def _place(rng: np.random.Generator, w: int, h: int, count: int, cfg: SyntheticConfig) -> list[dict]:
    """Object geometries fully inside the image with pairwise disjoint boxes (rejection sampling; objects
    that find no room after 60 tries are dropped; the first one shrinks on each retry, so it always fits)."""
    placed: list[tuple[dict, tuple]] = []
    shrink = 1.0 / np.sqrt(count)
    for k in range(count):
        for attempt in range(60):
            a = 0.5 * rng.uniform(*cfg.object_scale) * min(w, h) * shrink
            if k == 0:  # the first object shrinks until it fits, so every image has an object
                a *= 0.93**attempt
            geom = {
                "a": a,
                "b": a * rng.uniform(0.45, 0.7),
                "phi": rng.uniform(0, 2 * np.pi),
                "r": a * cfg.part_scale * rng.uniform(0.9, 1.1),
                "cx": 0.0,
                "cy": 0.0,
            }
            x0, y0, x1, y1 = draw.object_extent(geom)
            if x1 - x0 > w - 4 or y1 - y0 > h - 4:
                continue
            dx, dy = rng.uniform(2 - x0, w - 2 - x1), rng.uniform(2 - y0, h - 2 - y1)
            geom["cx"], geom["cy"] = dx, dy
            ext = (x0 + dx, y0 + dy, x1 + dx, y1 + dy)
            if all(ext[2] < e[0] or e[2] < ext[0] or ext[3] < e[1] or e[3] < ext[1] for _, e in placed):
                placed.append((geom, ext))
                break
    return [g for g, _ in placed]


def render(cfg: SyntheticConfig, label: int, seed: list[int]) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """One image: (H,W,3) uint8 RGB, per-object boolean masks, per-object head masks."""
    rng = np.random.default_rng(seed)
    w, h = (int(v) for v in rng.integers(cfg.size_range[0], cfg.size_range[1] + 1, size=2))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    canvas = draw.background(rng, h, w)
    count = int(rng.integers(cfg.objects_per_image[0], cfg.objects_per_image[1] + 1))
    geoms = _place(rng, w, h, count, cfg)
    if not geoms:
        raise RuntimeError(f"no object fits an image of {w}x{h}; lower object_scale")
    draw.draw_distractors(rng, canvas, xx, yy, float(np.mean([g["r"] for g in geoms])), cfg)
    masks, heads = [], []
    for geom in geoms:
        m, hd = draw.draw_object(rng, canvas, xx, yy, label, geom, cfg)
        masks.append(m)
        heads.append(hd)
    canvas += rng.normal(0.0, cfg.noise_std, size=canvas.shape).astype(np.float32)
    image = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
    return image, masks, heads


def _png(array: np.ndarray) -> bytes:
    """PNG bytes; low zlib levels: noisy images barely compress further and binary masks compress anyway."""
    level = 3 if array.ndim == 3 else 1
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", array, [cv2.IMWRITE_PNG_COMPRESSION, level])
    if not ok:
        raise OSError("PNG encoding failed")
    return buf.tobytes()


def _write_split(out: Path, split: str, split_index: int, cfg: SyntheticConfig, names: list[str]) -> None:
    records, parts = [], {}
    n = cfg.per_class(split)
    ring = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    for i in tqdm(range(n * cfg.num_classes), desc=f"synthetic {split}", leave=False, disable=None):
        label = i % cfg.num_classes
        stem = f"{split}_{i:05d}"
        image_id = f"images/{split}/{names[label]}/{stem}.png"
        image, masks, heads = render(cfg, label, [cfg.seed, split_index, i])
        atomic_write_bytes(out / image_id, _png(image))
        mask_paths = []
        for k, m in enumerate(masks):
            mask_paths.append(f"masks/{split}/{stem}_o{k}.png")
            atomic_write_bytes(out / mask_paths[-1], _png(m.astype(np.uint8) * 255))
        fg = np.any(masks, axis=0)
        band = (cv2.dilate(fg.astype(np.uint8), ring) > 0) & ~fg
        ignore = f"masks/{split}/{stem}_ignore.png"
        atomic_write_bytes(out / ignore, _png(band.astype(np.uint8) * 255))
        boxes = np.asarray([draw.mask_box(m) for m in masks], np.float32)
        parts[image_id] = np.asarray([draw.mask_box(hd) for hd in heads], np.float32)
        records.append(ImageRecord(image_id, label, (image.shape[1], image.shape[0]), boxes, tuple(mask_paths), ignore))
    write_wsoleval_split(out, split, records, parts)


def _check_target(out: Path, cfg: SyntheticConfig, overwrite: bool) -> None:
    """Refuse to write into a non-empty folder holding anything but this same dataset, unless overwrite."""
    if not out.exists() or not any(out.iterdir()):
        return
    stamp = out / STAMP
    same = False
    if stamp.is_file():
        try:
            same = json.loads(stamp.read_text())["config"] == cfg.to_dict()
        except (ValueError, KeyError):
            same = False
    if same:
        return
    if not overwrite:
        raise DatasetError(
            f"{out}: folder is not empty and does not hold this synthetic dataset (config or "
            f"generator differ); pass overwrite=True (--overwrite) to replace it"
        )
    for sub in ("images", "masks", "metadata"):
        shutil.rmtree(out / sub, ignore_errors=True)


def generate(out_dir: str | os.PathLike, cfg: SyntheticConfig | None = None, overwrite: bool = False) -> Path:
    """Write the benchmark to ``out_dir`` (images/, masks/, metadata/<split>/ for train, val, test) and
    return it. Regenerating the same config into the same folder rewrites identical bytes."""
    cfg = cfg or SyntheticConfig()
    out = Path(out_dir)
    _check_target(out, cfg, overwrite)
    names = class_names(cfg)
    for s, split in enumerate(SPLITS):
        _write_split(out, split, s, cfg, names)
    atomic_write_text(out / "metadata" / "class_names.txt", "".join(f"{n}\n" for n in names))
    atomic_write_json(
        out / STAMP, {"generator": "wsol.data.synthetic", "version": GENERATOR_VERSION, "config": cfg.to_dict()}
    )
    return out


def render_preview(
    root: str | os.PathLike, split: str = "train", count: int = 10, cell: int = 120, ncols: int = 5
) -> np.ndarray:
    """Grid of the first ``count`` images of a split with GT boxes (green), part boxes (red) and mask
    contours (cyan), each resized to ``cell`` x ``cell``."""
    from wsol.data.dataset import WSOLDataset
    from wsol.data.formats import load_split
    from wsol.drawing import GT_COLOR, PRED_COLOR, draw_boxes, draw_mask_contours, make_grid

    info = load_split(root, split, fmt="wsolevaluation")
    ds = WSOLDataset(info)
    parts = info.extras.get("parts", {})
    first: dict[int, list[int]] = {}
    for idx, rec in enumerate(info.records):  # round-robin over classes so every class shows up
        first.setdefault(rec.label, []).append(idx)
    order = [
        ids[k]
        for k in range(max(map(len, first.values()), default=0))
        for _, ids in sorted(first.items())
        if k < len(ids)
    ]
    tiles = []
    for idx in order[:count]:
        image, mask = ds.load_raw(idx)
        rec = info.records[idx]
        w, h = rec.size
        scale = np.array([cell / w, cell / h, cell / w, cell / h])
        tile = cv2.resize(image, (cell, cell), interpolation=cv2.INTER_AREA)
        if mask is not None:
            tile = draw_mask_contours(tile, cv2.resize(mask, (cell, cell), interpolation=cv2.INTER_NEAREST))
        tile = draw_boxes(tile, rec.boxes * scale, GT_COLOR)
        tile = draw_boxes(tile, parts.get(rec.image_id, np.zeros((0, 4))) * scale, PRED_COLOR)
        tiles.append(tile)
    return make_grid(tiles, ncols=ncols)
