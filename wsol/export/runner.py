"""The export loop: batched ``model.localize`` with post-processing overlapped, in fixed resumable shards.

While the model runs batch ``n + 1``, a thread pool post-processes batch ``n`` (upsampling, regions, RLE,
PNG/npy writes: OpenCV, NumPy, pycocotools and torch release the GIL). A shard is committed (its json written
atomically) once all its batches are done; a restart skips committed shards. Process ``rank`` of
``world_size`` takes shards ``rank, rank + world_size, ...``; the merge (see :mod:`wsol.export.merge`) is
independent of that split.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from wsol.export.postprocess import PostprocessSettings, process_image
from wsol.export.shards import Record, num_shards, rank_shards, shard_done, shard_range, write_shard
from wsol.export.source import ExportSource, SafeItems, as_numpy, collate_safe
from wsol.export.writers import flush_to_disk
from wsol.localization.maps import normalize_maps, upsample_maps


class _Localizer(Protocol):
    """What the export needs of a model: ``localize`` giving ``.logits`` (B, C), ``.classes`` (B, K), ``.maps``."""

    def localize(self, images: torch.Tensor, classes: torch.Tensor | None = None, topk: int = 1) -> Any: ...


PROB_DECIMALS = 6
# On CPU the model always sees at least this many images: oneDNN's convolution and matrix-product kernels for
# batches of 1-3 round differently from those for larger batches (last float bits, enough to move a mask
# pixel at the threshold), so a small batch (--batch-size 1, a shard's remainder) is padded with copies of
# its last image. With it the exported bytes do not depend on --batch-size or --shard-size on CPU; GPU
# kernels give no such promise.
MIN_CPU_BATCH = 4


@dataclass(frozen=True)
class RunOptions:
    """How to run (none of this changes the exported files)."""

    batch_size: int = 32
    workers: int = 2  # DataLoader processes decoding images
    post_workers: int = 2  # threads post-processing finished batches
    device: str = "cpu"
    rank: int = 0
    world_size: int = 1
    progress: bool = True


@dataclass(frozen=True)
class ExportSpec:
    """What to export (all of it enters the settings fingerprint)."""

    post: PostprocessSettings
    topk: int = 1
    use_gt_class: bool = False
    shard_size: int = 256
    write_dataset: bool = True


def export_settings(
    spec: ExportSpec, source: ExportSource, model_digest: str, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The settings dict stored in ``export.json``, with its own sha256 ``fingerprint``."""
    import hashlib
    import json

    settings = {
        "format": 1,
        "model": model_digest,
        "source": source.description,
        "num_images": len(source.image_ids),
        "image_ids_sha256": source.ids_digest(),
        "class_names": source.class_names,
        "shard_size": spec.shard_size,
        "topk": spec.topk,
        "use_gt_class": spec.use_gt_class,
        "write_dataset": spec.write_dataset,
        "postprocess": asdict(spec.post),
        **(extra or {}),
    }
    settings["fingerprint"] = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()
    return settings


def dense_maps(maps: torch.Tensor) -> torch.Tensor:
    """(B, K, h, w) maps → (B, K, 224, 224) bicubic-upsampled and min-max normalised per map (wsolevaluation)."""
    b, k, h, w = maps.shape
    up = upsample_maps(maps.reshape(b * k, h, w).float())
    return normalize_maps(up).reshape(b, k, *up.shape[-2:])


def _post_batch(
    out_dir: Path,
    post: PostprocessSettings,
    maps: torch.Tensor,
    dense: bool,
    classes: np.ndarray,
    probs: np.ndarray,
    preds: np.ndarray,
    meta: list[tuple[int, str, tuple[int, int], int]],
) -> list[tuple[Record, list[Record]]]:
    """Worker-thread body: one batch's images → [(image entry, annotations)]."""
    norm = (maps if dense else dense_maps(maps)).numpy()
    out = []
    for j, (index, image_id, size, label) in enumerate(meta):
        anns = process_image(out_dir, image_id, norm[j], classes[j], probs[j], size, post)
        for order, ann in enumerate(anns):
            ann["image_index"], ann["order"] = index, order
        entry = {
            "index": index,
            "image_id": image_id,
            "width": int(size[0]),
            "height": int(size[1]),
            "label": label,
            "pred": int(preds[j]),
            "classes": classes[j].tolist(),
            "probs": [round(float(p), PROB_DECIMALS) for p in probs[j]],
        }
        out.append((entry, anns))
    return out


class _ShardCommitter:
    """Collects finished batches in submission order and commits each shard when its last batch is in."""

    def __init__(
        self, out_dir: Path, fingerprint: str, owners: list[int], on_shard_done: Callable[[int], None] | None
    ) -> None:
        self.out_dir, self.fingerprint, self.on_shard_done = out_dir, fingerprint, on_shard_done
        self.left = {s: owners.count(s) for s in dict.fromkeys(owners)}
        self.parts: dict[int, tuple[list[Record], list[Record], list[Record]]] = {s: ([], [], []) for s in self.left}
        self.pending: deque[tuple[int, Future[list[tuple[Record, list[Record]]]] | None, list[Record]]] = deque()
        self.counts = {"images": 0, "bad_images": 0, "annotations": 0}

    def add(self, shard: int, future: Future[list[tuple[Record, list[Record]]]] | None, bad: list[Record]) -> None:
        self.pending.append((shard, future, bad))

    def drain(self, block: bool) -> None:
        """Take finished batches from the front (all of them, waiting, when ``block``)."""
        while self.pending and (block or self.pending[0][1] is None or self.pending[0][1].done()):
            shard, future, bad = self.pending.popleft()
            images, anns, bads = self.parts[shard]
            for entry, image_anns in future.result() if future is not None else []:
                images.append(entry)
                anns += image_anns
            bads += bad
            self.left[shard] -= 1
            if self.left[shard] == 0:
                self._commit(shard, images, anns, bads)

    def _commit(self, shard: int, images: list[Record], anns: list[Record], bad: list[Record]) -> None:
        flush_to_disk()
        write_shard(self.out_dir, shard, self.fingerprint, images, anns, bad)
        self.counts["images"] += len(images)
        self.counts["bad_images"] += len(bad)
        self.counts["annotations"] += len(anns)
        del self.parts[shard]
        if self.on_shard_done is not None:
            self.on_shard_done(shard)


