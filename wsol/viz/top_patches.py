"""Maximally activating patches: for chosen channels of a layer, the k dataset patches that excite them most.

Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014,
https://arxiv.org/abs/1311.2901 (the image patches beside their deconvnet projections).

One streaming pass over the dataset with memory that does not grow with it: a running ``(C, k)`` buffer of
the best values and where they were (image index, unit y, unit x). For each batch and each (image, channel)
only the spatial maximum and its first argmax (row-major) are kept — ONE patch per image per channel:
neighbouring units of one image see overlapping boxes and nearly equal values, so without this rule the top-k
of a channel would be k shifted copies of one object instead of k different examples. The batch's ``(C, B)``
candidates are concatenated with the buffer and the best k kept, ordered by value, ties by the lower image
index (two stable sorts; ``torch.topk`` leaves the order of ties unspecified). Afterwards each winner's
receptive-field box (:mod:`wsol.viz.receptive_field`) is cropped from its eval-transformed image, loading only
the winning images.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from wsol.cams.hooks import LayerCapture, model_mode
from wsol.drawing import denormalize_image, heatmap_overlay, make_grid
from wsol.viz.activations import CAPTION_HEIGHT, caption, header
from wsol.viz.receptive_field import ReceptiveField

EMPTY = torch.iinfo(torch.long).max  # image index of an empty slot: loses every tie


class StreamingTopK:
    """Running top-k per channel over a stream of activations (B, C, h, w); fixed-size state (C, k)."""

    def __init__(self, num_channels: int, k: int) -> None:
        if num_channels < 1 or k < 1:
            raise ValueError(f"need num_channels >= 1 and k >= 1, got {num_channels}, {k}")
        self.k = k
        self.values = torch.full((num_channels, k), -torch.inf)
        self.image = torch.full((num_channels, k), EMPTY, dtype=torch.long)
        self.y = torch.zeros((num_channels, k), dtype=torch.long)
        self.x = torch.zeros((num_channels, k), dtype=torch.long)
        self.channel_sum = torch.zeros(num_channels, dtype=torch.float64)
        self.count = 0  # activations summed per channel
        self.feature_size: tuple[int, int] | None = None

    def update(self, acts: Tensor, image_index: Tensor) -> None:
        """Merge one batch: ``acts`` (B, C, h, w) of the images with dataset indices ``image_index`` (B,)."""
        b, c, h, w = acts.shape
        if c != self.values.shape[0]:
            raise ValueError(f"activations have {c} channels, the buffer {self.values.shape[0]}")
        acts = acts.detach().float().cpu()
        flat = acts.flatten(2)
        pos = flat.argmax(2)  # (B, C): first maximum in row-major order
        val = flat.gather(2, pos[..., None])[..., 0]
        if torch.isnan(val).any():
            bad = image_index[torch.isnan(val).any(1)].tolist()
            raise ValueError(f"NaN activations in images {bad}")
        self.channel_sum += acts.sum(dim=(0, 2, 3), dtype=torch.float64)
        self.count += b * h * w
        self.feature_size = (h, w)
        idx = image_index.to(torch.long).cpu()[None].expand(c, b)
        cand = [
            torch.cat([self.values, val.T], 1),
            torch.cat([self.image, idx], 1),
            torch.cat([self.y, (pos // w).T], 1),
            torch.cat([self.x, (pos % w).T], 1),
        ]
        order = torch.argsort(cand[1], dim=1, stable=True)  # ties → lower image index first
        cand = [t.gather(1, order) for t in cand]
        order = torch.sort(cand[0], dim=1, descending=True, stable=True).indices[:, : self.k]
        self.values, self.image, self.y, self.x = (t.gather(1, order) for t in cand)

    def channel_means(self) -> Tensor:
        """Mean activation of every channel over all images and positions seen."""
        return (self.channel_sum / max(self.count, 1)).float()


@dataclass
class TopPatches:
    """Result of a pass: per channel the k best (value, image index, unit y, unit x); empty slots have
    image index ``-1`` (fewer than k images)."""

    layer: str
    values: Tensor  # (C, k)
    image: Tensor  # (C, k) long
    y: Tensor
    x: Tensor
    channel_means: Tensor  # (C,)
    feature_size: tuple[int, int]
    num_images: int

    def most_active(self, n: int) -> list[int]:
        """The ``n`` channels with the highest mean activation over the dataset (ties: lower channel)."""
        return torch.sort(self.channel_means, descending=True, stable=True).indices[:n].tolist()


def find_top_patches(
    model: nn.Module,
    layer: str,
    dataset: Sequence,
    k: int = 8,
    batch_size: int = 32,
    max_images: int | None = None,
    num_workers: int = 0,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> TopPatches:
    """One pass over ``dataset`` (items with an ``image`` tensor) keeping the top-k units of every channel."""
    from torch.utils.data import DataLoader, Subset
    from tqdm.auto import tqdm

    from wsol.data.records import collate_samples

    n = len(dataset) if max_images is None else min(int(max_images), len(dataset))
    if n < 1:
        raise ValueError("no images to search (empty split or --max-images 0)")
    loader = DataLoader(
        Subset(dataset, range(n)),
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        collate_fn=collate_samples,
    )
    buf: StreamingTopK | None = None
    start = 0
    model = model.to(device)
    with model_mode(model, "eval"), torch.no_grad(), LayerCapture(model, [layer]) as capture:
        for batch in tqdm(loader, desc=f"top patches {layer}", unit="batch", disable=not progress):
            capture.outputs.clear()
            model(batch["image"].to(device))
            (acts,) = capture.activations()
            if buf is None:
                buf = StreamingTopK(acts.shape[1], k)
            bsz = acts.shape[0]
            buf.update(acts, torch.arange(start, start + bsz))
            start += bsz
    assert buf is not None and buf.feature_size is not None
    image = torch.where(buf.image == EMPTY, -1, buf.image)
    return TopPatches(layer, buf.values, image, buf.y, buf.x, buf.channel_means(), buf.feature_size, n)


def crop_patch(image: np.ndarray, box: Sequence[int], fill: int = 128) -> np.ndarray:
    """The inclusive ``x0, y0, x1, y1`` box of an (H, W, 3) image; parts outside the image are ``fill`` grey,
    so every patch of a layer has the receptive field's size and scale."""
    x0, y0, x1, y1 = (int(v) for v in box)
    h, w = image.shape[:2]
    out = np.full((y1 - y0 + 1, x1 - x0 + 1, 3), fill, np.uint8)
    sy0, sy1, sx0, sx1 = max(y0, 0), min(y1, h - 1), max(x0, 0), min(x1, w - 1)
    if sy0 <= sy1 and sx0 <= sx1:
        out[sy0 - y0 : sy1 - y0 + 1, sx0 - x0 : sx1 - x0 + 1] = image[sy0 : sy1 + 1, sx0 : sx1 + 1]
    return out


