#!/usr/bin/env python
"""Benchmark the box evaluation: wsolevaluation's per-threshold cv2 loop vs the component-tree evaluator (CPU).

Both compute, for every map and CAM threshold, the best IoU of the largest-contour box (MaxBoxAcc) and of
every contour's box (MaxBoxAccV2) on the same synthetic CAM-like maps (low-resolution ReLU activations upsampled
bicubically to 224, like real CAMs); the figures must be identical. The reference may be timed on a subset
(``--reference-maps``) and extrapolated linearly to ``--num-maps`` (it is said in the output).

References: ``wsolevaluation`` = its ``compute_bboxes_from_scoremaps`` + ``BoxEvaluator.accumulate`` step for
step, minus per-threshold overheads that do not change the figures (:func:`wsol.localization.reference.
wsolevaluation_ious`), run once per metric as wsolevaluation does (MaxBoxAcc with ``multi_contour_eval=False``,
MaxBoxAccV2 with True): the baseline of the speed targets. ``as written`` = the same runs with those overheads kept
(:func:`~wsol.localization.reference.wsolevaluation_as_written_ious`): what a user of wsolevaluation waits for.
``combined`` = one findContours per threshold serving both metrics
(:func:`~wsol.localization.reference.reference_threshold_ious`, not in wsolevaluation).
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from wsol.cli._common import new_parser

if TYPE_CHECKING:  # for annotations only: these load after the arguments are parsed
    import numpy as np

    from wsol.evaluation.box import BoxEvaluator


def _timed(fn):
    start, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - start, time.process_time() - cpu, out


def _reference(maps, gts, thresholds, kind: str) -> tuple[float, float, np.ndarray]:
    """(wall s, CPU s, IoUs) of one reference; ``kind`` in v1, v2 (wsolevaluation runs), v1 as written, v2 as
    written (the same runs with wsolevaluation's per-threshold overheads), combined."""
    import numpy as np
    from tqdm import tqdm

    from wsol.localization.reference import (
        reference_threshold_ious,
        wsolevaluation_as_written_ious,
        wsolevaluation_ious,
    )

    def run():
        items = tqdm(list(zip(maps, gts)), desc=f"reference {kind}", leave=False)
        if kind == "combined":
            return np.stack([np.stack(reference_threshold_ious(m, thresholds, g)) for m, g in items])
        port = wsolevaluation_as_written_ious if kind.endswith("as written") else wsolevaluation_ious
        return np.stack([port(m, thresholds, g, kind.startswith("v2")) for m, g in items])

    return _timed(run)


def _fast(maps, gts, thresholds, threads: int, multi: bool, batch: int = 256) -> tuple[float, float, BoxEvaluator]:
    """(wall s, CPU s, evaluator) of the component-tree path through the real BoxEvaluator."""
    import numpy as np

    from wsol.evaluation.base import EvalBatch
    from wsol.evaluation.box import BoxEvaluator
    from wsol.localization.maps import quantize_maps

    def run():
        ev = BoxEvaluator(thresholds, (30, 50, 70), multi, num_threads=threads)
        for lo in range(0, len(maps), batch):
            q = quantize_maps(maps[lo : lo + batch])
            ev.process(
                EvalBatch(
                    image_ids=[str(i) for i in range(lo, lo + len(q))],
                    labels=np.zeros(len(q), int),
                    q_maps=q,
                    gt_boxes=gts[lo : lo + batch],
                )
            )
        return ev

    return _timed(run)


def _same(counts: np.ndarray, ious: np.ndarray, deltas) -> bool:
    import numpy as np

    return all(np.array_equal(counts[k], (ious >= d / 100).sum(0)) for k, d in enumerate(deltas))


def _measure(maps, gts, thresholds, n_ref: int, threads: int) -> dict:
    """Every timing of one threshold list; reference times are extrapolated to all maps."""
    import numpy as np

    scale = len(maps) / n_ref
    kinds = ("v1", "v2", "v1 as written", "v2 as written", "combined")
    r = {k: _reference(maps[:n_ref], gts[:n_ref], thresholds, k) for k in kinds}
    f = {
        "v1": _fast(maps, gts, thresholds, threads, False),
        "v1+v2": _fast(maps, gts, thresholds, threads, True),
        "v1+v2 1 thread": _fast(maps, gts, thresholds, 1, True),
    }
    sub1 = _fast(maps[:n_ref], gts[:n_ref], thresholds, threads, False)[2]
    sub2 = _fast(maps[:n_ref], gts[:n_ref], thresholds, threads, True)[2]
    comb = r["combined"][2]
    same = (
        _same(sub1.correct_v1, r["v1"][2], sub1.iou_thresholds)
        and _same(sub2.correct_v1, r["v1"][2], sub2.iou_thresholds)
        and _same(sub2.correct_v2, r["v2"][2], sub2.iou_thresholds)
        and np.array_equal(comb[:, 0], r["v1"][2])
        and np.array_equal(comb[:, 1], r["v2"][2])
        and np.array_equal(r["v1 as written"][2], r["v1"][2])
        and np.array_equal(r["v2 as written"][2], r["v2"][2])
    )
    ref = {k: (v[0] * scale, v[1] * scale) for k, v in r.items()}
    for both, one, two in (("v1+v2", "v1", "v2"), ("v1+v2 as written", "v1 as written", "v2 as written")):
        ref[both] = (ref[one][0] + ref[two][0], ref[one][1] + ref[two][1])
    return {
        "ref": ref,
        "fast": {k: v[:2] for k, v in f.items()},
        "same": same,
        "result": f["v1+v2"][2].evaluate(),
        "fallbacks": f["v1+v2"][2].fallbacks,
    }


# (label, reference key, fast key): what is compared with what
COMPARISONS = [
    ("MaxBoxAcc (v1 run)", "v1", "v1"),
    ("MaxBoxAccV2 (v2 run)", "v2", "v1+v2"),
    ("both, wsolevaluation (2 runs)", "v1+v2", "v1+v2"),
    ("both, combined ref (1 run)", "combined", "v1+v2"),
    ("both, wsolevaluation as written", "v1+v2 as written", "v1+v2"),
]


def _report(rows, num_maps: int, n_ref: int, threads: int) -> None:
    print(
        f"maps: {num_maps} synthetic CAM-like 224x224; reference timed on {n_ref} maps"
        + (" and extrapolated linearly" if n_ref < num_maps else "")
        + f"; fast path threads: {threads}"
    )
    print(
        f"{'interval':>9}{'thr':>6}  {'comparison':<31}{'ref s':>9}{'fast s':>9}{'speed-up':>10}{'CPU x':>9}"
        f"{'ref maps/s':>12}{'fast maps/s':>13}"
    )
    for interval, t, m in rows:
        for label, rk, fk in COMPARISONS:
            (ref_s, ref_cpu), (fast_s, fast_cpu) = m["ref"][rk], m["fast"][fk]
            one_cpu = m["fast"]["v1+v2 1 thread"][1] if fk == "v1+v2" else fast_cpu
            print(
                f"{interval:>9}{t:>6}  {label:<31}{ref_s:>9.2f}{fast_s:>9.2f}{ref_s / fast_s:>9.1f}x"
                f"{ref_cpu / max(one_cpu, 1e-9):>8.1f}x{num_maps / ref_s:>12.1f}{num_maps / fast_s:>13.1f}"
            )
        res = m["result"]
        print(
            f"{'':>17}identical figures: {m['same']}; MaxBoxAcc {res['oracle/maxboxacc']:.2f}, MaxBoxAccV2 "
            f"{res['oracle/maxboxacc_v2']:.2f}; cv2 fallbacks {m['fallbacks']}; fast v1+v2 on 1 thread "
            f"{m['fast']['v1+v2 1 thread'][0]:.2f} s"
        )
    print(
        "speed-up = reference wall time / fast wall time (fast: all threads, through BoxEvaluator). CPU x = "
        "reference CPU time / fast CPU time (v1+v2 rows: the 1-thread run), less sensitive to other load. "
        "wsolevaluation evaluates MaxBoxAcc and MaxBoxAccV2 in two separate runs (two findContours per "
        "threshold); 'as written' keeps wsolevaluation's per-threshold overheads (maximum of the image, reduction of "
        "the whole IoU matrix) that the other references drop; 'combined ref' is a cheaper reference that serves "
        "both from one findContours call. "
        "The fast path computes both metrics in one pass; its v1 row runs the v1-only mode (no hole sweep). "
        "cv2 fallbacks = (map, level) pairs whose largest contour was decided by cv2 on a crop around the "
        "candidate regions (exact; run inside the worker threads)."
    )


def main(argv: list[str] | None = None) -> int:
    p = new_parser("tools/bench/localization.py", __doc__.split("\n")[0])
    p.add_argument("--num-maps", type=int, default=2000)
    p.add_argument("--intervals", type=float, nargs="+", default=[0.01, 0.001])
    p.add_argument("--reference-maps", type=int, default=None, help="time the reference on this many maps only")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    import torch

    from wsol.localization.maps import threshold_list
    from wsol.localization.reference import synthetic_cams

    torch.set_num_threads(1)
    maps, gts = synthetic_cams(args.num_maps, args.seed)
    n_ref = min(args.reference_maps or args.num_maps, args.num_maps)
    for multi in (False, True):  # load the cached numba kernels
        _fast(maps[:2], gts[:2], threshold_list(0.1), 1, multi)
    rows = [
        (iv, len(threshold_list(iv)), _measure(maps, gts, threshold_list(iv), n_ref, args.threads))
        for iv in args.intervals
    ]
    _report(rows, args.num_maps, n_ref, args.threads)
    return 0 if all(m["same"] for _, _, m in rows) else 1


if __name__ == "__main__":
    from wsol.cli import run_main

    raise SystemExit(run_main("tools/bench/localization.py", main))