def _plan(
    source: ExportSource, spec: ExportSpec, opts: RunOptions, out_dir: Path, fingerprint: str
) -> tuple[int, list[int], list[int], list[list[int]], list[int]]:
    total = num_shards(len(source.image_ids), spec.shard_size)
    mine = rank_shards(total, opts.rank, opts.world_size)
    todo = [s for s in mine if not shard_done(out_dir, s, fingerprint)]
    batches: list[list[int]] = []
    owners: list[int] = []
    for s in todo:
        idx = list(shard_range(s, len(source.image_ids), spec.shard_size))
        for start in range(0, len(idx), opts.batch_size):
            batches.append(idx[start : start + opts.batch_size])
            owners.append(s)
    return total, mine, todo, batches, owners


def run_shards(
    model: torch.nn.Module,
    source: ExportSource,
    spec: ExportSpec,
    opts: RunOptions,
    out_dir: str | Path,
    fingerprint: str,
    on_shard_done: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Export this rank's unfinished shards; returns counts and timings. ``on_shard_done(shard)`` is called
    after each commit (progress hooks; tests use it to interrupt a run)."""
    out_dir = Path(out_dir)
    total, mine, todo, batches, owners = _plan(source, spec, opts, out_dir, fingerprint)
    device = torch.device(opts.device)
    dense_on_device = device.type != "cpu"  # upsample where the model runs when that is an accelerator
    loader = DataLoader(
        SafeItems(source),
        batch_sampler=batches,
        collate_fn=collate_safe,
        num_workers=opts.workers if batches else 0,
        pin_memory=device.type == "cuda",
    )
    committer = _ShardCommitter(out_dir, fingerprint, owners, on_shard_done)
    depth = 2 * max(opts.post_workers, 1)  # batches in flight before the model waits for post-processing
    start = time.perf_counter()
    bar = tqdm(
        total=sum(len(b) for b in batches),
        unit="img",
        desc=f"export r{opts.rank}",
        disable=not opts.progress,
        dynamic_ncols=True,
    )
    try:
        with ThreadPoolExecutor(max_workers=max(opts.post_workers, 1)) as pool:
            for shard, (batch, indices, bad) in zip(owners, loader):
                future = None
                if batch is not None:
                    maps, dense, classes, probs, preds = _infer(model, batch, spec, device, dense_on_device)
                    future = pool.submit(
                        _post_batch, out_dir, spec.post, maps, dense, classes, probs, preds, _batch_meta(batch, indices)
                    )
                committer.add(shard, future, bad)
                bar.update(len(indices) + len(bad))
                committer.drain(block=len(committer.pending) > depth)
            committer.drain(block=True)
    finally:
        bar.close()
    seconds = time.perf_counter() - start
    counts = committer.counts
    return {
        **counts,
        "shards_total": total,
        "shards_mine": len(mine),
        "shards_skipped": len(mine) - len(todo),
        "seconds": seconds,
        "images_per_s": (counts["images"] + counts["bad_images"]) / max(seconds, 1e-9),
    }


def _batch_meta(batch: dict[str, Any], indices: list[int]) -> list[tuple[int, str, tuple[int, int], int]]:
    """(sorted index, image id, original (w, h), label) per image of a batch."""
    return [
        (i, image_id, (int(size[0]), int(size[1])), int(label))
        for i, image_id, size, label in zip(
            indices, batch["image_id"], batch["orig_size"].tolist(), batch["label"].tolist()
        )
    ]


def _infer(
    model: torch.nn.Module, batch: dict[str, Any], spec: ExportSpec, device: torch.device, dense_on_device: bool
) -> tuple[torch.Tensor, bool, np.ndarray, np.ndarray, np.ndarray]:
    """localize one batch: (maps on CPU, whether already dense, classes (B, K), probabilities (B, K),
    predicted top-1 class (B,))."""
    images = batch["image"].to(device, non_blocking=True)
    classes = None
    if spec.use_gt_class:
        classes = batch["label"].to(device)[:, None]
    n = images.shape[0]
    pad = MIN_CPU_BATCH - n if device.type == "cpu" else 0
    if pad > 0:  # copies of the last image, dropped below: only the kernel choice changes
        images = torch.cat([images, images[-1:].expand(pad, *images.shape[1:])])
        classes = None if classes is None else torch.cat([classes, classes[-1:].expand(pad, -1)])
    loc = cast(_Localizer, model).localize(images, classes=classes, topk=spec.topk)
    logits, chosen = loc.logits[:n], loc.classes[:n]
    probs = torch.softmax(logits.float(), dim=1).gather(1, chosen.to(device))
    maps = dense_maps(loc.maps[:n]) if dense_on_device else loc.maps[:n].float()
    preds = logits.argmax(dim=1).cpu().numpy()
    return maps.cpu(), dense_on_device, chosen.cpu().numpy(), as_numpy(probs), preds
