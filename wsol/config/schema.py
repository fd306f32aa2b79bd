"""The configuration schema: every key, its type and default. Unknown keys and wrong types are rejected.

YAML files override a handful of these (see ``configs/``); ``wsol.config.load_config`` merges them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional


@dataclass
class ACoLConfig:
    delta: float = 0.6  # erasing threshold on branch A's min-max normalised map (paper 0.6, wsolevaluation 0.7)
    erase_dilation: int = 0  # grow the erased region by this many feature cells (0 = the paper's erasing)
    erase_start_step: int = 0  # erasing warm-up: B sees unerased features for this many iterations (0 = paper)


@dataclass
class HaSConfig:
    patch_size: int = 16  # side of the hidden grid cells, in input pixels
    hide_prob: float = 0.5


@dataclass
class ADLConfig:
    drop_rate: float = 0.75
    drop_threshold: float = 0.8
    positions: List[str] = field(default_factory=list)  # backbone stages followed by ADL; empty = last stage


@dataclass
class GGAMConfig:
    lam: float = 1.0  # λ of CE + λ·L_GGAM
    reduction: int = 16  # hidden width of the channel-attention FCs = channels / reduction


@dataclass
class ModelConfig:
    method: str = "acol"
    backbone: str = "tiny"
    pretrained: bool = False  # ImageNet weights (from the torch hub cache or weights_path); never downloaded
    weights_path: Optional[str] = None
    large_feature_map: bool = False
    backbone_args: Dict[str, Any] = field(default_factory=dict)
    head_width: int = 1024  # ACoL head width
    cam_head_width: int = 0  # CAM/HaS/ADL/GGAM: 0 = plain 1×1 head; >0 adds conv3×3-width first
    acol: ACoLConfig = field(default_factory=ACoLConfig)
    has: HaSConfig = field(default_factory=HaSConfig)
    adl: ADLConfig = field(default_factory=ADLConfig)
    ggam: GGAMConfig = field(default_factory=GGAMConfig)


@dataclass
class DataConfig:
    root: str = "data/synthetic"
    format: str = "auto"  # auto | wsolevaluation | cub | coco
    train_split: str = "train"
    val_split: str = "val"
    num_classes: Optional[int] = None  # if set, must match the dataset
    input_size: int = 224
    resize_size: int = 256
    protocol: str = "resize"  # resize | resize_crop (eval transform)
    batch_size: int = 32
    eval_batch_size: int = 64
    num_workers: int = 2
    skip_bad: bool = False  # training: skip unreadable images instead of failing


@dataclass
class OptimConfig:
    name: str = "sgd"  # sgd | adamw
    lr: float = 0.001  # backbone learning rate
    head_lr_mult: float = 10.0  # new layers (heads, attention) train at lr × this
    momentum: float = 0.9
    weight_decay: float = 1e-4
    nesterov: bool = False
    schedule: str = "step"  # step | cosine | constant
    step_size: int = 10  # epochs between ×gamma decays (step schedule)
    gamma: float = 0.1
    warmup_epochs: float = 0.0
    # data.batch_size is per process: under torchrun the global batch is batch_size × world size. "linear"
    # scales both lrs by global batch / reference_batch_size (Goyal et al., 2017, arXiv:1706.02677); "none" keeps
    # optim.lr as given
    scale_lr: str = "none"  # none | linear
    reference_batch_size: int = 256


@dataclass
class TrainConfig:
    epochs: int = 10
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: str = "auto"  # auto (bf16 on CUDA) | bf16 | fp32
    channels_last: Optional[bool] = None  # None = on CUDA only
    deterministic: bool = False
    log_every: int = 20  # iterations between TensorBoard scalars
    eval_every: int = 1  # epochs between validations
    localization: bool = True  # localization metrics each validation (needs wsol.evaluation)
    best_metric: str = "val/top1_cls"
    best_mode: str = "max"  # max | min
    overlays: int = 8  # CAM overlays of a fixed val batch in TensorBoard (0 = off)
    max_steps_per_epoch: Optional[int] = None  # cap for quick runs / benchmarks
    threads: Optional[int] = None  # torch.set_num_threads on CPU


@dataclass
class Config:
    name: str = "run"
    output_dir: str = "runs/${name}"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
