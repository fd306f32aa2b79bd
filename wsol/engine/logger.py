"""TensorBoard logging (rank 0 only): scalars, the resolved config, hyper-parameters with the final metrics,
curve figures, CAM histograms and CAM + box overlays of a fixed validation batch.

Tags: ``train/*`` per-epoch averages (every epoch), ``train_step/*`` every scalar of the method's loss dict at
each ``log_every`` step, ``val/*`` validation figures (``val/loss``, ``val/fixed/*`` at the threshold chosen by the
previous validation), ``curves/*`` figures, ``cams/*`` histograms, ``diag/dead_<head>`` (see
``wsol.engine.diagnostics``), ``config`` text and the HParams dashboard entry (``hparam/*`` metrics).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from wsol.drawing import denormalize_image, make_grid, render_localization
from wsol.localization import box_iou, normalize_maps, regions_at_threshold

PREVIEW_THRESHOLD = 0.5  # CAM threshold of the preview boxes when no threshold has been chosen on val yet
MIN_PANEL = 128  # small inputs are upscaled so box captions stay readable


def _largest_box(norm_map: np.ndarray, threshold: float) -> np.ndarray:
    """(1, 4) inclusive box of the largest connected region of ``map > threshold`` (MaxBoxAcc v1's idea), or
    (0, 4) when nothing is above the threshold."""
    _, boxes, areas = regions_at_threshold(norm_map, threshold)
    return boxes[int(np.argmax(areas))][None].astype(np.float64) if len(areas) else np.zeros((0, 4))


def overlay_grid(
    model: Any,
    images: torch.Tensor,
    labels: torch.Tensor,
    ncols: int = 8,
    boxes: list[torch.Tensor] | None = None,
    threshold: float | None = None,
) -> np.ndarray:
    """Ground-truth-class maps of ``model.localize`` upsampled (bicubic) onto the de-normalised images, with the
    GT boxes (green, network-input frame, when ``boxes`` is given) and the largest region's box at ``threshold``
    (red, with its IoU against the best GT box).

    A cheap training-time preview in the input frame (one connected-components call per image); the exact
    figures come from :func:`wsol.evaluation.evaluate_model` at 224 x 224.
    """
    loc = model.localize(images, classes=labels[:, None])
    h, w = images.shape[-2:]
    scale = max(1.0, MIN_PANEL / max(h, w))
    size = (int(round(h * scale)), int(round(w * scale)))
    maps = F.interpolate(loc.maps[:, :1].float(), size=size, mode="bicubic", align_corners=False)[:, 0]
    maps = normalize_maps(maps).cpu().numpy()
    tau = PREVIEW_THRESHOLD if threshold is None else float(threshold)
    tiles = []
    for i, (img, cam) in enumerate(zip(images.cpu(), maps)):
        rgb = denormalize_image(img)
        if scale > 1:
            rgb = cv2.resize(rgb, size[::-1], interpolation=cv2.INTER_LINEAR)
        pred = _largest_box(cam, tau)
        gt = None
        if boxes is not None and len(boxes[i]):
            gt = (np.asarray(boxes[i].cpu(), np.float64).reshape(-1, 4) + 0.5) * scale - 0.5
        ious = box_iou(pred, gt).max(axis=1).tolist() if gt is not None and len(pred) else None
        tiles.append(render_localization(rgb, cam, gt, pred, ious))
    return make_grid(tiles, ncols=ncols)


class RunLogger:
    """A SummaryWriter under ``<run>/tb`` when enabled; every method is a no-op otherwise (ranks > 0)."""

    def __init__(self, out_dir: str | Path, enabled: bool = True) -> None:
        self.writer = None
        if enabled:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(log_dir=str(Path(out_dir) / "tb"))

    def scalars(self, values: dict[str, float], step: int) -> None:
        if self.writer is None:
            return
        for key, value in values.items():
            if isinstance(value, (int, float)) and np.isfinite(value):
                self.writer.add_scalar(key, value, step)

    def text(self, tag: str, text: str, step: int = 0) -> None:
        """Text shown verbatim (indented four spaces: TensorBoard renders Markdown)."""
        if self.writer is not None:
            self.writer.add_text(tag, "\n".join("    " + line for line in text.splitlines()), step)

    def figure(self, tag: str, fig: Any, step: int) -> None:
        """A matplotlib figure (closed after logging)."""
        if self.writer is not None:
            self.writer.add_figure(tag, fig, step, close=True)

    def histogram(self, tag: str, values: torch.Tensor | np.ndarray, step: int) -> None:
        if self.writer is not None and np.size(values):
            self.writer.add_histogram(tag, values, step)

    def hparams(self, params: dict[str, Any], metrics: dict[str, float]) -> None:
        """One HParams-dashboard entry in this run's own folder (not a sub-run): ``params`` as given (lists as
        text), metrics as ``hparam/<name>`` scalars so they never mix with the curves of the same name."""
        if self.writer is None:
            return
        from torch.utils.tensorboard.summary import hparams

        clean = {k: v if isinstance(v, (bool, int, float, str)) else str(v) for k, v in params.items()}
        finite = {
            f"hparam/{k}": float(v)
            for k, v in metrics.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)
        }
        for summary in hparams(clean, finite):
            self.writer.file_writer.add_summary(summary)
        for key, value in finite.items():
            self.writer.add_scalar(key, value)

    def overlays(
        self,
        model: Any,
        images: torch.Tensor,
        labels: torch.Tensor,
        step: int,
        boxes: list[torch.Tensor] | None = None,
        threshold: float | None = None,
    ) -> None:
        """Log the overlay grid of a fixed batch (``boxes``: GT boxes in the input frame, optional)."""
        if self.writer is None or images.shape[0] == 0:
            return
        grid = overlay_grid(model, images, labels, boxes=boxes, threshold=threshold)
        self.writer.add_image("val/cam_overlays", grid, step, dataformats="HWC")

    def cam_histograms(self, model: Any, images: torch.Tensor, labels: torch.Tensor, step: int) -> None:
        """Histograms of the GT-class maps of a fixed batch: raw values (their scale drifts when a head dies or
        saturates) and min-max normalised per map (the share of high values is what a threshold sees)."""
        if self.writer is None or images.shape[0] == 0:
            return
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                maps = model(images).maps.float()
        finally:
            model.train(was_training)
        maps = maps[torch.arange(len(labels), device=maps.device), labels]  # (B, h, w) of each GT class
        self.histogram("cams/raw", maps.cpu(), step)
        self.histogram("cams/normalized", normalize_maps(maps).cpu(), step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
