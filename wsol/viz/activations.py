"""Per-channel activation grids of one layer: what each feature map of a chosen layer responds to.

For an image the layer's output ``A`` (C, h, w) is captured with a forward hook; every channel is min–max
normalised on its own, ``(A_c - min A_c) / (max A_c - min A_c)`` (a constant channel, e.g. a dead ReLU, is
all zeros and says so), upsampled to a tile and laid out in a grid after the input image. Tiles are
nearest-neighbour upsampled by default so the true resolution of the layer stays visible. Looking at layer
activations is one of the classic ways to see inside a CNN (Yosinski et al., "Understanding Neural Networks
Through Deep Visualization", ICML DL workshop 2015, https://arxiv.org/abs/1506.06579).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import Tensor, nn

from wsol.cams.hooks import LayerCapture, model_mode
from wsol.drawing import denormalize_image, heatmap_overlay, make_grid

LABEL_BG = (20, 20, 20)
LABEL_FG = (255, 255, 255)
CAPTION_HEIGHT = 14


def capture_activations(model: nn.Module, images: Tensor, layer: str) -> Tensor:
    """(B, C, h, w) output of ``layer`` for ``images``: eval mode, no gradients, hooks removed, flags restored."""
    device = next(model.parameters()).device
    with model_mode(model, "eval"), torch.no_grad(), LayerCapture(model, [layer]) as capture:
        model(images.to(device))
        (acts,) = capture.activations()
    return acts.detach().float().cpu()


def parse_channels(spec: Sequence[str] | None, num_channels: int, flag: str = "--channels") -> list[int] | None:
    """``["0-3,7", "9"]`` → ``[0, 1, 2, 3, 7, 9]``; None when no spec. Out-of-range indices name the flag."""
    if not spec:
        return None
    out: list[int] = []
    for part in ",".join(spec).split(","):
        part = part.strip()
        if not part:
            continue
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if m is None:
            raise ValueError(f"{flag}: cannot read {part!r}; expected channel indices and ranges like '0-7,12'")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if hi < lo or hi >= num_channels:
            raise ValueError(f"{flag}: {part!r} is outside the layer's channels 0..{num_channels - 1}")
        out.extend(range(lo, hi + 1))
    return list(dict.fromkeys(out))


def select_channels(
    acts: Tensor, channels: Sequence[int] | None = None, num_channels: int | None = None, sort_by_mean: bool = False
) -> list[int]:
    """Channels to show for activations (B, C, h, w): explicit ones, else the first / most active ``num``.

    ``sort_by_mean`` orders them by mean activation over the images and positions, highest first.
    """
    c = acts.shape[1]
    chosen = list(channels) if channels is not None else list(range(c))
    if any(not 0 <= ch < c for ch in chosen):
        raise ValueError(f"channels must be in 0..{c - 1}, got {chosen}")
    if sort_by_mean:
        means = acts.mean(dim=(0, 2, 3))[chosen]
        order = torch.sort(means, descending=True, stable=True).indices.tolist()
        chosen = [chosen[i] for i in order]
    if num_channels is not None and num_channels > 0:
        chosen = chosen[:num_channels]
    return chosen


def normalize_channels(maps: Tensor) -> Tensor:
    """Min–max normalise each (h, w) map of (C, h, w) on its own; constant maps become zeros."""
    flat = maps.flatten(1).float()
    low, high = flat.amin(1, keepdim=True), flat.amax(1, keepdim=True)
    span = high - low
    out = torch.where(span > 0, (flat - low) / span.clamp_min(torch.finfo(torch.float32).tiny), 0.0)
    return out.view_as(maps)


def caption(tile: np.ndarray, text: str, height: int = CAPTION_HEIGHT, scale: float = 0.36) -> np.ndarray:
    """The tile with a dark band below it holding ``text`` (cut to fit), so labels never hide the map."""
    band = np.full((height, tile.shape[1], 3), LABEL_BG, np.uint8)
    while text and cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] > tile.shape[1] - 4:
        text = text[:-1]
    cv2.putText(band, text, (2, height - 4), cv2.FONT_HERSHEY_SIMPLEX, scale, LABEL_FG, 1, cv2.LINE_AA)
    return np.concatenate([tile, band], axis=0)


def header(width: int, text: str, scale: float = 0.45, line: int = 18) -> np.ndarray:
    """A white band with dark text, wrapped at word boundaries to ``width``, to title a picture."""
    lines: list[str] = []
    for word in text.split():
        trial = f"{lines[-1]} {word}" if lines else word
        if lines and cv2.getTextSize(trial, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] <= width - 8:
            lines[-1] = trial
        else:
            lines.append(word)
    band = np.full((line * len(lines) + 4, width, 3), 255, np.uint8)
    for n, text_line in enumerate(lines):
        cv2.putText(
            band, text_line, (4, line * (n + 1) - 3), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA
        )
    return band


def colorize(norm: np.ndarray, size: int, smooth: bool = False) -> np.ndarray:
    """A [0,1] map → (size, size, 3) uint8 RGB tile with the viridis colour map."""
    interp = cv2.INTER_LINEAR if smooth else cv2.INTER_NEAREST
    grey = np.clip(cv2.resize(norm.astype(np.float32), (size, size), interpolation=interp), 0, 1) * 255
    return cv2.cvtColor(cv2.applyColorMap(grey.astype(np.uint8), cv2.COLORMAP_VIRIDIS), cv2.COLOR_BGR2RGB)


def activation_grid(
    image: Tensor,
    acts: Tensor,
    channels: Sequence[int],
    tile: int = 96,
    ncols: int | None = None,
    smooth: bool = False,
    overlay: bool = False,
    title: str = "input",
) -> np.ndarray:
    """One image (3,H,W normalised) and its activations (C,h,w): the input first, then one tile per channel.

    Each tile's caption holds the channel index and the channel's raw maximum (``max 0``: a dead channel).
    ``overlay`` blends the normalised map onto the image instead of showing it alone.
    """
    rgb = cv2.resize(denormalize_image(image), (tile, tile), interpolation=cv2.INTER_AREA)
    chosen = acts[list(channels)]
    norm = normalize_channels(chosen).numpy()
    highs = chosen.flatten(1).amax(1).tolist()
    tiles = [caption(rgb, title)]
    for ch, m, high in zip(channels, norm, highs):
        pic = heatmap_overlay(rgb, m, alpha=0.6) if overlay else colorize(m, tile, smooth)
        tiles.append(caption(pic, f"ch {ch}  max {high:.3g}"))
    if ncols is None:  # about square, preferring a width that leaves no empty tile in the last row
        n, lo = len(tiles), max(4, int(np.ceil(np.sqrt(len(tiles)))))
        ncols = min(range(lo, max(lo, int(np.ceil(1.6 * np.sqrt(n)))) + 1), key=lambda c: (-n % c, c))
    return make_grid(tiles, ncols=ncols)


def render_activations(
    images: Tensor,
    acts: Tensor,
    channels: Sequence[int],
    titles: Sequence[str] | None = None,
    heading: str | None = None,
    ncols: int | None = None,
    **kwargs: object,
) -> np.ndarray:
    """Grids of several images (B,3,H,W) with activations (B,C,h,w), stacked top to bottom, same channels.

    With several images and at most 16 channels each image is one row.
    """
    titles = list(titles) if titles is not None else [f"image {i}" for i in range(len(images))]
    if ncols is None and len(images) > 1 and len(channels) <= 16:
        ncols = len(channels) + 1
    grids = [
        activation_grid(img, a, channels, title=t, ncols=ncols, **kwargs) for img, a, t in zip(images, acts, titles)
    ]
    width = max(g.shape[1] for g in grids)
    band = np.full((6, width, 3), 120, np.uint8)
    parts: list[np.ndarray] = []
    for g in grids:
        if g.shape[1] < width:
            g = np.concatenate([g, np.full((g.shape[0], width - g.shape[1], 3), 255, np.uint8)], axis=1)
        parts += [g, band]
    parts = parts[:-1]
    if heading:
        parts.insert(0, header(width, heading))
    return np.concatenate(parts, axis=0)


def safe_layer_name(layer: str) -> str:
    """A layer name usable in a file name (``backbone.stages.block3`` stays as it is)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", layer) or "layer"


def default_picture_path(checkpoint: str | Path, name: str) -> Path:
    """``<checkpoint dir>/../pictures/<name>``: next to the quickstart's other pictures."""
    return Path(checkpoint).parent.parent / "pictures" / name


def add_to_tensorboard(logdir: str | Path, tag: str, image: np.ndarray, step: int = 0) -> None:
    """Log an (H, W, 3) uint8 picture with ``SummaryWriter.add_image`` under ``logdir``."""
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(logdir))
    try:
        writer.add_image(tag, image, global_step=step, dataformats="HWC")
    finally:
        writer.close()
