"""Benchmark the box evaluation: faithful per-threshold cv2 loop vs the component-tree evaluator (CPU).

Both compute, for every map and CAM threshold, the best IoU of the largest-contour box (MaxBoxAcc) and of
every contour's box (MaxBoxAccV2) on the same synthetic CAM-like maps (low-resolution ReLU activations upsampled
bicubically to 224, like real CAMs); the figures must be identical. The reference may be timed on a subset
(``--reference-maps``) and extrapolated linearly to ``--num-maps`` (it is said in the output).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
from tqdm import tqdm

from wsol.evaluation.box import BoxEvaluator
from wsol.evaluation.base import EvalBatch
from wsol.localization.maps import EVAL_SIZE, normalize_maps, threshold_list, upsample_maps
from wsol.localization.reference import reference_threshold_ious


def synthetic_cams(num: int, seed: int = 0) -> tuple[np.ndarray, list[np.ndarray]]:
    """Normalised (num, 224, 224) float64 maps from random 14x14 / 28x28 ReLU blobs, and one GT box each."""
    rng = np.random.default_rng(seed)
    maps = np.empty((num, EVAL_SIZE, EVAL_SIZE))
    gts = []
    for i in range(num):
        r = int(rng.choice([14, 28]))
        yy, xx = np.mgrid[:r, :r]
        feat = rng.normal(0, 0.1, (r, r))
        blobs = []
        for _ in range(int(rng.integers(1, 4))):
            cy, cx = rng.uniform(0.15 * r, 0.85 * r, 2)
            s = rng.uniform(0.06, 0.2) * r
            weight = rng.uniform(0.4, 1.0)
            blobs.append((weight, cy, cx, s))
            feat += weight * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
        up = upsample_maps(torch.from_numpy(np.maximum(feat, 0))[None].float())
        maps[i] = normalize_maps(up.double().numpy())[0]
        _, cy, cx, s = max(blobs)  # GT box: about +-2 sigma around the strongest blob, jittered
        scale = EVAL_SIZE / r
        half = 2 * s * scale * rng.uniform(0.8, 1.25, 2)
        box = np.array([cx * scale - half[0], cy * scale - half[1], cx * scale + half[0], cy * scale + half[1]])
        gts.append(np.clip(box, 0, EVAL_SIZE - 1).astype(np.int64)[None])
    return maps, gts


def _time_reference(maps, gts, thresholds) -> tuple[float, float, np.ndarray, np.ndarray]:
    start, cpu = time.perf_counter(), time.process_time()
    out = [reference_threshold_ious(m, thresholds, g) for m, g in tqdm(list(zip(maps, gts)), desc="reference",
                                                                        leave=False)]
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return seconds, cpu, np.stack([o[0] for o in out]), np.stack([o[1] for o in out])


def _time_fast(maps, gts, thresholds, threads: int, batch: int = 256) -> tuple[float, float, BoxEvaluator]:
    ev = BoxEvaluator(thresholds, (30, 50, 70), True, num_threads=threads)
    start, cpu = time.perf_counter(), time.process_time()
    for lo in range(0, len(maps), batch):
        q = (maps[lo: lo + batch] * 255).astype(np.uint8)
        ev.process(EvalBatch(image_ids=[str(i) for i in range(lo, lo + len(q))], labels=np.zeros(len(q), int),
                             q_maps=q, gt_boxes=gts[lo: lo + batch]))
    return time.perf_counter() - start, time.process_time() - cpu, ev


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="wsol bench-localization", description=__doc__.split("\n")[0])
    p.add_argument("--num-maps", type=int, default=2000)
    p.add_argument("--intervals", type=float, nargs="+", default=[0.01, 0.001])
    p.add_argument("--reference-maps", type=int, default=None, help="time the reference on this many maps only")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    maps, gts = synthetic_cams(args.num_maps, args.seed)
    n_ref = min(args.reference_maps or args.num_maps, args.num_maps)
    _time_fast(maps[:2], gts[:2], threshold_list(0.1), 1)  # load the cached numba kernels
    rows = []
    for interval in args.intervals:
        thr = threshold_list(interval)
        ref_s, ref_cpu, ref_v1, ref_v2 = _time_reference(maps[:n_ref], gts[:n_ref], thr)
        fast1_s, fast1_cpu, _ = _time_fast(maps, gts, thr, 1)
        fast_s, _, ev = _time_fast(maps, gts, thr, args.threads)
        _, _, sub = _time_fast(maps[:n_ref], gts[:n_ref], thr, args.threads)
        same = all(np.array_equal(sub.correct_v1[k], (ref_v1 >= d / 100).sum(0)) and
                   np.array_equal(sub.correct_v2[k], (ref_v2 >= d / 100).sum(0))
                   for k, d in enumerate(sub.iou_thresholds))
        ref_total = ref_s * args.num_maps / n_ref
        cpu_ratio = (ref_cpu * args.num_maps / n_ref) / max(fast1_cpu, 1e-9)
        res = ev.evaluate()
        rows.append((interval, len(thr), ref_total, fast1_s, fast_s, same, res, ev.fallbacks, cpu_ratio))
    print(f"maps: {args.num_maps} synthetic CAM-like 224x224; reference timed on {n_ref} maps"
          + (" and extrapolated linearly" if n_ref < args.num_maps else "") + f"; fast path threads: {args.threads}")
    print(f"{'interval':>9}{'thr':>6}{'ref s':>10}{'ref maps/s':>12}{'fast1 s':>9}{'fast s':>9}{'fast maps/s':>13}"
          f"{'speed-up':>10}{'CPU-time x':>11}{'same':>6}{'MaxBoxAcc':>11}{'V2':>8}{'cv2 fb':>8}")
    for interval, t, ref_total, fast1_s, fast_s, same, res, fb, cpu_ratio in rows:
        print(f"{interval:>9}{t:>6}{ref_total:>10.2f}{args.num_maps / ref_total:>12.1f}{fast1_s:>9.2f}{fast_s:>9.2f}"
              f"{args.num_maps / fast_s:>13.1f}{ref_total / fast_s:>9.1f}x{cpu_ratio:>10.1f}x{str(same):>6}"
              f"{res['oracle/maxboxacc']:>11.2f}{res['oracle/maxboxacc_v2']:>8.2f}{fb:>8}")
    print("speed-up = reference wall time / fast wall time (fast: all threads); CPU-time x = reference CPU time / "
          "fast single-thread CPU time (less sensitive to other load on a shared machine); cv2 fb = thresholds "
          "whose largest contour was recomputed exactly with cv2")
    return 0 if all(r[5] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
