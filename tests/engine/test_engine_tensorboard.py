"""TensorBoard of a run: per-epoch averages every epoch, per-step loss entries, validation loss, fixed-threshold
figures, curve figures, CAM histograms, dead-channel diagnostics, config text and the HParams entry."""

from __future__ import annotations

import pytest
import torch

from tests.engine.conftest import tiny_config
from tests.engine.test_engine_trainer import make_trainer


@pytest.fixture(scope="module")
def events(tmp_path_factory):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path_factory.mktemp("tb_run")
    cfg = tiny_config(
        out, "model.method=acol", "train.epochs=3", "train.eval_every=2", "train.localization=true", "train.log_every=1"
    )
    trainer = make_trainer(cfg)
    trainer.fit()
    acc = EventAccumulator(str(out / "tb"), size_guidance={"images": 0, "histograms": 0, "tensors": 0, "scalars": 0})
    acc.Reload()
    return acc, trainer


def steps(acc, tag):
    return [e.step for e in acc.Scalars(tag)]


def test_tensorboard_epoch_averages_every_epoch_and_val_on_eval_epochs(events):
    acc, trainer = events
    per_epoch = trainer.iters
    assert steps(acc, "train/loss") == [per_epoch, 2 * per_epoch, 3 * per_epoch]  # epochs 1, 2, 3
    assert steps(acc, "train/ce_a") == steps(acc, "train/ce_b") == steps(acc, "train/loss")
    assert steps(acc, "val/loss") == [2 * per_epoch, 3 * per_epoch]  # eval_every=2 and the last epoch
    assert acc.Scalars("val/loss")[-1].value == pytest.approx(trainer.metrics["val/loss"], rel=1e-6)
    assert all(v.value > 0 for v in acc.Scalars("val/loss"))


def test_tensorboard_per_step_entries_of_the_loss_dict(events):
    acc, trainer = events
    tags = acc.Tags()["scalars"]
    for key in ("loss", "ce_a", "ce_b"):
        assert steps(acc, f"train_step/{key}") == list(range(1, trainer.global_step + 1))  # log_every=1
    loss, ce_a, ce_b = (acc.Scalars(f"train_step/{k}") for k in ("loss", "ce_a", "ce_b"))
    for total, a, b in zip(loss, ce_a, ce_b):  # ACoL's loss is the sum of its two branch CEs
        assert total.value == pytest.approx(a.value + b.value, rel=1e-5)
    assert "train/loss_running" in tags


def test_tensorboard_fixed_threshold_curves_histograms_and_diagnostics(events):
    acc, trainer = events
    tags = acc.Tags()
    # the first validation has no threshold yet; the second evaluates at the one the first chose
    assert steps(acc, "val/fixed/boxacc") == [3 * trainer.iters]
    assert {"curves/boxacc_vs_threshold", "val/cam_overlays"} <= set(tags["images"])
    assert {"cams/raw", "cams/normalized"} <= set(tags["histograms"])
    normalized = acc.Histograms("cams/normalized")[-1].histogram_value
    assert normalized.min >= 0.0 and normalized.max <= 1.0
    for head in ("head_a", "head_b"):
        values = [e.value for e in acc.Scalars(f"diag/dead_{head}")]
        assert len(values) == 2 and all(0.0 <= v <= 1.0 for v in values)
    assert "backbone" not in " ".join(t for t in tags["scalars"] if t.startswith("diag/"))


def test_tensorboard_config_text_and_hparams(events):
    acc, trainer = events
    text = acc.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "method: acol" in text and "eval_every: 2" in text
    plugin = acc.PluginTagToContent("hparams")
    assert set(plugin) >= {"_hparams_/experiment", "_hparams_/session_start_info"}
    assert b"optim.lr" in plugin["_hparams_/session_start_info"]
    final = acc.Scalars("hparam/val/top1_cls")
    assert len(final) == 1 and final[0].value == pytest.approx(trainer.metrics["val/top1_cls"], rel=1e-6)
    assert torch.isfinite(torch.tensor(final[0].value))
