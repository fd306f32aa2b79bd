"""Trainer: exact resume, checkpoints (weights_only), architecture mismatch, NaN stop, split lrs, schedules."""

from __future__ import annotations

import pytest
import torch

from tests.engine.conftest import TinyBlobs, tiny_config
from wsol.engine.checkpoint import CheckpointError, load_checkpoint, load_model
from wsol.engine.optim import build_optimizer, lr_factor
from wsol.engine.seed import seed_everything
from wsol.engine.trainer import NonFiniteLossError, Trainer
from wsol.models import build_model


def make_trainer(cfg, init_seed=0):
    seed_everything(init_seed)
    model = build_model(cfg.model, 3)
    return Trainer(cfg, model, TinyBlobs(), TinyBlobs(8, seed=1), progress=False, verbose=False)


@pytest.mark.parametrize("method", ["acol", "has"])
def test_interrupted_and_resumed_run_ends_with_identical_weights(tmp_path, method):
    full = make_trainer(tiny_config(tmp_path / "full", f"model.method={method}"))
    full.fit()
    first = make_trainer(tiny_config(tmp_path / "split", f"model.method={method}"))
    first.fit(stop_after=2)
    assert load_checkpoint(tmp_path / "split" / "last.pt")["epoch"] == 2
    resumed = make_trainer(tiny_config(tmp_path / "split", f"model.method={method}"), init_seed=123)
    summary = resumed.fit(resume=True)
    assert summary["epoch"] == 3
    a, b = full.model.state_dict(), resumed.model.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    mom_a = [s["momentum_buffer"] for s in full.optimizer.state_dict()["state"].values()]
    mom_b = [s["momentum_buffer"] for s in resumed.optimizer.state_dict()["state"].values()]
    assert all(torch.equal(x, y) for x, y in zip(mom_a, mom_b))
    assert full.scheduler.last_epoch == resumed.scheduler.last_epoch


def test_checkpoint_contents_and_load_model(tmp_path):
    trainer = make_trainer(tiny_config(tmp_path, "model.method=cam", "train.epochs=2"))
    trainer.fit()
    ckpt = torch.load(tmp_path / "last.pt", weights_only=True)
    assert ckpt["epoch"] == 2 and ckpt["num_classes"] == 3 and ckpt["config"]["model"]["method"] == "cam"
    assert ckpt["best"]["metric"] == "val/top1_cls" and (tmp_path / "best.pt").is_file()
    assert (tmp_path / "config.yaml").is_file() and list((tmp_path / "tb").iterdir())
    model, cfg = load_model(tmp_path / "last.pt")
    assert cfg.model.method == "cam" and not model.training
    for key, value in trainer.model.state_dict().items():
        assert torch.equal(model.state_dict()[key], value)
    images = torch.randn(2, 3, 32, 32)
    trainer.model.eval()
    assert torch.allclose(model(images).logits, trainer.model(images).logits)