def map_on_box(act: Tensor, rf: ReceptiveField, box: Sequence[int]) -> np.ndarray:
    """A channel's (h, w) map resampled onto the input pixels of ``box``: pixel p sits at unit (p - s)/j
    (bilinear between unit centres, clamped at the border), so the heat lines up with the receptive field."""
    x0, y0, x1, y1 = (int(v) for v in box)
    h, w = act.shape
    uy = (torch.arange(y0, y1 + 1, dtype=torch.float32) - rf.start[0]) / rf.jump[0]
    ux = (torch.arange(x0, x1 + 1, dtype=torch.float32) - rf.start[1]) / rf.jump[1]
    gy = uy * 2 / max(h - 1, 1) - 1
    gx = ux * 2 / max(w - 1, 1) - 1
    grid = torch.stack(torch.meshgrid(gx, gy, indexing="xy"), dim=-1)[None]  # (1, Hb, Wb, 2) as (x, y)
    out = F.grid_sample(act[None, None].float(), grid, mode="bilinear", padding_mode="border", align_corners=True)
    return out[0, 0].numpy()


def winner_maps(
    model: nn.Module,
    layer: str,
    load: Callable[[int], Tensor],
    indices: Sequence[int],
    channels: Sequence[int],
    batch_size: int = 32,
    device: str | torch.device = "cpu",
) -> tuple[dict[int, np.ndarray], dict[int, Tensor]]:
    """Load only the winning images: their denormalised RGB and the chosen channels' maps (len(channels), h, w)."""
    rgb: dict[int, np.ndarray] = {}
    maps: dict[int, Tensor] = {}
    indices = sorted({int(i) for i in indices})
    with model_mode(model, "eval"), torch.no_grad(), LayerCapture(model, [layer]) as capture:
        for s in range(0, len(indices), batch_size):
            chunk = indices[s : s + batch_size]
            images = torch.stack([load(i) for i in chunk])
            capture.outputs.clear()
            model(images.to(device))
            (acts,) = capture.activations()
            acts = acts[:, list(channels)].float().cpu()
            for i, img, a in zip(chunk, images, acts):
                rgb[i], maps[i] = denormalize_image(img), a
    return rgb, maps


