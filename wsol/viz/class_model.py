"""Class-model visualisation: the input image a classifier finds most typical of each class.

Simonyan, Vedaldi & Zisserman, "Deep Inside Convolutional Networks: Visualising Image Classification Models
and Saliency Maps", ICLR workshop 2014, https://arxiv.org/abs/1312.6034, find by gradient ascent

    I*_c = argmax_I  S_c(I) − λ ‖I‖²₂

where S_c is the **unnormalised** class score (the logit), not the softmax probability: the softmax
P_c = exp S_c / Σ_k exp S_k can grow by pushing the *other* classes' scores down, so maximising it yields
images of "not the other classes" rather than of class c (the paper's argument). The image lives in the
network's normalised input space, so ``I = 0`` is the dataset mean image, the natural start and the point the
L2 term pulls towards.

Each step (all requested classes in one batch, one image per class):

    I ← clamp(I + lr_t · g / rms(g)),   g = ∇_I [S_c(J(I)) − λ ‖I‖²₂],   lr_t = lr · (1 + cos(π t / T)) / 2

with ``rms(g)`` the per-image root-mean-square of the gradient (so ``lr`` is a step in normalised pixel units
whatever the logit scale of the model), a cosine decay of the step over the T steps (normalised steps of a
fixed size would keep oscillating around the optimum instead of settling on it) and the clamp keeping pixels
in the valid range of ``(x − mean) / std`` for x ∈ [0, 1]. ‖I‖² sums over pixels, so a given λ weighs more
on larger images.

Optional regularisers of Yosinski et al., "Understanding Neural Networks Through Deep Visualization", ICML DL
workshop 2015, https://arxiv.org/abs/1506.06579: ``J`` rolls the image by a random shift of up to ``jitter`` px
each step (the gradient is rolled back by autograd), and every ``blur_every`` steps the image is smoothed with
a Gaussian of standard deviation ``blur_sigma`` px, blended as I ← I + (lr_t / lr)(G_σ * I − I) so the blur
decays with the step (a full blur at vanishing steps would wash out what the ascent built). Both discourage
the high-frequency patterns that raise the score without looking like anything.

Only the image receives gradients (``torch.autograd.grad`` w.r.t. the image): the model's parameters and their
``.grad`` are untouched and its train/eval flags are restored afterwards.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from wsol.cams.hooks import check_grad_mode, model_logits, model_mode
from wsol.drawing import IMAGENET_MEAN, IMAGENET_STD, denormalize_image, make_grid
from wsol.fileio import atomic_write_bytes


@dataclass
class ClassModelResult:
    """``images`` (K, 3, H, W) in normalised input space; ``scores`` (steps + 1, K): S_c before each step,
    the last row measured on the final image (no jitter)."""

    images: Tensor
    classes: Tensor
    scores: Tensor


def gaussian_kernel1d(sigma: float) -> Tensor:
    """Sampled Gaussian exp(−x²/2σ²) on [−⌈3σ⌉, ⌈3σ⌉], normalised to sum 1."""
    if sigma <= 0:
        raise ValueError(f"blur sigma must be > 0, got {sigma}")
    radius = max(1, math.ceil(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-(x**2) / (2 * sigma**2))
    return k / k.sum()


def gaussian_blur(images: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur of (B, C, H, W) images, borders replicated (any image size works)."""
    k = gaussian_kernel1d(sigma).to(images)
    r = (len(k) - 1) // 2
    b, c, h, w = images.shape
    x = images.reshape(b * c, 1, h, w)
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
    x = F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1))
    return x.reshape(b, c, h, w)


