"""Human and machine outputs of an evaluation: a text table, a JSON file of every figure, PNG curve plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wsol.fileio import atomic_open, atomic_write_json

_ROWS = [  # (label, oracle key, fixed key)
    ("Top-1 cls", "top1_cls", None),
    ("Top-5 cls", "top5_cls", None),
    ("MaxBoxAcc (v1, IoU 50)", "oracle/maxboxacc", "fixed/boxacc"),
    ("MaxBoxAccV2 (mean IoU)", "oracle/maxboxacc_v2", "fixed/boxacc_v2"),
    ("  BoxAcc V2 IoU 30", "oracle/maxboxacc_v2_iou30", "fixed/boxacc_v2_iou30"),
    ("  BoxAcc V2 IoU 50", "oracle/maxboxacc_v2_iou50", "fixed/boxacc_v2_iou50"),
    ("  BoxAcc V2 IoU 70", "oracle/maxboxacc_v2_iou70", "fixed/boxacc_v2_iou70"),
    ("GT-known Loc", "oracle/gt_known_loc", "fixed/gt_known_loc"),
    ("Top-1 Loc", "oracle/top1_loc", "fixed/top1_loc"),
    ("Top-5 Loc", "oracle/top5_loc", "fixed/top5_loc"),
    ("PxAP (threshold-free)", "pxap", None),
    ("PIoU", "oracle/piou", "fixed/piou"),
    ("CAM threshold (MaxBoxAcc)", "oracle/maxboxacc_threshold", "fixed/threshold"),
    ("CAM threshold (PIoU)", "oracle/piou_threshold", "fixed/piou_threshold"),
]


def _fmt(value: Any) -> str:
    return f"{value:8.3f}" if isinstance(value, (int, float)) else f"{'-':>8}"


def format_table(result: dict[str, Any], split: str, fixed_from: str | None = None) -> str:
    """Rows of every reported figure; 'oracle' = threshold chosen on this split, 'fixed' = carried in."""
    fixed_label = f"fixed ({fixed_from})" if fixed_from else "fixed"
    header = f"{'metric':<28}{'oracle (' + split + ')':>18}{fixed_label:>18}"
    lines = [header, "-" * len(header)]
    for label, oracle_key, fixed_key in _ROWS:
        oracle = result.get(oracle_key)
        fixed = result.get(fixed_key) if fixed_key else None
        if oracle is None and fixed is None:
            continue
        lines.append(f"{label:<28}{_fmt(oracle):>18}{_fmt(fixed):>18}")
    lines.append(
        f"images: {result.get('num_images', '?')}, cam_curve_interval: {result.get('cam_curve_interval')}, "
        f"protocol: {result.get('protocol')}"
    )
    return "\n".join(lines)


def write_outputs(
    result: dict[str, Any], out_dir: str | Path, stem: str = "evaluation", plots: bool = True
) -> list[Path]:
    """Write ``<stem>.json`` (every figure and curve) and, with ``plots``, the curve plots atomically; return
    the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"{stem}.json"
    atomic_write_json(json_path, result)
    paths = [json_path]
    curves = (result.get("curves") or {}) if plots else {}
    if any(k.startswith("boxacc_") for k in curves):
        paths.append(_plot_boxacc(curves, result, out_dir / f"{stem}_boxacc.png"))
    if "pr_precision" in curves:
        paths.append(_plot_pr(curves, result, out_dir / f"{stem}_pxap_pr.png"))
    return paths


def _save(fig, path: Path) -> Path:
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format="png", dpi=120, bbox_inches="tight")
    return path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def boxacc_figure(curves: dict[str, Any], result: dict[str, Any]):
    """A matplotlib figure of BoxAcc vs CAM threshold (one line per IoU; the fixed threshold dashed)."""
    fig, ax = _pyplot().subplots(figsize=(6, 4))
    for key, values in curves.items():
        if key.startswith("boxacc_"):
            ax.plot(
                curves["thresholds"],
                values,
                label=key.replace("boxacc_", "").replace("_", " IoU ").replace("IoU iou", "IoU "),
            )
    if "fixed/threshold" in result:
        ax.axvline(result["fixed/threshold"], color="k", ls="--", lw=1, label="fixed threshold")
    ax.set_xlabel("CAM threshold")
    ax.set_ylabel("BoxAcc (%)")
    ax.set_title("BoxAcc vs CAM threshold")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return fig


def pr_figure(curves: dict[str, Any], result: dict[str, Any]):
    """A matplotlib figure of the pixel precision-recall curve behind PxAP."""
    fig, ax = _pyplot().subplots(figsize=(5, 5))
    ax.plot(curves["pr_recall"], curves["pr_precision"], marker=".", ms=2)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(f"pixel precision-recall (PxAP = {result.get('pxap', float('nan')):.2f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    return fig


def _plot_boxacc(curves: dict[str, Any], result: dict[str, Any], path: Path) -> Path:
    fig = boxacc_figure(curves, result)
    out = _save(fig, path)
    _pyplot().close(fig)
    return out


def _plot_pr(curves: dict[str, Any], result: dict[str, Any], path: Path) -> Path:
    fig = pr_figure(curves, result)
    out = _save(fig, path)
    _pyplot().close(fig)
    return out
