"""Every method × backbone config builds the published network: parameter count and map side at 224 px.

The figures are those of the published code, instantiated with random init and 200 classes:
clovaai/wsolevaluation's wsol/{vgg,resnet,inception}.py for CAM (HaS, ADL and CutMix train the CAM network),
ACoL and SPG; wpy1999/BAS's CUB/Model/*.py for BAS. GGAM has no reference code: its figures are this
toolkit's (the CAM network plus the two attention FCs, 2·(D·D/16) weights + biases). Models are built on the
meta device, so no weights are allocated and the test stays fast.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from wsol.config import load_config
from wsol.models import build_model

CONFIGS = Path(__file__).resolve().parents[2] / "configs"

FIELD = {  # (method, backbone): (parameters, map side at 224 px) with the config's large_feature_map
    ("cam", "vgg16"): (19_639_304, 14),
    ("has", "vgg16"): (19_639_304, 14),
    ("adl", "vgg16"): (19_639_304, 14),
    ("cutmix", "vgg16"): (19_639_304, 14),
    ("acol", "vgg16"): (43_440_336, 14),
    ("spg", "vgg16"): (28_977_162, 14),
    ("bas", "vgg16"): (29_999_312, 28),
    ("ggam", "vgg16"): (19_672_616, 14),
    ("cam", "resnet50"): (23_917_832, 28),
    ("has", "resnet50"): (23_917_832, 28),
    ("adl", "resnet50"): (23_917_832, 28),
    ("cutmix", "resnet50"): (23_917_832, 28),
    ("acol", "resnet50"): (80_545_232, 28),
    ("spg", "resnet50"): (61_671_690, 28),
    ("bas", "resnet50"): (53_870_032, 28),
    ("ggam", "resnet50"): (24_444_296, 28),
    ("cam", "inception_v3"): (25_687_976, 14),
    ("has", "inception_v3"): (25_687_976, 14),
    ("adl", "inception_v3"): (25_687_976, 14),
    ("cutmix", "inception_v3"): (25_687_976, 14),
    ("acol", "inception_v3"): (42_410_096, 14),
    ("spg", "inception_v3"): (37_634_986, 14),
    ("bas", "inception_v3"): (51_686_768, 28),
    ("ggam", "inception_v3"): (25_762_520, 14),
}


def meta_model(path: Path, *overrides: str):
    cfg = load_config(path, ["model.pretrained=false", *overrides])
    with torch.device("meta"):
        return build_model(cfg.model, 200)


def side_at_224(model) -> int:
    with torch.device("meta"):
        return model.localize(torch.zeros(1, 3, 224, 224)).maps.shape[-1]


@pytest.mark.parametrize("method, backbone", sorted(FIELD))
def test_cub_config_is_the_published_network(method, backbone):
    model = meta_model(CONFIGS / "cub" / f"{method}_{backbone}.yaml")
    params, side = FIELD[(method, backbone)]
    assert sum(p.numel() for p in model.parameters()) == params
    assert side_at_224(model) == side


@pytest.mark.parametrize("method", ["cam", "spg"])
@pytest.mark.parametrize("backbone", ["vgg16", "resnet50", "inception_v3"])
def test_large_feature_map_doubles_the_map_side_like_the_field(method, backbone):
    """wsolevaluation: 14×14 maps, 28×28 with large_feature_map, for every backbone; the weights stay the same."""
    path = CONFIGS / "cub" / f"{method}_{backbone}.yaml"
    sides = {}
    for large in (False, True):
        model = meta_model(path, f"model.large_feature_map={str(large).lower()}")
        assert sum(p.numel() for p in model.parameters()) == FIELD[(method, backbone)][0]
        sides[large] = side_at_224(model)
    assert sides == {False: 14, True: 28}


@pytest.mark.parametrize("dataset", ["imagenet", "openimages"])
def test_other_datasets_build_the_same_networks_as_cub(dataset):
    """Only the name, the data and the training recipe differ (and BAS's per-dataset loss weights,
    fusion and fixed threshold), so the pinned CUB architectures hold for every dataset."""
    dataset_specific = {"area_weight", "fg_weight", "fuse_topk", "threshold"}
    for method, backbone in FIELD:
        name = f"{method}_{backbone}.yaml"
        models = []
        for folder in (dataset, "cub"):  # the model sections as written (both chains share ../base.yaml's)
            model = OmegaConf.to_container(OmegaConf.load(CONFIGS / folder / name).model)
            model["bas"] = {k: v for k, v in model.get("bas", {}).items() if k not in dataset_specific}
            models.append(model)
        assert models[0] == models[1], name
        assert "model" not in OmegaConf.load(CONFIGS / dataset / "base.yaml")


def test_spg_vgg16_pools_conv4_like_the_field():
    model = meta_model(CONFIGS / "cub" / "spg_vgg16.yaml")
    pool = model.backbone.stages.conv4[-1]
    assert isinstance(pool, torch.nn.MaxPool2d) and (pool.kernel_size, pool.stride, pool.padding) == (3, 2, 1)
    assert model.layout.b1 == "conv4" and model.layout.b2 == "conv5"


@pytest.mark.parametrize(
    "backbone, expected",
    [
        (
            "vgg16",
            ["stages.conv3.1", "stages.conv4.5.1", "stages.conv5.1"],
        ),  # after pool3, conv4_3 (before pool4), conv5_3
        ("resnet50", ["stages.layer3.0.1", "stages.layer4.0.1", "stages.layer4.2.1"]),
        ("inception_v3", ["stages.mixed5.1", "stages.mixed6.1"]),  # after Mixed_5d (before the pool) and Mixed_6e
    ],
)
def test_adl_sits_where_the_field_puts_it(backbone, expected):
    from wsol.models.adl import ADLLayer

    model = meta_model(CONFIGS / "cub" / f"adl_{backbone}.yaml")
    assert [n for n, m in model.backbone.named_modules() if isinstance(m, ADLLayer)] == expected
