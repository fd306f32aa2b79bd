"""Two CPU processes over gloo (DistributedDataParallel + DistributedSampler) reach the same weights as one
process with the summed batch: rank r takes every other index of the shared permutation, DDP averages the
gradients, so each step sees the same images. BatchNorm is off (its statistics would be per rank)."""

from __future__ import annotations

import os
import socket

import torch
import torch.multiprocessing as mp

from tests.engine.conftest import TinyBlobs, tiny_config
from wsol.engine.checkpoint import load_checkpoint
from wsol.engine.distributed import cleanup, init_distributed
from wsol.engine.seed import seed_everything
from wsol.engine.trainer import Trainer
from wsol.models import build_model

ARGS = (
    "model.method=cam",
    "model.backbone_args={channels: [8, 16, 16], batch_norm: false}",
    "train.epochs=2",
    "optim.schedule=step",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out_dir: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank)
    )
    torch.set_num_threads(1)
    ctx = init_distributed("gloo")
    try:
        cfg = tiny_config(out_dir, *ARGS, "data.batch_size=4")
        seed_everything(cfg.train.seed)
        model = build_model(cfg.model, 3)
        Trainer(cfg, model, TinyBlobs(), TinyBlobs(8, seed=1), ctx=ctx, progress=False, verbose=False).fit()
    finally:
        cleanup(ctx)


def test_two_process_gloo_matches_single_process(tmp_path):
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path / "ddp")), nprocs=2, join=True)
    cfg = tiny_config(tmp_path / "single", *ARGS, "data.batch_size=8")
    seed_everything(cfg.train.seed)
    single = Trainer(cfg, build_model(cfg.model, 3), TinyBlobs(), TinyBlobs(8, seed=1), progress=False, verbose=False)
    single.fit()
    ddp = load_checkpoint(tmp_path / "ddp" / "last.pt")
    assert ddp["epoch"] == 2 and ddp["global_step"] == single.global_step == 6
    for key, value in single.model.state_dict().items():
        assert torch.allclose(ddp["model"][key], value, atol=1e-5, rtol=1e-4), key
    assert not (tmp_path / "ddp" / "tb").exists() or len(list((tmp_path / "ddp" / "tb").iterdir())) == 1
