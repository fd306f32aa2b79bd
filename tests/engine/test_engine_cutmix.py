"""CutMix in the training step: the step's loss is the area-mixed loss of the replayed draws, and a resumed
CutMix run (here with BAS and SPG, whose forwards use the label) repeats the uninterrupted one exactly."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from tests.engine.conftest import TinyBlobs, tiny_config
from wsol.data.records import collate_samples
from wsol.engine.cutmix import maybe_cutmix
from wsol.engine.seed import seed_everything
from wsol.engine.trainer import Trainer
from wsol.models import build_model

CUTMIX = ("train.cutmix.prob=1.0", "train.cutmix.beta=1.0")


def make_trainer(cfg, init_seed=0):
    seed_everything(init_seed)
    return Trainer(
        cfg,
        build_model(cfg.model, 3),
        TinyBlobs(),
        TinyBlobs(8, seed=1),
        progress=False,
        verbose=False,
        tensorboard=False,
    )


def test_train_step_loss_is_the_mixed_loss_of_the_replayed_draws(tmp_path):
    trainer = make_trainer(tiny_config(tmp_path, "model.method=cam", *CUTMIX))
    batch = collate_samples([TinyBlobs()[i] for i in range(8)])
    reference = copy.deepcopy(trainer.model).train()
    np.random.seed(3)
    torch.manual_seed(3)
    mix = maybe_cutmix(batch["image"], batch["label"], trainer.cfg.train.cutmix)
    expected = mix.loss(reference.loss, reference(mix.images, mix.forward_labels))
    plain = reference.loss(reference(batch["image"], batch["label"]), batch["label"])
    np.random.seed(3)
    torch.manual_seed(3)
    losses, _ = trainer.train_step(batch)
    assert losses["loss"].item() == pytest.approx(expected["loss"].item(), rel=1e-6)
    assert losses["loss"].item() != pytest.approx(plain["loss"].item(), rel=1e-6)


@pytest.mark.parametrize("method", ["bas", "spg"])
def test_resumed_cutmix_run_ends_with_identical_weights(tmp_path, method):
    full = make_trainer(tiny_config(tmp_path / "full", f"model.method={method}", *CUTMIX))
    full.fit()
    make_trainer(tiny_config(tmp_path / "split", f"model.method={method}", *CUTMIX)).fit(stop_after=2)
    resumed = make_trainer(tiny_config(tmp_path / "split", f"model.method={method}", *CUTMIX), init_seed=7)
    resumed.fit(resume=True)
    a, b = full.model.state_dict(), resumed.model.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
