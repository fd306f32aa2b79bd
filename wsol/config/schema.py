"""The configuration schema: every key, its type and default. Unknown keys and wrong types are rejected.

YAML files override a handful of these (see ``configs/``); ``wsol.config.load_config`` merges them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ACoLConfig:
    delta: float = 0.6  # erasing threshold on branch A's min-max normalised map (paper 0.6, wsolevaluation 0.7)
    erase_dilation: int = 0  # grow the erased region by this many feature cells (0 = the paper's erasing)
    erase_start_step: int = 0  # erasing warm-up: B sees unerased features for this many iterations (0 = paper)
    head_batch_norm: bool = False  # BatchNorm after each hidden conv of both heads (heads that cannot die)
    erase_at: str = "features"  # where B's input is erased: "features" (paper), "input", or a backbone stage name
    head_kernel_size: int = 3  # kernel of the two hidden convs of each head (paper 3)


@dataclass
class HaSConfig:
    patch_size: int = 16  # side of the hidden grid cells, in input pixels
    hide_prob: float = 0.5


@dataclass
class ADLConfig:
    drop_rate: float = 0.75
    drop_threshold: float = 0.8
    positions: list[str] = field(default_factory=list)  # backbone stages followed by ADL; empty = last stage


@dataclass
class GGAMConfig:
    lam: float = 1.0  # λ of CE + λ·L_GGAM
    reduction: int = 16  # hidden width of the channel-attention FCs = channels / reduction


@dataclass
class SPGConfig:
    # (foreground, background) seed thresholds of the three self-produced guidance losses, wsolevaluation's
    # spg_threshold_{1,2,3}{h,l}: B2 from the class map, B1 from σ(B2), C from the fused σ(B1), σ(B2)
    thresholds: list[list[float]] = field(default_factory=lambda: [[0.7, 0.01], [0.5, 0.05], [0.7, 0.1]])
    min_foreground: int = 30  # fewer foreground seed pixels → foreground = values > fallback · max instead
    fallback: float = 0.7


@dataclass
class BASConfig:
    area_weight: float = 0.7  # λ of the area constraint mean(M) (paper CUB: VGG16 0.7, ResNet50 1.2, InceptionV3 1.0)
    fg_weight: float = 0.0  # weight of CE on the foreground-guided logits (paper CUB: VGG16 0, others 0.5)
    tap: str = ""  # backbone stage whose output feeds the map generator; "" = the second-to-last stage
    pool_after_tap: bool = False  # 2×2 max pool between the tap and the rest (BAS's VGG16 pool4, ResNet50)
    head_relu: bool = True  # ReLU on the class maps (the paper's); off for from-scratch trunks, where it can die
    fuse_topk: int = 0  # localization map: 0 = the class's own map M_c; k > 0 = mean of the top-k predicted M
    threshold: float = 0.15  # the paper's fixed box threshold (CUB: 0.15, InceptionV3 0.1); see README


@dataclass
class ModelConfig:
    method: str = "acol"
    backbone: str = "tiny"
    pretrained: bool = False  # ImageNet weights (from the torch hub cache or weights_path); never downloaded
    weights_path: str | None = None
    large_feature_map: bool = False
    backbone_args: dict[str, Any] = field(default_factory=dict)
    head_width: int = 1024  # ACoL head width
    cam_head_width: int = 0  # CAM/HaS/ADL/GGAM: 0 = plain 1×1 head; >0 adds conv3×3-width first
    cam_head_layers: int = 1  # number of those conv3×3 layers (wsolevaluation: VGG16 1, InceptionV3 2)
    cam_head_dropout: float = 0.0  # dropout before each head conv (wsolevaluation's InceptionV3 CAM: 0.5)
    acol: ACoLConfig = field(default_factory=ACoLConfig)
    has: HaSConfig = field(default_factory=HaSConfig)
    adl: ADLConfig = field(default_factory=ADLConfig)
    ggam: GGAMConfig = field(default_factory=GGAMConfig)
    spg: SPGConfig = field(default_factory=SPGConfig)
    bas: BASConfig = field(default_factory=BASConfig)


@dataclass
class DataConfig:
    root: str = "data/synthetic"
    format: str = "auto"  # auto | wsolevaluation | cub | coco
    train_split: str = "train"
    val_split: str = "val"
    num_classes: int | None = None  # if set, must match the dataset
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
class CutMixConfig:
    prob: float = 0.0  # probability that a training batch is CutMix-ed (0 = off; wsolevaluation's cutmix: 1.0)
    beta: float = 1.0  # the box area ratio is drawn from Beta(beta, beta)


@dataclass
class TrainConfig:
    epochs: int = 10
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: str = "auto"  # auto (bf16 on CUDA) | bf16 | fp32
    channels_last: bool | None = None  # None = on CUDA only
    deterministic: bool = False
    log_every: int = 20  # iterations between TensorBoard scalars
    eval_every: int = 1  # epochs between validations
    localization: bool = True  # localization metrics each validation (needs wsol.evaluation)
    best_metric: str = "val/top1_cls"
    best_mode: str = "max"  # max | min
    overlays: int = 8  # CAM overlays of a fixed val batch in TensorBoard (0 = off)
    max_steps_per_epoch: int | None = None  # cap for quick runs / benchmarks
    threads: int | None = None  # torch.set_num_threads on CPU
    cutmix: CutMixConfig = field(default_factory=CutMixConfig)  # any method; see wsol.engine.cutmix


@dataclass
class Config:
    name: str = "run"
    output_dir: str = "runs/${name}"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


@dataclass
class PretrainConfig:
    """``wsol pretrain``: the recipe of the tiny backbone's shipped weights (recorded next to them)."""

    channels: list[int] = field(default_factory=lambda: [32, 64, 96, 128])
    large_feature_map: bool = True
    train_images: int = 9600
    test_images: int = 960
    size: int = 64
    epochs: int = 6
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-4
    seed: int = 0
    threads: int = 2
