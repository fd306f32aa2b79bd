"""A picture of a checkpoint's localization on a split: one panel per image, a few images of every class.

Each panel shows the image in the evaluation frame resized to ``panel`` px with the GT-class map (heatmap), GT
boxes (green), the MaxBoxAcc box at the given threshold (red, with the IoU the evaluator counts) and the mask
outline when the split has masks. The caption is ``gt>predicted`` class and the failure category
(:mod:`wsol.viz.taxonomy`).
"""

from __future__ import annotations

from pathlib import Path

from wsol.drawing import make_grid, save_png


def _pick_indices(labels: list[int], count: int) -> list[int]:
    """Round-robin over classes so every class shows up, in dataset order within a class."""
    by_class: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        by_class.setdefault(label, []).append(i)
    picked: list[int] = []
    queues = [list(v) for _, v in sorted(by_class.items())]
    while len(picked) < count and any(queues):
        for q in queues:
            if q and len(picked) < count:
                picked.append(q.pop(0))
    return picked


def render_gallery(
    checkpoint: str | Path,
    data_root: str | Path,
    split: str,
    threshold: float,
    out_png: str | Path,
    count: int = 24,
    panel: int = 160,
    device: str = "cpu",
) -> Path:
    """Draw ``count`` images (a few of every class) with their maps and boxes into one PNG grid; returns its path.

    Boxes and IoUs are the evaluator's (MaxBoxAcc v1 box at the threshold snapped to the evaluation grid, see
    :mod:`wsol.viz.per_image`); captions are ``gt>predicted class`` and the failure category.
    """
    from wsol.viz.per_image import render_panels
    from wsol.viz.source import open_source

    source = open_source(checkpoint, data_root, split, device)
    indices = _pick_indices([r.label for r in source.info.records], count)
    return save_png(out_png, make_grid(render_panels(source, indices, threshold, panel), ncols=8))
