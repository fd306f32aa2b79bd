#!/usr/bin/env python
"""Wall time of wsolevaluation's own ``evaluation.py`` against ``wsol evaluate-scoremaps``, same maps, same machine.

Run from the repository (not an installed command)::

    python tools/bench/scoremaps_vs_wsolevaluation.py --reference ~/src/wsolevaluation --kind noisy \\
        --num-maps 2000 --interval 0.01 --repeats 3

It writes ``--num-maps`` score maps and CUB-style metadata (wsolevaluation's layout) under ``--work``, then runs,
one after the other and ``--repeats`` times each, the two whole processes exactly as a user would:

- ``python evaluation.py --scoremap_root ... --metadata_root ... --dataset_name CUB --split test
  --cam_curve_interval I --multi_contour_eval True --multi_iou_eval True`` in the reference checkout (its
  MaxBoxAccV2 pass; the reference needs a second run for MaxBoxAcc);
- ``python -m wsol evaluate-scoremaps`` with the same arguments (it computes MaxBoxAcc and MaxBoxAccV2 at once).

It prints every wall time, the medians, their ratio, and whether both printed the same ``localization:`` figure.
``--fresh`` adds one run of ours with an empty numba cache (what the first run after installing pays).

Map kinds: ``noisy`` = uniform noise smoothed by a Gaussian of sigma 6 px, min-max normalised (float64);
``cam`` = CAM-like maps (ReLU blobs at 14 or 28 px, resized bicubically to 224, as
``tools/bench/localization.py`` makes them). The reference runs on current numpy and without its ``munch``
dependency installed thanks to two shims applied before its code is imported (``np.float = float``, removed
in numpy 1.24, and a minimal attribute dictionary standing in for ``munch.Munch`` when that is missing); they
change nothing it computes.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]

# run in the reference checkout; argv[1:] are evaluation.py's arguments
_REFERENCE_RUNNER = """
import runpy, sys, types
import numpy as np
if not hasattr(np, "float"):
    np.float = float
try:
    import munch  # noqa: F401
except ImportError:
    class Munch(dict):
        __getattr__ = dict.__getitem__
        def __setattr__(self, key, value):
            self[key] = value
    sys.modules["munch"] = types.SimpleNamespace(Munch=Munch)