def valid_range(mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> tuple[Tensor, Tensor]:
    """(low, high) of each channel of ``(x − mean) / std`` for x ∈ [0, 1], shaped (1, 3, 1, 1)."""
    m, s = torch.tensor(mean).view(1, -1, 1, 1), torch.tensor(std).view(1, -1, 1, 1)
    return -m / s, (1 - m) / s


def _start_images(
    n: int, channels: int, size: int | tuple[int, int], init: str, noise_std: float, gen: torch.Generator
) -> Tensor:
    """Zeros (the dataset mean in normalised space) or N(0, noise_std²) drawn from ``gen``."""
    h, w = (size, size) if isinstance(size, int) else size
    if init == "mean":
        return torch.zeros(n, channels, h, w)
    if init == "noise":
        return torch.randn((n, channels, h, w), generator=gen) * noise_std
    raise ValueError(f"init must be 'mean' or 'noise', got {init!r}")


def class_model_images(
    model: nn.Module,
    classes: Sequence[int] | Tensor,
    size: int | tuple[int, int] = 224,
    steps: int = 200,
    lr: float = 0.1,
    l2: float = 1e-3,
    jitter: int = 0,
    blur_every: int = 0,
    blur_sigma: float = 0.5,
    init: str = "mean",
    noise_std: float = 0.1,
    seed: int = 0,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    progress: bool = False,
) -> ClassModelResult:
    """Gradient ascent on one image per class of ``classes``, all in one batch (see the module docstring).

    ``init="mean"`` starts from zeros (the dataset mean), ``"noise"`` from N(0, noise_std²) (seeded). The
    random draws (noise, jitter shifts) use a private generator seeded with ``seed``: same seed, same images.
    """
    check_grad_mode(False)
    if steps < 0 or lr <= 0 or l2 < 0 or jitter < 0 or blur_every < 0:
        raise ValueError(
            f"need steps >= 0, lr > 0, l2 >= 0, jitter >= 0, blur_every >= 0; got steps={steps}, "
            f"lr={lr}, l2={l2}, jitter={jitter}, blur_every={blur_every}"
        )
    device = next(model.parameters()).device
    cls = torch.as_tensor(classes, dtype=torch.long).reshape(-1).to(device)
    gen = torch.Generator().manual_seed(seed)
    low, high = (t.to(device) for t in valid_range(mean, std))
    x = _start_images(len(cls), len(mean), size, init, noise_std, gen).to(device)
    x = torch.maximum(torch.minimum(x, high), low)
    rows = torch.arange(len(cls), device=device)
    scores = []
    with model_mode(model, "eval"), torch.enable_grad():
        with torch.no_grad():
            num_classes = model_logits(model(x[:1])).shape[1]
        if cls.numel() == 0 or cls.min() < 0 or cls.max() >= num_classes:
            raise ValueError(f"classes must be a non-empty list in [0, {num_classes}), got {cls.tolist()}")
        for step in tqdm(range(steps), desc="class model", unit="step", disable=not progress, leave=False):
            x.requires_grad_(True)
            shift = torch.randint(-jitter, jitter + 1, (2,), generator=gen).tolist() if jitter else [0, 0]
            score = model_logits(model(torch.roll(x, shift, dims=(2, 3))))[rows, cls]
            (grad,) = torch.autograd.grad(score.sum() - l2 * (x**2).sum(), x)
            scores.append(score.detach().float().cpu())
            with torch.no_grad():
                rms = grad.pow(2).mean(dim=(1, 2, 3), keepdim=True).sqrt()
                if step == 0 and (rms == 0).any():
                    warnings.warn(
                        f"the class-score gradient is exactly zero at the start image for classes "
                        f"{cls[rms.flatten() == 0].tolist()} (dead ReLUs at the mean image); those "
                        "images will not change — start from noise (init='noise', --init noise)",
                        stacklevel=2,
                    )
                step_lr = lr * 0.5 * (1 + math.cos(math.pi * step / steps))  # cosine decay lets the steps settle
                x = x.detach() + step_lr * grad / rms.clamp_min(1e-12)
                if blur_every and (step + 1) % blur_every == 0:  # decays with the step, or it would win at the end
                    x = torch.lerp(x, gaussian_blur(x, blur_sigma), step_lr / lr)
                x = torch.maximum(torch.minimum(x, high), low)
        with torch.no_grad():
            scores.append(model_logits(model(x.detach()))[rows, cls].float().cpu())
    return ClassModelResult(x.detach().cpu(), cls.cpu(), torch.stack(scores))


def stretch_contrast(image: np.ndarray, percentile: float = 1.0) -> np.ndarray:
    """Linear stretch of a uint8 RGB image so its [p, 100 − p] percentiles (all channels jointly, so hues
    keep their balance) span 0..255. Class models sit close to the mean image; this makes them visible."""
    lo, hi = np.percentile(image, [percentile, 100 - percentile])
    if hi - lo < 1:
        return image.copy()
    out = (image.astype(np.float32) - lo) * (255.0 / (hi - lo))
    return np.clip(out, 0, 255).round().astype(np.uint8)


def render_class_models(
    result: ClassModelResult,
    class_names: Sequence[str],
    tile: int = 160,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    ncols: int = 5,
    stretch: bool = True,
) -> np.ndarray:
    """Grid of the class images (upscaled to ``tile`` px, nearest neighbour so pixels stay visible; contrast
    stretched unless ``stretch=False``), each captioned with its class name and the score before → after."""
    tiles = []
    for i, c in enumerate(result.classes.tolist()):
        img = denormalize_image(result.images[i], mean, std)
        img = cv2.resize(stretch_contrast(img) if stretch else img, (tile, tile), interpolation=cv2.INTER_NEAREST)
        strip = np.full((34, tile, 3), 255, np.uint8)
        name = class_names[c] if c < len(class_names) else str(c)
        cv2.putText(
            strip,
            name[: max(4, int(tile / 6.5))],
            (3, 13),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.38,
            (20, 20, 20),
            1,
            cv2.LINE_AA,
        )
        s0, s1 = float(result.scores[0, i]), float(result.scores[-1, i])
        cv2.putText(
            strip, f"S {s0:.2f} -> {s1:.2f}", (3, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (90, 90, 90), 1, cv2.LINE_AA
        )
        tiles.append(np.concatenate([img, strip], 0))
    return make_grid(tiles, ncols=ncols, pad=4)


def score_plot_png(
    result: ClassModelResult,
    class_names: Sequence[str],
    path: str | None = None,
    title: str = "gradient ascent on the input",
) -> bytes:
    """Class score S_c against the step, one line per class (matplotlib Agg); PNG bytes, written if ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scores = result.scores.numpy()
    cmap = plt.get_cmap("tab10" if scores.shape[1] <= 10 else "tab20")
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    for i, c in enumerate(result.classes.tolist()):
        ax.plot(
            np.arange(len(scores)),
            scores[:, i],
            color=cmap(i % cmap.N),
            lw=1.5,
            label=class_names[c] if c < len(class_names) else str(c),
        )
    ax.set_xlabel("step")
    ax.set_ylabel("class score S_c (logit)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    if path is not None:
        atomic_write_bytes(path, buf.getvalue())
    return buf.getvalue()