def test_checkpoint_of_another_architecture_is_refused(tmp_path):
    make_trainer(tiny_config(tmp_path / "cam", "model.method=cam", "train.epochs=1")).fit()
    ckpt = torch.load(tmp_path / "cam" / "last.pt", weights_only=True)
    ckpt["config"]["model"]["method"] = "acol"
    torch.save(ckpt, tmp_path / "forged.pt")
    with pytest.raises(CheckpointError, match="another architecture.*missing"):
        load_model(tmp_path / "forged.pt")
    # resuming an ACoL run from a CAM run's checkpoint fails before training
    (tmp_path / "acol").mkdir()
    (tmp_path / "acol" / "last.pt").write_bytes((tmp_path / "cam" / "last.pt").read_bytes())
    with pytest.raises(CheckpointError, match="method=cam"):
        make_trainer(tiny_config(tmp_path / "acol", "model.method=acol")).fit(resume=True)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    trainer = make_trainer(tiny_config(tmp_path, "model.method=cam", "train.epochs=3"))
    original = trainer.model.loss

    def poisoned(output, labels):
        losses = original(output, labels)
        if trainer.epoch >= 1:
            losses["loss"] = losses["loss"] * float("nan")
        return losses

    trainer.model.loss = poisoned
    with pytest.raises(NonFiniteLossError, match=r"epoch 2.*last.pt \(epoch 1\)"):
        trainer.fit()
    assert load_checkpoint(tmp_path / "last.pt")["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in load_checkpoint(tmp_path / "last.pt")["model"].values())


def test_split_learning_rates(tmp_path):
    cfg = tiny_config(tmp_path, "model.method=acol", "optim.lr=0.1", "optim.head_lr_mult=10")
    model = build_model(cfg.model, 3)
    opt = build_optimizer(model, cfg.optim)
    groups = {g["name"]: g for g in opt.param_groups}
    assert groups["backbone"]["lr"] == pytest.approx(0.1) and groups["new"]["lr"] == pytest.approx(1.0)
    n_backbone = sum(p.numel() for p in model.backbone.parameters())
    assert sum(p.numel() for p in groups["backbone"]["params"]) == n_backbone
    assert sum(p.numel() for p in groups["new"]["params"]) == sum(p.numel() for p in model.parameters()) - n_backbone


def test_lr_schedules_by_hand(tmp_path):
    step = tiny_config(tmp_path, "optim.schedule=step", "optim.step_size=2", "optim.gamma=0.1").optim
    assert [lr_factor(s, step, 6, 10) for s in (0, 19, 20, 39, 40)] == pytest.approx([1, 1, 0.1, 0.1, 0.01])
    cos = tiny_config(tmp_path, "optim.schedule=cosine").optim
    assert [lr_factor(s, cos, 4, 10) for s in (0, 20, 40)] == pytest.approx([1.0, 0.5, 0.0])
    warm = tiny_config(tmp_path, "optim.schedule=constant", "optim.warmup_epochs=1").optim
    assert [lr_factor(s, warm, 4, 4) for s in (0, 1, 3, 4)] == pytest.approx([0.25, 0.5, 1.0, 1.0])


def test_rng_state_round_trip_through_weights_only_file(tmp_path):
    import random

    import numpy as np

    from wsol.engine.seed import rng_state, set_rng_state

    seed_everything(5)
    torch.save({"rng": rng_state()}, tmp_path / "rng.pt")
    expected = (torch.rand(3), np.random.rand(3), random.random())
    seed_everything(99)
    set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True)["rng"])
    got = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(expected[0], got[0]) and np.array_equal(expected[1], got[1]) and expected[2] == got[2]


def test_cam_overlay_grid_of_fixed_batch(tmp_path):
    from wsol.engine.logger import overlay_grid

    cfg = tiny_config(tmp_path, "model.method=acol")
    model = build_model(cfg.model, 3).train()
    data = TinyBlobs(3)
    images = torch.stack([data[i]["image"] for i in range(3)])
    grid = overlay_grid(model, images, data.labels[:3], ncols=3)
    assert grid.dtype.name == "uint8" and grid.ndim == 3 and grid.shape[2] == 3
    assert grid.shape[1] >= 3 * 32 and grid.shape[0] >= 32
    assert model.training  # localize restored the mode


def test_optimizer_choice_keeps_split_lrs(tmp_path):
    cfg = tiny_config(tmp_path, "optim.name=adamw", "optim.lr=0.01", "optim.head_lr_mult=10")
    model = build_model(cfg.model, 3)
    opt = build_optimizer(model, cfg.optim)
    assert isinstance(opt, torch.optim.AdamW)
    assert {g["name"]: g["lr"] for g in opt.param_groups} == pytest.approx({"backbone": 0.01, "new": 0.1})
    sgd = build_optimizer(model, tiny_config(tmp_path).optim)
    assert isinstance(sgd, torch.optim.SGD)
