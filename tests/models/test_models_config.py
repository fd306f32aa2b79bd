"""Config loading: base chains, overrides, schema errors that name the key, semantic checks, no side effects."""

from __future__ import annotations

import pytest
from omegaconf.errors import ReadonlyConfigError

from wsol.config import ConfigError, load_config
from wsol.engine.data import check_num_classes


def write(path, text):
    path.write_text(text)
    return path


def test_base_chain_then_overrides(tmp_path):
    write(tmp_path / "root.yaml", "name: rootname\ntrain:\n  epochs: 7\n  seed: 3\n")
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub" / "mid.yaml", "base: ../root.yaml\ntrain:\n  epochs: 5\nmodel:\n  method: cam\n")
    leaf = write(tmp_path / "sub" / "leaf.yaml", "base: mid.yaml\nname: leaf\n")
    cfg = load_config(leaf, ["train.seed=9", "optim.lr=0.5"])
    assert (cfg.name, cfg.train.epochs, cfg.train.seed, cfg.model.method, cfg.optim.lr) == ("leaf", 5, 9, "cam", 0.5)
    assert cfg.output_dir == "runs/leaf"  # interpolation resolved
    with pytest.raises(ReadonlyConfigError):
        cfg.train.epochs = 1
    assert not (tmp_path / "runs").exists() and not (tmp_path / "sub" / "runs").exists()


def test_unknown_key_in_file_names_file_and_key(tmp_path):
    bad = write(tmp_path / "bad.yaml", "model:\n  methd: acol\n")
    with pytest.raises(ConfigError, match=r"bad.yaml.*model\.methd"):
        load_config(bad)


def test_wrong_type_names_the_key(tmp_path):
    bad = write(tmp_path / "bad.yaml", "train:\n  epochs: many\n")
    with pytest.raises(ConfigError, match=r"train\.epochs"):
        load_config(bad)
    with pytest.raises(ConfigError, match=r"override 'data.batch_size=x'.*data\.batch_size"):
        load_config(None, ["data.batch_size=x"])
    with pytest.raises(ConfigError, match="expected key=value"):
        load_config(None, ["train.epochs"])


def test_unknown_method_and_backbone_list_known_ones():
    with pytest.raises(ConfigError, match="known: acol, adl, bas, cam, ggam, has, spg"):
        load_config(None, ["model.method=gradcam"])
    with pytest.raises(ConfigError, match="known: .*resnet50.*vgg16"):
        load_config(None, ["model.backbone=vgg19"])


def test_semantic_checks():
    with pytest.raises(ConfigError, match="optim.schedule='linear': expected one of step, cosine, constant"):
        load_config(None, ["optim.schedule=linear"])
    with pytest.raises(ConfigError, match="optim.name='adam': expected one of sgd, adamw"):
        load_config(None, ["optim.name=adam"])
    with pytest.raises(ConfigError, match=r"model.acol.delta=1.5"):
        load_config(None, ["model.acol.delta=1.5"])


def test_circular_base_and_missing_file(tmp_path):
    write(tmp_path / "a.yaml", "base: b.yaml\n")
    write(tmp_path / "b.yaml", "base: a.yaml\n")
    with pytest.raises(ConfigError, match="circular"):
        load_config(tmp_path / "a.yaml")
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")


def test_num_classes_mismatch():
    assert check_num_classes(None, 10, "data/x") == 10
    assert check_num_classes(10, 10, "data/x") == 10
    with pytest.raises(ConfigError, match="data.num_classes=200 but data/x has 10 classes"):
        check_num_classes(200, 10, "data/x")


def test_shipped_configs_load():
    from pathlib import Path

    files = sorted(Path(__file__).resolve().parents[2].joinpath("configs").rglob("*.yaml"))
    assert files
    for f in files:
        load_config(f)
