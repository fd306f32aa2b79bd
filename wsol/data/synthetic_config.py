"""The synthetic benchmark's knobs (:class:`SyntheticConfig`), apart from the generator so that the command line
can show their defaults without importing torch, OpenCV or numpy."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class SyntheticConfig:
    """Size and difficulty knobs; the defaults train a small CNN on 2 CPU cores in about two minutes."""

    num_classes: int = 10
    train_per_class: int = 60
    val_per_class: int = 20
    test_per_class: int = 20
    size_range: tuple[int, int] = (96, 160)  # image width and height, each drawn in this range
    objects_per_image: tuple[int, int] = (1, 2)  # inclusive range
    object_scale: tuple[float, float] = (0.4, 0.75)  # body major axis / short image side (single object)
    part_scale: float = 0.3  # head radius / body semi-major axis
    body_contrast: float = 0.2  # amplitude of the class texture (fraction of the intensity range)
    distractor_heads: tuple[int, int] = (1, 3)
    distractor_shapes: tuple[int, int] = (3, 7)
    texture_patches: int = 2  # up to this many headless texture patches
    noise_std: float = 6.0  # pixel noise (intensity units)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {self.num_classes}")
        lo, hi = self.size_range
        if not 32 <= lo <= hi:
            raise ValueError(f"size_range must satisfy 32 <= min <= max, got {self.size_range}")
        if not 1 <= self.objects_per_image[0] <= self.objects_per_image[1]:
            raise ValueError(f"objects_per_image must satisfy 1 <= min <= max, got {self.objects_per_image}")
        for name in ("train_per_class", "val_per_class", "test_per_class"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")

    def per_class(self, split: str) -> int:
        return getattr(self, f"{split}_per_class")

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> SyntheticConfig:
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = set(data) - set(fields)
        if unknown:
            raise ValueError(f"unknown SyntheticConfig keys {sorted(unknown)}; known: {sorted(fields)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})
