#!/usr/bin/env python
"""Time our Grad-CAM / Grad-CAM++ / Score-CAM against pytorch-grad-cam and a bare forward.

Each figure is the minimum over ``--repeat`` runs after one warm-up (the machine is shared, the minimum is the
least disturbed run). pytorch-grad-cam (PyPI ``grad-cam``) is timed only when it is installed; its maps are
also compared with ours (``upsample="cv2-bilinear"``) and the largest absolute difference is reported.
Models are randomly initialised (``weights=None``): speed does not depend on the weights.
"""

from __future__ import annotations

import time
import types
from collections.abc import Callable

from wsol.cli._common import new_parser
from wsol.fileio import atomic_write_json

THEIRS = {
    "gradcam": "GradCAM",
    "gradcam++": "GradCAMPlusPlus",
    "scorecam": "ScoreCAM",
    "xgradcam": "XGradCAM",
    "layercam": "LayerCAM",
    "hirescam": "HiResCAM",
    "eigencam": "EigenCAM",
}


def best_times(fns: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Minimum wall time of each function over ``repeat`` rounds after one warm-up call each.

    The functions run interleaved (one call of each per round), so a load burst on the shared machine hits
    all of them alike instead of one figure.
    """
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: min(t) for name, t in times.items()}


def theirs_module() -> object | None:
    """pytorch-grad-cam if installed, with its per-image Score-CAM progress bars silenced."""
    try:
        import pytorch_grad_cam
        import pytorch_grad_cam.score_cam as score_cam

    except ImportError:
        return None
    score_cam.tqdm = types.SimpleNamespace(tqdm=lambda iterable, **kwargs: iterable)
    return pytorch_grad_cam


def bench_setting(
    arch: str, batch: int, size: int, methods: list[str], repeat: int, device: str, layer: str
) -> list[dict]:
    """Rows of {setting, method, impl, seconds, ratio_to_forward, max_abs_diff} for one model / batch."""
    import torch
    import torchvision

    from wsol.cams import CAM_METHODS

    torch.manual_seed(0)
    model = getattr(torchvision.models, arch)(weights=None).to(device).eval()
    images = torch.randn(batch, 3, size, size, device=device)
    setting = f"{arch} batch {batch} {size}x{size} {device}"
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    lib = theirs_module()
    with torch.no_grad():
        classes = model(images).argmax(1).tolist()
    module = dict(model.named_modules())[layer]
    results: dict[str, object] = {}

    def forward() -> None:
        with torch.no_grad():
            model(images)
        sync()

    def ours(method: str) -> Callable[[], None]:
        explainer = CAM_METHODS.get(method)(model, layer)

        def run() -> None:
            results[("wsol", method)] = explainer(images, classes, upsample="cv2-bilinear").maps.cpu()
            sync()

        return run

    def theirs(method: str) -> Callable[[], None]:
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

        targets = [ClassifierOutputTarget(c) for c in classes]

        def run() -> None:  # its hooks live from construction to release: keep them off the other timings
            cam = getattr(lib, THEIRS[method])(model=model, target_layers=[module])
            try:
                results[("pytorch-grad-cam", method)] = torch.from_numpy(cam(input_tensor=images, targets=targets))
            finally:
                cam.activations_and_grads.release()

        return run

    fns: dict[tuple[str, str], Callable[[], object]] = {("torch", "forward (no_grad)"): forward}
    for method in methods:
        fns[("wsol", method)] = ours(method)
        if lib is not None and method in THEIRS:
            fns[("pytorch-grad-cam", method)] = theirs(method)
    seconds = best_times(fns, repeat)  # type: ignore[arg-type]
    fwd = seconds[("torch", "forward (no_grad)")]
    rows = []
    for (impl, method), t in seconds.items():
        row = dict(setting=setting, method=method, impl=impl, seconds=t, ratio_to_forward=t / fwd)
        if impl == "pytorch-grad-cam":
            row["max_abs_diff"] = float((results[("wsol", method)] - results[(impl, method)]).abs().max())
        rows.append(row)
    return rows


def table(rows: list[dict]) -> str:
    """Markdown table of the rows, with our speed-up over pytorch-grad-cam where both ran."""
    ours = {(r["setting"], r["method"]): r["seconds"] for r in rows if r["impl"] == "wsol"}
    lines = [
        "| setting | method | implementation | seconds (min) | × forward | speed-up of wsol | max |Δmap| |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        speed = ""
        if r["impl"] == "pytorch-grad-cam" and (r["setting"], r["method"]) in ours:
            speed = f"{r['seconds'] / ours[(r['setting'], r['method'])]:.1f}×"
        diff = f"{r['max_abs_diff']:.1e}" if "max_abs_diff" in r else ""
        lines.append(
            f"| {r['setting']} | {r['method']} | {r['impl']} | {r['seconds']:.3f} | "
            f"{r['ratio_to_forward']:.2f} | {speed} | {diff} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = new_parser("tools/bench/explainers.py", __doc__.split("\n", 1)[0])
    parser.add_argument("--model", default="resnet50", help="torchvision architecture for the gradient CAMs")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--layer", default="layer4", help="target layer (default: last conv block of a ResNet)")
    parser.add_argument("--methods", default="gradcam,gradcam++", help="comma-separated CAM_METHODS names")
    parser.add_argument("--scorecam-model", default="resnet18", help="Score-CAM runs C masked forwards per image")
    parser.add_argument("--scorecam-batch", type=int, default=2)
    parser.add_argument("--scorecam-size", type=int, default=64)
    parser.add_argument("--no-scorecam", action="store_true")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per figure (the minimum is kept)")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads on CPU")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", help="also write the rows as JSON to this path")
    args = parser.parse_args(argv)
    import torch

    from wsol.cams import CAM_METHODS

    if args.repeat < 1 or args.batch < 1:
        parser.error("--repeat and --batch must be >= 1")
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    for m in methods:
        CAM_METHODS.get(m)  # unknown names fail listing the known ones
    torch.set_num_threads(args.threads)
    rows = bench_setting(args.model, args.batch, args.size, methods, args.repeat, args.device, args.layer)
    if not args.no_scorecam:
        rows += bench_setting(
            args.scorecam_model,
            args.scorecam_batch,
            args.scorecam_size,
            ["scorecam"],
            args.repeat,
            args.device,
            args.layer,
        )
    if theirs_module() is None:
        print(
            "pytorch-grad-cam is not installed: only wsol timings (pip install --no-deps grad-cam ttach scikit-learn)"
        )
    print(table(rows))
    if args.out:
        atomic_write_json(args.out, {"threads": args.threads, "torch": torch.__version__, "rows": rows})
    return 0


if __name__ == "__main__":
    from wsol.cli import run_main

    raise SystemExit(run_main("tools/bench/explainers.py", main))
