"""The training loop: SGD with split lrs, bf16 autocast + channels_last on CUDA, DDP, TensorBoard, validation
each epoch, atomic last/best checkpoints and exact resume.

Exact resume: the data order of epoch e comes from the sampler's (seed, e) and every other random draw of
epoch e from ``seed_everything(seed, e, rank)`` at its start, so continuing from ``last.pt`` after epoch k
repeats the uninterrupted run bit for bit (on the same device and thread count).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler, get_worker_info
from tqdm import tqdm

from wsol.config import RESUME_MAY_CHANGE, ConfigError, resume_changes, to_plain
from wsol.data.records import collate_samples
from wsol.engine.checkpoint import describe_arch, load_checkpoint, load_state_checked, save_checkpoint
from wsol.engine.cutmix import maybe_cutmix
from wsol.engine.diagnostics import dead_channel_fraction
from wsol.engine.distributed import DistContext, barrier, broadcast_flag
from wsol.engine.logger import RunLogger
from wsol.engine.optim import build_optimizer, build_scheduler
from wsol.engine.seed import rng_state, seed_everything, set_rng_state
from wsol.engine.validate import run_validation
from wsol.fileio import atomic_write_text
from wsol.models import WSOLModel


def hparam_values(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config flattened to dotted keys (``optim.lr``), for TensorBoard's HParams dashboard."""
    flat: dict[str, Any] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{prefix}{key}.")
        else:
            flat[prefix[:-1]] = "null" if node is None else node

    walk(to_plain(cfg), "")
    return flat


class NonFiniteLossError(RuntimeError):
    """The loss became NaN/inf; the run stopped and the last good checkpoint was kept."""


def resolve_device(name: str, ctx: DistContext) -> torch.device:
    if name == "auto":
        return torch.device(f"cuda:{ctx.local_rank}" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"train.device={name!r} but CUDA is not available; use train.device=cpu or auto")
    return torch.device(f"cuda:{ctx.local_rank}" if name == "cuda" else name)


def check_resume_config(saved: dict[str, Any], cfg: DictConfig, path: str | Path) -> None:
    """Refuse to continue the run saved at ``path`` with a config that computes something else (another lr,
    model, data ...): the result would be neither run. Names every field that differs."""
    changed = resume_changes(saved, cfg)
    if changed:
        raise ConfigError(
            f"--resume: the config differs from the one {path} was trained with in "
            f"{'; '.join(changed)}; only {', '.join(RESUME_MAY_CHANGE)} may change on a "
            f"resume (use another output_dir for a new run)"
        )


def collate_skipping(items: Sequence[Any]) -> dict[str, Any]:
    """``collate_samples`` over the items that loaded (a dataset with ``skip_bad`` yields None for bad ones)."""
    good = [item for item in items if item is not None]
    if not good:
        raise RuntimeError("every image of a batch failed to load (data.skip_bad=true); check the dataset")
    return collate_samples(good)


def _seed_transform(dataset: Any, seed: int) -> None:
    transform = getattr(dataset, "transform", None)
    if transform is not None and hasattr(transform, "set_random_seed"):
        transform.set_random_seed(seed)


def _worker_init(worker_id: int) -> None:
    seed = torch.initial_seed() % 2**32  # derived from the main process's torch RNG: reseeded per epoch
    random.seed(seed)
    np.random.seed(seed)
    _seed_transform(get_worker_info().dataset, seed)


def make_loader(
    dataset: Dataset, batch_size: int, workers: int, sampler: Any = None, train: bool = False, pin: bool = False
) -> DataLoader:
    drop_last = train and len(sampler if sampler is not None else dataset) > batch_size
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        shuffle=False,
        num_workers=workers,
        collate_fn=collate_skipping,
        drop_last=drop_last,
        pin_memory=pin,
        worker_init_fn=_worker_init if workers > 0 else None,
    )