def render_top_patches(
    result: TopPatches,
    rf: ReceptiveField,
    channels: Sequence[int],
    rgb: dict[int, np.ndarray],
    maps: dict[int, Tensor] | None = None,
    tile: int = 80,
    heading: str | None = None,
    alpha: float = 0.35,
) -> np.ndarray:
    """One row per channel: a label tile, then its k patches (value and image index below each); with
    ``maps`` the channel's heat is blended over each patch, scaled by the row's best value."""
    tiles: list[np.ndarray] = []
    k = result.values.shape[1]
    for row, ch in enumerate(channels):
        tiles.append(
            _label_tile(
                tile,
                [
                    f"channel {ch}",
                    f"mean {float(result.channel_means[ch]):.3g}",
                    f"top {float(result.values[ch, 0]):.3g}",
                ],
            )
        )
        top = max(float(result.values[ch, 0]), 1e-12)
        for j in range(k):
            i = int(result.image[ch, j])
            if i < 0:
                tiles.append(np.full((tile + CAPTION_HEIGHT, tile, 3), 255, np.uint8))
                continue
            y, x = int(result.y[ch, j]), int(result.x[ch, j])
            box = rf.box(y, x)
            patch = crop_patch(rgb[i], box)
            if maps is not None:
                heat = np.clip(map_on_box(maps[i][row], rf, box) / top, 0, 1)
                patch = heatmap_overlay(patch, heat, alpha)
            small = max(patch.shape[:2]) * 3 <= tile  # a few pixels blown up: keep them sharp
            patch = cv2.resize(patch, (tile, tile), interpolation=cv2.INTER_NEAREST if small else cv2.INTER_LINEAR)
            tiles.append(caption(patch, f"{float(result.values[ch, j]):.3g}  #{i}"))
    grid = make_grid(tiles, ncols=k + 1)
    return np.concatenate([header(grid.shape[1], heading), grid], 0) if heading else grid


def _label_tile(tile: int, lines: Sequence[str], scale: float = 0.4) -> np.ndarray:
    """White tile (the height of a captioned patch) with a few lines of text: the row's channel."""
    out = np.full((tile + CAPTION_HEIGHT, tile, 3), 255, np.uint8)
    for n, text in enumerate(lines):
        cv2.putText(out, text, (3, 16 + 16 * n), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return out


def winners_table(result: TopPatches, rf: ReceptiveField, channels: Sequence[int], image_ids: Sequence[str]) -> dict:
    """JSON-ready winners: per channel the value, image index and id, unit (y, x) and input box (unclipped)."""
    rows = {}
    for ch in channels:
        keep = [j for j in range(result.values.shape[1]) if int(result.image[ch, j]) >= 0]
        boxes = rf.boxes(result.y[ch, keep], result.x[ch, keep]).tolist()
        rows[str(ch)] = [
            {
                "value": float(result.values[ch, j]),
                "image_index": int(result.image[ch, j]),
                "image_id": image_ids[int(result.image[ch, j])],
                "unit_yx": [int(result.y[ch, j]), int(result.x[ch, j])],
                "box_xyxy": box,
            }
            for j, box in zip(keep, boxes)
        ]
    return {
        "layer": result.layer,
        "num_images": result.num_images,
        "feature_size": list(result.feature_size),
        "receptive_field": {"size": list(rf.size), "jump": list(rf.jump), "start": list(rf.start)},
        "channels": rows,
    }


__all__ = [
    "StreamingTopK",
    "TopPatches",
    "find_top_patches",
    "crop_patch",
    "map_on_box",
    "winner_maps",
    "render_top_patches",
    "winners_table",
]
