"""One call for a whole export: output checks, this rank's shards, then the merge (rank 0).

Under ``torchrun`` (a ``torch.distributed`` process group is initialised) rank 0 prepares the folder, every
rank exports its shards, and rank 0 merges after a barrier. Independent processes given ``rank`` /
``world_size`` without a process group each export their shards; ``merge_export`` (``--merge-only``) then
writes the final files once they are all done.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from wsol.export.merge import merge_export
from wsol.export.runner import ExportSpec, RunOptions, export_settings, run_shards
from wsol.export.shards import export_lock, prepare_output
from wsol.export.source import ExportSource


def file_digest(path: str | Path, chunk: int = 1 << 20) -> str:
    """sha256 of a file (the checkpoint), streamed."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def threshold_from_json(path: str | Path) -> tuple[float, str]:
    """The fixed threshold stored in an evaluation JSON (or a checkpoint-like dict dumped as JSON).

    Looked up, in order: ``fixed/threshold`` (``wsol evaluate --split test --fixed-threshold-from val``: the
    threshold carried in from val), ``localization.threshold`` (checkpoint entry), ``chosen_threshold`` (the
    oracle threshold of the evaluated split: give the JSON of the *val* evaluation), ``threshold``.
    Raises naming the file and the keys tried when none is a number.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: evaluation JSON not found") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    tried = (("fixed/threshold",), ("localization", "threshold"), ("chosen_threshold",), ("threshold",))
    for keys in tried:
        node: Any = data
        for key in keys:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, (int, float)) and not isinstance(node, bool):
            return float(node), f"{path}:{'.'.join(keys)}"
    raise ValueError(
        f"{path}: no fixed threshold found; expected a number at one of {', '.join('.'.join(k) for k in tried)}"
    )


def resolve_threshold(
    explicit: float | None, from_json: str | Path | None, checkpoint_localization: dict[str, Any] | None
) -> tuple[float, str]:
    """The box/mask threshold and where it came from: explicit value > evaluation JSON > checkpoint's
    ``localization`` entry. There is no default: without any of them this raises."""
    if explicit is not None and from_json is not None:
        raise ValueError("give either --threshold or --threshold-from, not both")
    if explicit is not None:
        return float(explicit), "--threshold"
    if from_json is not None:
        return threshold_from_json(from_json)
    entry = checkpoint_localization or {}
    if isinstance(entry.get("threshold"), (int, float)):
        where = f"checkpoint localization ({entry.get('metric', '?')} on {entry.get('split', '?')})"
        return float(entry["threshold"]), where
    raise ValueError(
        "no threshold: the checkpoint has no 'localization' entry (the evaluator's fixed threshold "
        "chosen on val); pass --threshold T or --threshold-from eval.json"
    )


def _barrier(distributed: bool) -> None:
    if distributed:
        dist.barrier()


def run_export(
    model: torch.nn.Module,
    source: ExportSource,
    spec: ExportSpec,
    opts: RunOptions,
    out_dir: str | Path,
    model_digest: str,
    overwrite: bool = False,
    extra_settings: dict[str, Any] | None = None,
    extra_quality: dict[str, Any] | None = None,
    on_shard_done: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Prepare ``out_dir``, export this rank's shards, merge when this process can (see module doc)."""
    out_dir = Path(out_dir)
    if spec.use_gt_class and (source.labels is None or min(source.labels, default=0) < 0):
        raise ValueError("--use-gt-class needs a labelled split (--data ROOT --split SPLIT), not an image folder")
    source.check_output_names(out_dir)
    settings = export_settings(spec, source, model_digest, extra_settings)
    distributed = dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
    if opts.world_size > 1 and not distributed and overwrite:
        raise ValueError(
            "--overwrite with independent --rank processes would let one rank delete another's "
            "shards; clear the folder first (one process with --overwrite), or use torchrun"
        )
    with export_lock(out_dir, opts.rank):
        resumed = False
        alone = opts.world_size == 1  # only a lone process may delete temp files: other ranks' writes are in flight
        if opts.rank == 0 or not distributed:
            resumed = prepare_output(out_dir, settings, overwrite, clean_temp=alone)
        _barrier(distributed)
        if distributed and opts.rank != 0:
            resumed = prepare_output(out_dir, settings, overwrite=False, clean_temp=False)
        stats = run_shards(model, source, spec, opts, out_dir, settings["fingerprint"], on_shard_done)
        stats["resumed"] = resumed
        _barrier(distributed)
        if opts.rank == 0 and (opts.world_size == 1 or distributed):
            stats["merge"] = merge_export(out_dir, source.ground_truth, extra_quality)
    return stats
