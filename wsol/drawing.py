"""Drawing on images (uint8 RGB arrays in, uint8 RGB arrays out): class-map overlays, boxes, mask contours, grids.
A base module (numpy, OpenCV, torch only) so that data (synthetic preview), engine (TensorBoard) and viz share it.

Colours: GT boxes green, predicted boxes red (with their IoU), mask contours cyan. Captions sit on a filled box
of their colour (readable on a red heat map too), shrink and wrap to stay inside their tile. Everything is drawn
with OpenCV on copies; inputs are never modified.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch

from wsol.fileio import atomic_write_bytes

GT_COLOR = (0, 200, 0)
PRED_COLOR = (230, 30, 30)
MASK_COLOR = (0, 220, 220)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def denormalize_image(
    image: torch.Tensor, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD
) -> np.ndarray:
    """(3,H,W) normalised tensor → (H,W,3) uint8 RGB, undoing ``(x - mean) / std``."""
    img = image.detach().float().cpu()
    img = img * torch.tensor(std).view(3, 1, 1) + torch.tensor(mean).view(3, 1, 1)
    return (img.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()


def heatmap_overlay(image: np.ndarray, cam: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend a [0,1] map (any size; resized bilinearly) onto an RGB image with the JET colour map."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be (H,W,3) uint8 RGB, got {image.shape} {image.dtype}")
    cam = np.asarray(cam, dtype=np.float32)
    if cam.ndim != 2:
        raise ValueError(f"cam must be 2-D, got shape {cam.shape}")
    if not np.isfinite(cam).all():
        raise ValueError("cam contains NaN or inf")
    h, w = image.shape[:2]
    if cam.shape != (h, w):
        cam = cv2.resize(cam, (w, h), interpolation=cv2.INTER_LINEAR)
    heat = cv2.applyColorMap((np.clip(cam, 0, 1) * 255).astype(np.uint8), cv2.COLORMAP_JET)
    heat = cv2.cvtColor(heat, cv2.COLOR_BGR2RGB)
    return cv2.addWeighted(image, 1 - alpha, heat, alpha, 0)


def draw_boxes(
    image: np.ndarray,
    boxes: np.ndarray | torch.Tensor,
    color: tuple[int, int, int],
    texts: Sequence[str] | None = None,
    thickness: int = 1,
) -> np.ndarray:
    """Draw xyxy boxes (pixels of ``image``) with optional captions; returns a new image."""
    out = np.ascontiguousarray(image.copy())
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    for i, (x0, y0, x1, y1) in enumerate(np.round(boxes).astype(int)):
        cv2.rectangle(out, (int(x0), int(y0)), (int(x1), int(y1)), color, thickness)
        if texts is not None and texts[i]:
            put_label(out, texts[i], (int(x0) + 1, int(y0) + 1), color)
    return out


FONT = cv2.FONT_HERSHEY_SIMPLEX
LABEL_SCALES = (0.35, 0.32, 0.29, 0.26, 0.23)  # tried in order until the caption fits its tile
LABEL_PAD = 2
CAPTION_LINES, CAPTION_SHARE = 2, 0.3  # a caption may wrap once and cover at most 30% of its tile


def _text_width(text: str, scale: float) -> int:
    return cv2.getTextSize(text, FONT, scale, 1)[0][0]


def _wrap(text: str, scale: float, width: int) -> list[str]:
    """Greedy wrap to ``width`` px at spaces and after ``>`` (``gt>pred`` captions); a piece wider than a line is
    broken between characters."""
    lines: list[str] = []
    for word in text.split():
        for k, piece in enumerate(re.split(r"(?<=>)", word)):
            if not piece:
                continue
            while len(piece) > 1 and _text_width(piece, scale) > width:
                cut = 1
                while cut < len(piece) - 1 and _text_width(piece[: cut + 1], scale) <= width:
                    cut += 1
                lines.append(piece[:cut])
                piece = piece[cut:]
            joined = f"{lines[-1]}{'' if k else ' '}{piece}" if lines else piece
            if lines and _text_width(joined, scale) <= width:
                lines[-1] = joined
            else:
                lines.append(piece)
    return lines or [""]


def caption_layout(text: str, width: int, height: int) -> tuple[float, list[str], int]:
    """(font scale, lines, line height in px) of a caption inside a ``width`` × ``height`` px tile: the largest
    scale (``LABEL_SCALES``, led by ``min(width, height) / 380`` up to 0.45 on big tiles) at which the text wrapped
    to the tile width takes at most ``CAPTION_LINES`` lines and ``CAPTION_SHARE`` of the tile height; else the
    smallest scale, wrapped (every character is kept)."""
    inner = max(width - 2 * LABEL_PAD - 2, 1)
    top = min(round(min(width, height) / 380, 2), 0.45)  # bigger tiles (160 px thumbnails) get bigger captions
    scales = ((top,) if top > LABEL_SCALES[0] else ()) + LABEL_SCALES
    for scale in scales:
        lines = _wrap(text, scale, inner)
        if len(lines) <= CAPTION_LINES and len(lines) * _line_height(scale) + LABEL_PAD <= CAPTION_SHARE * height:
            return scale, lines, _line_height(scale)
    scale = LABEL_SCALES[-1]
    return scale, _wrap(text, scale, inner), _line_height(scale)


def _line_height(scale: float) -> int:
    (_, h), base = cv2.getTextSize("Hg", FONT, scale, 1)
    return h + base + 1


def put_label(
    image: np.ndarray, text: str, origin: tuple[int, int], color: tuple[int, int, int], anchor: str = "top"
) -> tuple[int, int, int, int]:
    """Caption on a filled box of ``color`` (text black or white, whichever contrasts more), drawn once, in
    place; readable on any heat-map colour. ``origin`` is the box's top-left corner (``anchor="top"``) or
    bottom-left corner (``"bottom"``). The box is shifted, the text shrunk and wrapped (:func:`caption_layout`)
    so that it stays inside the image. Returns the box (x0, y0, x1, y1), inclusive."""
    h, w = image.shape[:2]
    scale, lines, line_h = caption_layout(text, w, h)
    box_w = max(_text_width(line, scale) for line in lines) + 2 * LABEL_PAD
    box_h = len(lines) * line_h + LABEL_PAD
    x0 = int(min(max(origin[0], 0), max(w - box_w, 0)))
    y0 = origin[1] if anchor == "top" else origin[1] - box_h
    y0 = int(min(max(y0, 0), max(h - box_h, 0)))
    x1, y1 = min(x0 + box_w, w) - 1, min(y0 + box_h, h) - 1
    cv2.rectangle(image, (x0, y0), (x1, y1), color, cv2.FILLED)
    luminance = 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2]
    ink = (0, 0, 0) if luminance > 140 else (255, 255, 255)
    base = cv2.getTextSize("Hg", FONT, scale, 1)[1]
    for k, line in enumerate(lines):
        cv2.putText(image, line, (x0 + LABEL_PAD, y0 + (k + 1) * line_h - base), FONT, scale, ink, 1, cv2.LINE_AA)
    return x0, y0, x1, y1


def draw_mask_contours(image: np.ndarray, mask: np.ndarray, color: tuple[int, int, int] = MASK_COLOR) -> np.ndarray:
    """Outline the foreground (value 1) of a 0/1/255 mask; resized by nearest neighbour if needed."""
    mask = np.asarray(mask)
    h, w = image.shape[:2]
    if mask.shape != (h, w):
        mask = cv2.resize(mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)
    fg = (mask == 1).astype(np.uint8)
    contours, _ = cv2.findContours(fg, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    out = np.ascontiguousarray(image.copy())
    cv2.drawContours(out, contours, -1, color, 1)
    return out


def render_localization(
    image: np.ndarray,
    cam: np.ndarray | None = None,
    gt_boxes: np.ndarray | None = None,
    pred_boxes: np.ndarray | None = None,
    ious: Sequence[float] | None = None,
    mask: np.ndarray | None = None,
    title: str | None = None,
) -> np.ndarray:
    """One panel: heatmap + GT boxes (green) + predicted boxes (red, with IoU) + mask contour + title."""
    out = heatmap_overlay(image, cam) if cam is not None else image.copy()
    if mask is not None:
        out = draw_mask_contours(out, mask)
    if gt_boxes is not None:
        out = draw_boxes(out, gt_boxes, GT_COLOR)
    if pred_boxes is not None:
        texts = [f"{v:.2f}" for v in ious] if ious is not None else None
        out = draw_boxes(out, pred_boxes, PRED_COLOR, texts)
    if title:
        put_label(out, title, (0, out.shape[0]), (255, 255, 255), anchor="bottom")
    return out


def make_grid(images: Sequence[np.ndarray], ncols: int = 8, pad: int = 2, fill: int = 255) -> np.ndarray:
    """Tile equally sized (H,W,3) images row by row with ``pad`` pixels of ``fill`` between them."""
    if not images:
        raise ValueError("make_grid needs at least one image")
    h, w = images[0].shape[:2]
    if any(img.shape[:2] != (h, w) for img in images):
        raise ValueError("make_grid needs images of one size; resize them first")
    ncols = min(ncols, len(images))
    nrows = -(-len(images) // ncols)
    grid = np.full((nrows * (h + pad) + pad, ncols * (w + pad) + pad, 3), fill, np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, ncols)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        grid[y : y + h, x : x + w] = img
    return grid


def save_png(path: str | Path, image: np.ndarray) -> Path:
    """Write an RGB (or grey) uint8 image as PNG atomically."""
    arr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    ok, buf = cv2.imencode(".png", arr)
    if not ok:
        raise OSError(f"could not encode PNG for {path}")
    atomic_write_bytes(path, buf.tobytes())
    return Path(path)
