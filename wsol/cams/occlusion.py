"""Occlusion sensitivity: how much the target score drops when a sliding window of the input is blanked."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from wsol.cams.base import CAM_METHODS, Explainer
from wsol.cams.hooks import model_logits
from wsol.cams.targets import Target, TargetSpec, resolve_target, target_scores


def window_starts(length: int, window: int, stride: int) -> Tensor:
    """Start offsets of windows covering ``[0, length)``: every ``stride``, plus one flush with the end."""
    if window > length:
        raise ValueError(f"occlusion window {window} is larger than the image side {length}")
    starts = list(range(0, length - window + 1, stride))
    if starts[-1] != length - window:
        starts.append(length - window)
    return torch.tensor(starts)


def _pair(value: int | Sequence[int], name: str) -> tuple[int, int]:
    pair = (int(value), int(value)) if isinstance(value, int) else tuple(int(v) for v in value)
    if len(pair) != 2 or min(pair) < 1:
        raise ValueError(f"{name} must be a positive int or (height, width), got {value!r}")
    return pair  # type: ignore[return-value]


@CAM_METHODS.register("occlusion")
class Occlusion(Explainer):
    """Occlusion: ``M(p) = mean_{w ∋ p} [y_c(x) - y_c(x with window w set to the baseline)]``.

    Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014,
    https://arxiv.org/abs/1311.2901. Windows of ``window`` pixels every ``stride`` pixels (plus one flush with
    the border so every pixel is covered); occluded copies of all samples run in batches of ``batch_size``.

    Args:
        window: window (h, w) or side. stride: step (h, w) or int. baseline: the value written in the window
            (0 = the dataset mean for normalised inputs).
    """

    uses_layers = False
    uses_gradients = False
    supports_differentiable = False

    def __init__(
        self,
        model: nn.Module,
        layers: str | Sequence[str] | None = None,
        *,
        window: int | Sequence[int] = 16,
        stride: int | Sequence[int] = 8,
        baseline: float = 0.0,
        batch_size: int = 64,
        **kwargs: object,
    ) -> None:
        super().__init__(model, None, **kwargs)  # type: ignore[arg-type]
        self.window, self.stride = _pair(window, "window"), _pair(stride, "stride")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.baseline, self.batch_size = float(baseline), batch_size

    def window_masks(self, height: int, width: int, device: torch.device) -> tuple[Tensor, Tensor]:
        """Row and column indicator vectors of every window: (N, H) and (N, W) bool; mask = outer product."""
        ys = window_starts(height, self.window[0], self.stride[0]).to(device)
        xs = window_starts(width, self.window[1], self.stride[1]).to(device)
        rows = torch.arange(height, device=device)
        cols = torch.arange(width, device=device)
        row_in = (rows >= ys[:, None]) & (rows < ys[:, None] + self.window[0])  # (ny, H)
        col_in = (cols >= xs[:, None]) & (cols < xs[:, None] + self.window[1])  # (nx, W)
        return row_in.repeat_interleave(len(xs), 0), col_in.repeat(len(ys), 1)

    @torch.no_grad()
    def _explain(
        self, images: Tensor, names: list[str], targets: TargetSpec, differentiable: bool
    ) -> tuple[list[Tensor], Tensor, Target, bool]:
        b, _, h, w = images.shape
        logits = model_logits(self.model(images))
        target, two_d = resolve_target(targets, logits)
        clean = target_scores(target, logits, torch.arange(b, device=logits.device)).float()  # (B, K)
        row_in, col_in = self.window_masks(h, w, images.device)
        n = row_in.shape[0]
        drops = torch.empty(b * n, clean.shape[1], device=images.device)
        for start in range(0, b * n, self.batch_size):
            idx = torch.arange(start, min(start + self.batch_size, b * n), device=images.device)
            sample, win = idx // n, idx % n
            mask = (row_in[win][:, :, None] & col_in[win][:, None, :])[:, None].to(images.dtype)  # (m, 1, H, W)
            occluded = images[sample] * (1 - mask) + self.baseline * mask
            scores = target_scores(target, model_logits(self.model(occluded)), sample).float()
            drops[idx] = clean[sample] - scores
        drops = drops.view(b, n, -1)
        # Σ_w drop_w · 1[p ∈ w] = Σ_w drop_w · row_w(y) · col_w(x): one einsum, no per-window loop
        rf, cf = row_in.to(drops.dtype), col_in.to(drops.dtype)
        total = torch.einsum("bnk,ny,nx->bkyx", drops, rf, cf)
        count = torch.einsum("ny,nx->yx", rf, cf)
        return [total / count.clamp_min(1)], logits, target, two_d
