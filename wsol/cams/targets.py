"""What to explain, kept apart from how: a target is a small callable that picks scores from the logits.

A target is called as ``target(logits, sample)`` where ``logits`` is (N, C) and ``sample`` (N,) long says which
input sample each row belongs to (rows of a plain forward are ``arange(B)``; Score-CAM and occlusion feed
many perturbed copies of one sample). It returns (N, K) scores: K maps are made per sample.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import torch
from torch import Tensor


class Target(Protocol):
    classes: Tensor  # (B, K) the classes the scores are for (used as labels of the maps)

    def __call__(self, logits: Tensor, sample: Tensor) -> Tensor: ...


class ClassTarget:
    """Score of class ``classes[b, k]`` for sample ``b``: the raw logit (pre-softmax, as Grad-CAM uses)."""

    def __init__(self, classes: Tensor) -> None:
        self.classes = classes

    def __call__(self, logits: Tensor, sample: Tensor) -> Tensor:
        return logits.gather(1, self.classes.to(logits.device)[sample])


class SoftmaxTarget(ClassTarget):
    """Softmax probability of class ``classes[b, k]`` instead of the logit."""

    def __call__(self, logits: Tensor, sample: Tensor) -> Tensor:
        return torch.softmax(logits, dim=1).gather(1, self.classes.to(logits.device)[sample])


class _Labelled:
    """A bare scoring function given a ``classes`` attribute (without touching the function)."""

    def __init__(self, fn: Callable[[Tensor, Tensor], Tensor], classes: Tensor) -> None:
        self.fn, self.classes = fn, classes

    def __call__(self, logits: Tensor, sample: Tensor) -> Tensor:
        return self.fn(logits, sample)


class TopK:
    """Target spec: the ``k`` highest-scoring classes of each sample (K = k maps per sample)."""

    def __init__(self, k: int) -> None:
        self.k = int(k)


TargetSpec = None | int | TopK | Sequence[int] | Tensor | Target | Callable[[Tensor, Tensor], Tensor]


def as_class_tensor(spec: int | Sequence[int] | Tensor, batch: int, num_classes: int) -> tuple[Tensor, bool]:
    """(B, K) long class indices from an int, a list / (B,) tensor, or a (B, K) tensor; flag says 'was 2-D'."""
    classes = torch.as_tensor(spec).long().cpu()
    two_d = classes.dim() == 2
    if classes.dim() == 0:
        classes = classes.expand(batch)
    if classes.dim() == 1:
        classes = classes[:, None]
    if classes.dim() != 2 or classes.shape[0] != batch:
        raise ValueError(
            f"targets must be an int, a list of {batch} ints, a ({batch},) or ({batch}, K) tensor; "
            f"got shape {tuple(torch.as_tensor(spec).shape)}"
        )
    if classes.numel() and (int(classes.min()) < 0 or int(classes.max()) >= num_classes):
        raise ValueError(
            f"target class index out of range: got values in [{int(classes.min())}, "
            f"{int(classes.max())}], the model has {num_classes} classes (valid: 0..{num_classes - 1})"
        )
    return classes.contiguous(), two_d


def resolve_target(spec: TargetSpec, logits: Tensor) -> tuple[Target, bool]:
    """A target callable for a spec; ``None`` means the predicted top-1 class of each sample.

    Returns the target and whether the caller asked for several maps per sample (a 2-D class tensor), in
    which case maps stay (B, K, ...) instead of (B, ...).
    """
    batch, num_classes = logits.shape
    if spec is None:
        return ClassTarget(logits.detach().argmax(dim=1, keepdim=True).cpu()), False
    if isinstance(spec, TopK):
        if not 1 <= spec.k <= num_classes:
            raise ValueError(f"topk must be in [1, {num_classes}], got {spec.k}")
        return ClassTarget(logits.detach().topk(spec.k, dim=1).indices.cpu()), True
    if callable(spec) and not isinstance(spec, Tensor):
        classes = getattr(spec, "classes", None)
        if classes is None:  # a bare function: its maps are labelled -1
            return _Labelled(spec, torch.full((batch, 1), -1, dtype=torch.long)), False
        classes = torch.as_tensor(classes)
        return spec, classes.dim() == 2 and classes.shape[1] > 1  # type: ignore[return-value]
    classes, two_d = as_class_tensor(spec, batch, num_classes)
    return ClassTarget(classes), two_d


def target_scores(target: Target, logits: Tensor, sample: Tensor) -> Tensor:
    """Call a target and check it returns (N,) or (N, K) scores; always returns (N, K)."""
    scores = target(logits, sample)
    if scores.dim() == 1:
        scores = scores[:, None]
    if scores.dim() != 2 or scores.shape[0] != logits.shape[0]:
        raise ValueError(
            f"a target must return ({logits.shape[0]},) or ({logits.shape[0]}, K) scores, got {tuple(scores.shape)}"
        )
    return scores