class Trainer:
    """Trains ``model`` on ``train_set``, validating on ``val_set``; writes into ``cfg.output_dir``."""

    def __init__(
        self,
        cfg: DictConfig,
        model: WSOLModel,
        train_set: Dataset,
        val_set: Dataset | None,
        ctx: DistContext = DistContext(),
        class_names: Sequence[str] | None = None,
        progress: bool = True,
        verbose: bool = True,
        tensorboard: bool = True,
    ) -> None:
        self.cfg, self.ctx, self.class_names = cfg, ctx, list(class_names or [])
        self.verbose = verbose
        self.out_dir = Path(cfg.output_dir)
        self.progress = progress and ctx.is_main
        self.device = resolve_device(cfg.train.device, ctx)
        cuda = self.device.type == "cuda"
        self.amp = cfg.train.amp == "bf16" or (cfg.train.amp == "auto" and cuda)
        self.channels_last = cuda if cfg.train.channels_last is None else bool(cfg.train.channels_last)
        self.model = model.to(self.device)
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.net: torch.nn.Module = self.model
        if ctx.enabled:
            self.net = DistributedDataParallel(self.model, device_ids=[self.device.index] if cuda else None)
        self.train_set, self.val_set = train_set, val_set
        self.sampler = DistributedSampler(
            train_set, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True, seed=cfg.train.seed, drop_last=False
        )
        self.train_loader = make_loader(
            train_set, cfg.data.batch_size, cfg.data.num_workers, self.sampler, train=True, pin=cuda
        )
        self.val_loader = (
            make_loader(val_set, cfg.data.eval_batch_size, cfg.data.num_workers, pin=cuda)
            if val_set is not None and ctx.is_main
            else None
        )
        cap = cfg.train.max_steps_per_epoch
        self.iters = min(len(self.train_loader), cap) if cap else len(self.train_loader)
        if self.iters < 1:
            raise ValueError(f"the training set ({len(train_set)} images) gives no batch of {cfg.data.batch_size}")
        self.optimizer = build_optimizer(self.model, cfg.optim, cfg.data.batch_size * ctx.world_size)
        self.scheduler = build_scheduler(self.optimizer, cfg.optim, cfg.train.epochs, self.iters)
        self.epoch = self.global_step = 0
        self.best: dict[str, Any] | None = None
        self.metrics: dict[str, float] = {}
        self.localization: dict | None = None
        self.logger = RunLogger(self.out_dir, enabled=ctx.is_main and tensorboard)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "epoch": self.epoch,
            "global_step": self.global_step,
            "rng": rng_state(),
            "config": to_plain(self.cfg),
            "num_classes": self.model.num_classes,
            "class_names": self.class_names,
            "metrics": dict(self.metrics),
            "best": self.best,
            "localization": self.localization,
            # the permutation of epoch e is DistributedSampler's randperm seeded with sampler_seed + e
            "data_order": {
                "sampler_seed": int(self.sampler.seed),
                "next_epoch": self.epoch,
                "world_size": self.ctx.world_size,
            },
        }

    def load_state(self, ckpt: dict[str, Any], source: str) -> None:
        load_state_checked(self.model, ckpt["model"], source, describe_arch(ckpt["config"], ckpt["num_classes"]))
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        self.epoch, self.global_step = int(ckpt["epoch"]), int(ckpt["global_step"])
        self.best, self.metrics = ckpt.get("best"), dict(ckpt.get("metrics") or {})
        self.localization = ckpt.get("localization")
        set_rng_state(ckpt["rng"])

    def _save(self, improved: bool) -> None:
        if not self.ctx.is_main:
            return
        state = self.state_dict()
        save_checkpoint(state, self.out_dir / "last.pt")
        if improved:
            save_checkpoint(state, self.out_dir / "best.pt")

    # ------------------------------------------------------------------ loop
    def fit(self, resume: bool | str = False, stop_after: int | None = None) -> dict[str, Any]:
        """Train to ``train.epochs`` (from ``<output_dir>/last.pt`` if ``resume`` is True, from that checkpoint
        if it is a path); ``stop_after`` ends early after that many completed epochs (a pre-emption, as in the
        resume test). Returns a summary."""
        if self.cfg.train.threads:
            torch.set_num_threads(self.cfg.train.threads)
        if resume:
            self._resume(None if resume is True else str(resume))
        if self.ctx.is_main:
            atomic_write_text(self.out_dir / "config.yaml", OmegaConf.to_yaml(self.cfg))
            self.logger.text("config", OmegaConf.to_yaml(self.cfg, resolve=True), self.global_step)
        fixed = self._fixed_val_batch()
        try:
            while self.epoch < self.cfg.train.epochs:
                if stop_after is not None and self.epoch >= stop_after:
                    break
                self._run_epoch(self.epoch, fixed)
            if self.epoch >= self.cfg.train.epochs:
                self.logger.hparams(hparam_values(self.cfg), self.metrics)
        finally:
            self.logger.close()
        return {
            "epoch": self.epoch,
            "metrics": dict(self.metrics),
            "best": self.best,
            "last": str(self.out_dir / "last.pt"),
            "localization": self.localization,
        }

    def _resume(self, given: str | None = None) -> None:
        path = Path(given) if given else self.out_dir / "last.pt"
        if given and not path.is_file():
            raise FileNotFoundError(f"--resume {given}: no such checkpoint")
        if not path.is_file():
            if self.ctx.is_main:
                tqdm.write(f"resume: no checkpoint at {path}; starting from scratch")
            return
        ckpt = load_checkpoint(path, map_location=self.device)
        self.load_state(ckpt, str(path))
        check_resume_config(ckpt["config"], self.cfg, path)
        if self.ctx.is_main:
            tqdm.write(f"resumed from {path} after epoch {self.epoch}")

    def _run_epoch(self, epoch: int, fixed: tuple | None) -> None:
        derived = seed_everything(self.cfg.train.seed, epoch, self.ctx.rank)
        _seed_transform(self.train_set, derived)
        self.sampler.set_epoch(epoch)
        stats = self._train_one_epoch(epoch)
        self.epoch = epoch + 1
        self.logger.scalars({**stats, "epoch": self.epoch}, self.global_step)
        improved = False
        last = self.epoch == self.cfg.train.epochs
        if self.ctx.is_main and self.val_loader is not None and (self.epoch % self.cfg.train.eval_every == 0 or last):
            improved = self._validate(stats, fixed)
        elif self.ctx.is_main:
            self.metrics = dict(stats)
        self._save(improved)
        barrier(self.ctx)

    def train_step(self, batch: dict[str, Any]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        images = batch["image"].to(self.device, non_blocking=True)
        labels = batch["label"].to(self.device, non_blocking=True)
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        mix = maybe_cutmix(images, labels, self.cfg.train.get("cutmix"))
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            if mix is None:
                output = self.net(images, labels)
                losses = self.model.loss(output, labels)
            else:
                output = self.net(mix.images, mix.forward_labels)
                losses = mix.loss(self.model.loss, output)
        self.optimizer.zero_grad(set_to_none=True)
        losses["loss"].backward()
        self.optimizer.step()
        self.scheduler.step()
        correct = (output.logits.detach().argmax(1) == labels).sum()
        return {k: v.detach().float() for k, v in losses.items()}, correct

    def _train_one_epoch(self, epoch: int) -> dict[str, float]:
        self.net.train()
        sums: dict[str, torch.Tensor] = {}
        correct = torch.zeros((), device=self.device)
        bad = torch.zeros((), dtype=torch.bool, device=self.device)
        seen = 0
        bar = tqdm(
            total=self.iters, desc=f"epoch {epoch + 1}/{self.cfg.train.epochs}", disable=not self.progress, leave=False
        )
        for i, batch in enumerate(self.train_loader):
            if i >= self.iters:
                break
            losses, hits = self.train_step(batch)
            bad |= ~torch.isfinite(losses["loss"])
            for key, value in losses.items():
                sums[key] = sums.get(key, 0.0) + value
            correct += hits
            seen += batch["label"].numel()
            self.global_step += 1
            bar.update(1)
            if self.global_step % self.cfg.train.log_every == 0 or i + 1 == self.iters:
                self._check_finite(bad, epoch)
                loss = float(sums["loss"] / (i + 1))
                bar.set_postfix(loss=f"{loss:.4f}")
                lrs = {f"lr/{g.get('name', j)}": g["lr"] for j, g in enumerate(self.optimizer.param_groups)}
                steps = {f"train_step/{k}": float(v) for k, v in losses.items() if v.numel() == 1}
                self.logger.scalars({"train/loss_running": loss, **lrs, **steps}, self.global_step)
        bar.close()
        stats = {f"train/{k}": float(v / self.iters) for k, v in sums.items()}
        stats["train/top1_cls"] = 100.0 * float(correct) / max(seen, 1)
        return stats

    def _check_finite(self, bad: torch.Tensor, epoch: int) -> None:
        if broadcast_flag(bool(bad), self.ctx):
            last = self.out_dir / "last.pt"
            kept = (
                f"the last good checkpoint is {last} (epoch {self.epoch})"
                if last.is_file()
                else "no checkpoint had been written yet"
            )
            raise NonFiniteLossError(
                f"loss became NaN/inf in epoch {epoch + 1} (step {self.global_step}); "
                f"stopping; {kept}. Lower optim.lr or check the data."
            )

    def _fixed_val_batch(self) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]] | None:
        """Images, labels and GT boxes (input frame) of the first val images, drawn to TensorBoard each eval."""
        n = min(self.cfg.train.overlays, len(self.val_set) if self.val_set is not None else 0)
        if n == 0 or not self.ctx.is_main:
            return None
        batch = collate_skipping([self.val_set[i] for i in range(n)])
        return batch["image"], batch["label"], list(batch["boxes"])

    def _validate(self, stats: dict[str, float], fixed: tuple | None) -> bool:
        metrics = dict(stats)
        val: dict[str, float] = {}
        if self.val_loader is not None:
            # fixed/* at the threshold the previous validation chose: how well a carried threshold holds up
            previous = (self.localization or {}).get("threshold")
            val, threshold, curves = run_validation(
                self.model,
                self.val_loader,
                self.device,
                self.amp,
                self.cfg.train.localization,
                self.cfg.data.protocol,
                self.progress,
                fixed_threshold=previous,
            )
            val = {f"val/{k}": v for k, v in val.items()}
            metrics.update(val)
            if threshold is not None:
                self.localization = threshold
            self._log_curves(curves, val)
        self.metrics = metrics
        self.logger.scalars(val, self.global_step)
        if fixed is not None:
            images, labels = fixed[0].to(self.device), fixed[1].to(self.device)
            self.logger.overlays(
                self.model,
                images,
                labels,
                self.global_step,
                boxes=fixed[2],
                threshold=(self.localization or {}).get("threshold"),
            )
            self.logger.cam_histograms(self.model, images, labels, self.global_step)
            dead = dead_channel_fraction(self.model, images, labels)
            self.logger.scalars({f"diag/dead_{head}": value for head, value in dead.items()}, self.global_step)
        if self.ctx.is_main and self.verbose:
            shown = ", ".join(f"{k}={v:.3f}" for k, v in metrics.items())
            tqdm.write(f"epoch {self.epoch}: {shown}")
        return self._update_best(metrics)

    def _log_curves(self, curves: dict[str, Any], val: dict[str, float]) -> None:
        if not curves or self.logger.writer is None:
            return
        from wsol.evaluation.report import boxacc_figure, pr_figure

        result = {k[len("val/") :]: v for k, v in val.items()}
        if any(k.startswith("boxacc_") for k in curves):
            self.logger.figure("curves/boxacc_vs_threshold", boxacc_figure(curves, result), self.global_step)
        if "pr_precision" in curves:
            self.logger.figure("curves/pxap_pr", pr_figure(curves, result), self.global_step)

    def _update_best(self, metrics: dict[str, float]) -> bool:
        key, mode = self.cfg.train.best_metric, self.cfg.train.best_mode
        if key not in metrics:
            raise KeyError(f"train.best_metric={key!r} is not among the metrics: {', '.join(sorted(metrics))}")
        value = metrics[key]
        if self.best is not None and not (value > self.best["value"] if mode == "max" else value < self.best["value"]):
            return False
        self.best = {"metric": key, "value": float(value), "epoch": self.epoch}
        return True