sys.path.insert(0, ".")
sys.argv = ["evaluation.py"] + sys.argv[1:]
runpy.run_path("evaluation.py", run_name="__main__")
"""


def noisy_maps(num: int, seed: int = 0) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    out = np.empty((num, 224, 224))
    for i in range(num):
        m = gaussian_filter(rng.random((224, 224)), 6)
        out[i] = (m - m.min()) / (m.max() - m.min())
    return out


def cam_maps(num: int, seed: int = 0) -> np.ndarray:
    sys.path.insert(0, str(REPO))
    from wsol.localization.reference import synthetic_cams

    return synthetic_cams(num, seed)[0]


def write_inputs(work: Path, kind: str, num: int, seed: int = 0) -> None:
    """Maps ``<work>/maps/<image_id>.npy`` and metadata ``<work>/metadata/CUB/test`` with one GT box per image."""
    maps = noisy_maps(num, seed) if kind == "noisy" else cam_maps(num, seed)
    rng = np.random.default_rng(seed + 1)
    meta = work / "metadata" / "CUB" / "test"
    meta.mkdir(parents=True, exist_ok=True)
    ids, labels, sizes, boxes = [], [], [], []
    for i, m in enumerate(maps):
        image_id = f"{i % 200:03d}.class/img_{i:05d}.jpg"
        w, h = int(rng.integers(200, 500)), int(rng.integers(200, 500))
        x0, y0 = int(rng.integers(0, w // 2)), int(rng.integers(0, h // 2))
        x1, y1 = int(rng.integers(x0 + 20, w)), int(rng.integers(y0 + 20, h))
        (work / "maps" / image_id).parent.mkdir(parents=True, exist_ok=True)
        np.save(work / "maps" / f"{image_id}.npy", m)
        ids.append(f"{image_id}\n"), labels.append(f"{image_id},{i % 200}\n")
        sizes.append(f"{image_id},{w},{h}\n"), boxes.append(f"{image_id},{x0},{y0},{x1},{y1}\n")
    for name, lines in (("image_ids", ids), ("class_labels", labels), ("image_sizes", sizes), ("localization", boxes)):
        (meta / f"{name}.txt").write_text("".join(lines))


def _args(work: Path, interval: float) -> list[str]:
    return [
        "--scoremap_root",
        str(work / "maps"),
        "--metadata_root",
        str(work / "metadata"),
        "--mask_root",
        str(work / "dataset"),
        "--dataset_name",
        "CUB",
        "--split",
        "test",
        "--cam_curve_interval",
        str(interval),
        "--multi_contour_eval",
        "True",
        "--multi_iou_eval",
        "True",
    ]


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds of the process and its children, the ``localization:`` figure it printed last).

    CPU seconds are reported too because they move less than wall time on a machine shared with other jobs."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])} ... failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    lines = [line for line in proc.stdout.splitlines() if line.startswith("localization:")]
    if not lines:
        raise SystemExit(f"no 'localization:' line in the output of {' '.join(cmd[:4])} ...")
    return wall, cpu, float(lines[-1].split()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--reference", required=True, help="path of a clovaai/wsolevaluation checkout")
    p.add_argument("--kind", choices=["noisy", "cam"], default="noisy")
    p.add_argument("--num-maps", type=int, default=2000)
    p.add_argument("--interval", type=float, default=0.01, help="cam_curve_interval (0.01: 100 thresholds)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--reference-repeats", type=int, default=None, help="default: --repeats")
    p.add_argument("--fresh", action="store_true", help="also time one run of ours with an empty numba cache")
    p.add_argument("--work", default=None, help="folder for the generated inputs (default: a temporary one)")
    args = p.parse_args(argv)
    reference = Path(args.reference).resolve()
    if not (reference / "evaluation.py").is_file():
        raise SystemExit(f"{reference}: no evaluation.py; expected a clovaai/wsolevaluation checkout")
    work = Path(args.work or tempfile.mkdtemp(prefix="wsol_bench_"))
    print(f"writing {args.num_maps} {args.kind} maps to {work} ...", flush=True)
    write_inputs(work, args.kind, args.num_maps)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    ours_cmd = [
        sys.executable,
        "-m",
        "wsol",
        "evaluate-scoremaps",
        *_args(work, args.interval),
        "--out",
        str(work / "out"),
        "--no-progress",
    ]
    ref_cmd = [sys.executable, "-c", _REFERENCE_RUNNER, *_args(work, args.interval)]
    runs: dict[str, list[tuple[float, float]]] = {"wsolevaluation": [], "wsol": []}
    figures: dict[str, float] = {}
    if args.fresh:
        with tempfile.TemporaryDirectory(prefix="numba_cache_") as cache:
            wall, cpu, figures["wsol (fresh)"] = timed(ours_cmd, REPO, dict(env, NUMBA_CACHE_DIR=cache))
        print(f"wsol, empty numba cache (first run after install): {wall:.2f} s wall, {cpu:.2f} s CPU", flush=True)
        runs["wsol (fresh)"] = [(wall, cpu)]
    timed(ours_cmd, REPO, env)  # the numba cache of this checkout is filled (any later run's state)
    for name, cmd, cwd, repeats in (
        ("wsolevaluation", ref_cmd, reference, args.reference_repeats or args.repeats),
        ("wsol", ours_cmd, REPO, args.repeats),
    ):
        for _ in range(repeats):
            wall, cpu, figures[name] = timed(cmd, cwd, env)
            runs[name].append((wall, cpu))
            print(f"{name}: {wall:.2f} s wall, {cpu:.2f} s CPU", flush=True)
    ref_wall = statistics.median(w for w, _ in runs["wsolevaluation"])
    ref_cpu = statistics.median(c for _, c in runs["wsolevaluation"])
    print(
        f"\n{args.num_maps} {args.kind} maps, {len(np.arange(0, 1, args.interval))} thresholds, "
        f"{os.cpu_count()} cores; medians of the runs; ratio = wsolevaluation / this row"
    )
    for name, times in runs.items():
        wall = statistics.median(w for w, _ in times)
        cpu = statistics.median(c for _, c in times)
        print(
            f"  {name:<16} wall {wall:8.2f} s (ratio {ref_wall / wall:6.1f}x)  CPU {cpu:8.2f} s "
            f"(ratio {ref_cpu / cpu:6.1f}x)  walls: {', '.join(f'{w:.2f}' for w, _ in times)}"
        )
    same = len({round(v, 9) for v in figures.values()}) == 1
    print(f"  same MaxBoxAccV2: {same} ({', '.join(f'{k} {v}' for k, v in figures.items())})")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
