"""Reading a target layer's output as a (B, C, h, w) grid: CNN maps, channels-last blocks, transformer tokens.

A layer's output is one of three layouts (or anything a user callable turns into a grid):

* ``"channels_first"``: (B, C, h, w), every CNN;
* ``"channels_last"``: (B, h, w, C), torchvision's Swin blocks and the permuted inside of ConvNeXt blocks;
* ``"tokens"``: (B, P + h·w, D), ViT / DeiT encoder layers, whose first P tokens (class, distillation) have no
  position and are dropped.

``reshape_transform=None`` detects the layout from the output shape and the input size (the rules of
:func:`detect_layout`) and refuses when they do not single one out; a string forces one layout; a callable
(pytorch-grad-cam's ``reshape_transform``) maps the raw output to (B, C, h, w) and is applied, like there, to
the activations and to their gradients alike. The chosen layout of each layer is kept in
``Explainer.layouts``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from torch import Tensor

LAYOUTS = ("channels_first", "channels_last", "tokens")
PREFIX_TOKENS = (0, 1, 2)  # none, class token (ViT), class + distillation tokens (DeiT-distilled)
ReshapeTransform = str | Callable[[Tensor], Tensor] | None


def grid_fits(h: int, w: int, size: tuple[int, int]) -> bool:
    """Whether an h×w grid can tile an H×W input with one stride ``s`` in both axes, to one cell of padding:
    some ``x = H / s`` has ``|h - x| <= 1`` and ``|w - x·W/H| <= 1``."""
    height, width = size
    if not (1 <= h <= height and 1 <= w <= width):
        return False
    low = max(h - 1, (w - 1) * height / width)
    high = min(h + 1, (w + 1) * height / width)
    return low <= high


def token_grids(tokens: int, size: tuple[int, int]) -> list[tuple[int, int, int]]:
    """(prefix, h, w) for every prefix in ``PREFIX_TOKENS`` whose remaining tokens tile the input as a grid."""
    height, width = size
    found = []
    for prefix in PREFIX_TOKENS:
        n = tokens - prefix
        if n < 1:
            continue
        h = max(1, round(math.sqrt(n * height / width)))
        if n % h == 0 and grid_fits(h, n // h, size):
            found.append((prefix, h, n // h))
    return found


def detect_layout(shape: tuple[int, ...], size: tuple[int, int]) -> str:
    """The layout of a layer output of ``shape`` for an input of ``size`` (H, W), or ValueError.

    4-D: channels-first when its last two dims fit the input as a grid (PyTorch's convention), else
    channels-last when dims 1-2 do (a Swin block's (B, 7, 7, 768) on 224 px), else not spatial. 3-D: tokens when
    exactly one prefix in (0, 1, 2) leaves a token count that tiles the input (197 = 1 + 14·14 on 224 px).
    """
    if len(shape) == 4:
        if grid_fits(shape[2], shape[3], size):
            return "channels_first"
        if grid_fits(shape[1], shape[2], size):
            return "channels_last"
        raise ValueError(
            f"output {tuple(shape)} is neither (B, C, h, w) nor (B, h, w, C) with a grid that tiles "
            f"the {size[0]}x{size[1]} input"
        )
    if len(shape) == 3:
        grids = token_grids(shape[1], size)
        if len(grids) == 1:
            return "tokens"
        why = "no" if not grids else "several"
        raise ValueError(
            f"output {tuple(shape)}: {why} split of its {shape[1]} tokens into prefix tokens "
            f"{PREFIX_TOKENS} and a grid tiling the {size[0]}x{size[1]} input; pass "
            "reshape_transform=wsol.cams.token_grid(prefix, (h, w))"
        )
    raise ValueError(f"output {tuple(shape)} is not spatial: expected (B, C, h, w), (B, h, w, C) or (B, tokens, D)")


def token_grid(prefix: int, grid: tuple[int, int]) -> Callable[[Tensor], Tensor]:
    """A reshape transform for token outputs: drop ``prefix`` tokens, fold the rest into a ``grid`` (h, w)."""
    h, w = grid

    def transform(x: Tensor) -> Tensor:
        if x.dim() != 3 or x.shape[1] != prefix + h * w:
            raise ValueError(f"token_grid({prefix}, {grid}) expects (B, {prefix + h * w}, D), got {tuple(x.shape)}")
        return x[:, prefix:].reshape(x.shape[0], h, w, x.shape[2]).permute(0, 3, 1, 2)

    return transform


def to_grid(x: Tensor, layout: ReshapeTransform, size: tuple[int, int]) -> Tensor:
    """``x`` in ``layout`` (a name from ``LAYOUTS`` or a callable) as a (B, C, h, w) grid (a view when possible)."""
    if callable(layout):
        out = layout(x)
        if not isinstance(out, Tensor) or out.dim() != 4:
            got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(f"reshape_transform must return a (B, C, h, w) tensor, got {got}")
        return out
    if layout == "channels_first" and x.dim() == 4:
        return x
    if layout == "channels_last" and x.dim() == 4:
        return x.permute(0, 3, 1, 2)
    if layout == "tokens" and x.dim() == 3:
        grids = token_grids(x.shape[1], size)
        if len(grids) != 1:
            detect_layout(tuple(x.shape), size)  # raises the explanation
        prefix, h, w = grids[0]
        return token_grid(prefix, (h, w))(x)
    if layout not in LAYOUTS:
        raise ValueError(f"reshape_transform must be None, a callable or one of {LAYOUTS}, got {layout!r}")
    raise ValueError(f"layout {layout!r} does not fit an output of shape {tuple(x.shape)}")


def prefix_of(x: Tensor, layout: ReshapeTransform, size: tuple[int, int]) -> Tensor | None:
    """The dropped prefix tokens of a token output (None for other layouts): lets callers tell a layer whose
    grid gets no gradient because the head reads the class token only."""
    if layout != "tokens" or x.dim() != 3:
        return None
    grids = token_grids(x.shape[1], size)
    return x[:, : grids[0][0]] if len(grids) == 1 else None


def resolve_layout(x: Tensor, declared: ReshapeTransform, size: tuple[int, int], name: str) -> ReshapeTransform:
    """The declared layout, or the detected one; errors name the layer."""
    if declared is not None:
        if not callable(declared) and declared not in LAYOUTS:
            raise ValueError(f"reshape_transform must be None, a callable or one of {LAYOUTS}, got {declared!r}")
        return declared
    try:
        return detect_layout(tuple(x.shape), size)
    except ValueError as exc:
        raise ValueError(
            f"layer {name!r} has no spatial output: {exc}; pick another layer or pass "
            f"reshape_transform (one of {LAYOUTS} or a callable)"
        ) from None
