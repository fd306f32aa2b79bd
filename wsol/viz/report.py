"""A static, self-contained HTML report of an evaluation run: ``index.html`` + ``assets/`` (works offline).

Sections: the summary metrics of ``wsol evaluate`` (oracle threshold = best on the evaluated split, the protocol
of Choe et al., CVPR 2020, https://arxiv.org/abs/2001.07437; fixed threshold = chosen on val and carried over),
the BoxAcc-vs-threshold and pixel precision–recall curves, the failure taxonomy (:mod:`wsol.viz.taxonomy`),
per-class figures, and a gallery of every image that filters by class / failure / correctness and sorts by IoU,
class or image id with a few lines of inline JavaScript (no CDN). The filters live in the URL fragment, so
``index.html#cat=part%20only&sort=iou-desc`` opens a filtered view. Every string that comes from data is escaped.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from wsol.fileio import atomic_open, atomic_write_json, atomic_write_text
from wsol.viz.per_image import write_records
from wsol.viz.taxonomy import CATEGORIES, count_categories

METRIC_ROWS = [  # (label, oracle key, fixed key)
    ("Top-1 classification", "top1_cls", None),
    ("Top-5 classification", "top5_cls", None),
    ("MaxBoxAcc (v1, IoU 0.5)", "oracle/maxboxacc", "fixed/boxacc"),
    ("MaxBoxAccV2 (IoU 0.3/0.5/0.7)", "oracle/maxboxacc_v2", "fixed/boxacc_v2"),
    ("GT-known Loc", "oracle/gt_known_loc", "fixed/gt_known_loc"),
    ("Top-1 Loc", "oracle/top1_loc", "fixed/top1_loc"),
    ("Top-5 Loc", "oracle/top5_loc", "fixed/top5_loc"),
    ("PxAP (threshold-free)", "pxap", None),
    ("PIoU", "oracle/piou", "fixed/piou"),
    ("CAM threshold", "oracle/maxboxacc_threshold", "fixed/threshold"),
]
CATEGORY_COLORS = {
    "correct": "#2e9d4f",
    "wrong class": "#7a6fb0",
    "missed": "#d64545",
    "several instances": "#e08a1e",
    "too large": "#c9a400",
    "part only": "#2f7fd1",
    "misplaced": "#c2569b",
}

CSS = """
*{box-sizing:border-box}body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;
background:#f4f5f7;color:#1d2330}header{background:#1d2330;color:#fff;padding:18px 32px}header h1{margin:0;
font-size:22px}header p{margin:4px 0 0;color:#b8c0d0;font-size:13px}main{max-width:1240px;margin:0 auto;
padding:16px 24px 48px}section{background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.08);
padding:14px 20px;margin:16px 0}h2{font-size:16px;margin:0 0 10px}.row{display:flex;flex-wrap:wrap;gap:20px;
align-items:flex-start}.row>div{flex:1 1 340px;min-width:0}table{border-collapse:collapse;width:100%;
font-size:13px}th,td{padding:4px 8px;border-bottom:1px solid #e5e7eb;text-align:right}th:first-child,
td:first-child{text-align:left}th{background:#f8f9fb;font-weight:600}td.num{font-variant-numeric:tabular-nums}
.note{color:#5b6475;font-size:12px;margin:6px 0 0}.curves img{width:100%;max-width:480px;height:auto;
border:1px solid #e5e7eb;border-radius:4px}.bar{height:12px;border-radius:3px;min-width:1px}
.bars td:nth-child(4){width:40%;text-align:left}
tr.pick{cursor:pointer}tr.pick:hover{background:#f1f5ff}.controls{display:flex;flex-wrap:wrap;gap:14px;
align-items:center;margin-bottom:12px}.controls select{font:inherit;padding:3px 6px}#shown{margin-left:auto;
color:#5b6475}.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:10px}
.card{margin:0;background:#fafbfc;border:1px solid #e5e7eb;border-radius:6px;padding:6px;font-size:12px}
.card img{width:100%;max-width:160px;height:auto;aspect-ratio:1/1;display:block;margin:0 auto;border-radius:4px}
.card figcaption{margin-top:4px}
.badge{display:inline-block;color:#fff;border-radius:3px;padding:0 4px;font-size:10.5px;font-weight:600}
.id{color:#6b7280;word-break:break-all;font-size:11px}.card[hidden]{display:none}.free{color:#8a93a3}
.cap{display:flex;justify-content:space-between;align-items:center;gap:4px;white-space:nowrap;
margin-bottom:2px}.legend{display:flex;flex-wrap:wrap;gap:4px 14px;margin:6px 0 0;padding:0;list-style:none;
font-size:13px}.legend li{display:flex;align-items:center;gap:6px}.legend i{display:inline-block;width:26px;
height:0;border-top:2px solid}
@media (max-width:640px){header{padding:12px 14px}header h1{font-size:18px;word-break:break-word}main{padding:8px}
section{padding:10px 12px}.grid{gap:8px}}
"""

JS = """
(function(){
var g=document.getElementById('gallery'),cards=Array.prototype.slice.call(g.children);
function $(i){return document.getElementById(i);}
var orders={'iou-asc':function(a,b){return a.dataset.iou-b.dataset.iou||a.dataset.idx-b.dataset.idx;},
'iou-desc':function(a,b){return b.dataset.iou-a.dataset.iou||a.dataset.idx-b.dataset.idx;},
'class':function(a,b){return a.dataset.cname.localeCompare(b.dataset.cname)||a.dataset.iou-b.dataset.iou;},
'id':function(a,b){return a.dataset.id.localeCompare(b.dataset.id);},
'index':function(a,b){return a.dataset.idx-b.dataset.idx;}};
function apply(){
var c=$('f-class').value,k=$('f-cat').value,r=$('f-ok').value.split(':'),n=0;
cards.slice().sort(orders[$('sort').value]).forEach(function(el){
var d=el.dataset,ok=(!c||d.cls===c)&&(!k||d.cat===k)&&(r.length<2||d[r[0]]===r[1]);
el.hidden=!ok;if(ok){n++;}g.appendChild(el);});
$('shown').textContent=n+' of '+cards.length+' images';}
var keys={'class':'f-class','cat':'f-cat','ok':'f-ok','sort':'sort'};
function toHash(){var h=[];for(var k in keys){if($(keys[k]).value){h.push(k+'='+encodeURIComponent($(keys[k]).value));}}
try{history.replaceState(null,'','#'+h.join('&'));}catch(e){}}
location.hash.slice(1).split('&').forEach(function(kv){var p=kv.split('=');
if(p.length===2&&keys[p[0]]){$(keys[p[0]]).value=decodeURIComponent(p[1]);}});
['f-class','f-cat','f-ok','sort'].forEach(function(i){$(i).addEventListener('change',function(){apply();toHash();});});
Array.prototype.forEach.call(document.querySelectorAll('tr.pick'),function(tr){
tr.addEventListener('click',function(){$('f-cat').value=tr.dataset.cat;apply();toHash();
$('gallery-section').scrollIntoView();});});
apply();})();
"""


def esc(value: Any) -> str:
    """HTML-escape anything (quotes too, so it is safe inside attributes)."""
    return html.escape(str(value), quote=True)


def _fmt(value: Any, digits: int = 2) -> str:
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else "–"


def metrics_table(evaluation: dict[str, Any], split: str) -> str:
    """Oracle vs fixed-threshold rows (rows absent from the evaluation are left out)."""
    src = evaluation.get("fixed_threshold_from") or "val"
    rows = [
        f"<tr><th>metric</th><th>oracle (best threshold on {esc(split)})</th>"
        f"<th>fixed (threshold chosen on {esc(src)})</th></tr>"
    ]
    for label, oracle, fixed in METRIC_ROWS:
        o, f = evaluation.get(oracle), evaluation.get(fixed) if fixed else None
        if o is None and f is None:
            continue
        digits = 2 if "threshold" not in (oracle or "") else 3
        # threshold-free figures (classification, PxAP) are the same in both columns
        fixed_cell = _fmt(f, digits) if fixed else f'<span class="free">{_fmt(o, digits)}</span>'
        rows.append(
            f'<tr><td>{esc(label)}</td><td class="num">{_fmt(o, digits)}</td><td class="num">{fixed_cell}</td></tr>'
        )
    return "<table>" + "".join(rows) + "</table>"


def taxonomy_table(records: Sequence[dict[str, Any]]) -> str:
    """Counts per failure category with a CSS bar; clicking a row filters the gallery."""
    counts = count_categories([r["category"] for r in records])
    total = max(len(records), 1)
    rows = ["<tr><th>category</th><th>images</th><th>share</th><th></th></tr>"]
    for name, n in counts.items():
        share = 100.0 * n / total
        rows.append(
            f'<tr class="pick" data-cat="{esc(name)}"><td>{esc(name)}</td><td class="num">{n}</td>'
            f'<td class="num">{share:.1f}%</td><td><div class="bar" style="width:{share:.1f}%;'
            f'background:{CATEGORY_COLORS.get(name, "#888")}"></div></td></tr>'
        )
    return '<table class="bars">' + "".join(rows) + "</table>"


def class_table(records: Sequence[dict[str, Any]]) -> str:
    """Per GT class: images, top-1 classification, GT-known Loc and Top-1 Loc (percent, at the gallery threshold)."""
    by_class: dict[int, list[dict[str, Any]]] = {}
    for r in records:
        by_class.setdefault(int(r["label"]), []).append(r)
    rows = [
        "<tr><th>class</th><th>images</th><th>top-1 cls</th><th>GT-known loc</th><th>top-1 loc</th>"
        "<th>mean IoU</th></tr>"
    ]
    for label in sorted(by_class):
        rs = by_class[label]
        pct = [100.0 * sum(bool(r[k]) for r in rs) / len(rs) for k in ("class_correct", "loc_correct")]
        top1 = 100.0 * sum(r["category"] == "correct" for r in rs) / len(rs)
        iou = sum(r["iou"] for r in rs) / len(rs)
        rows.append(
            f'<tr><td>{esc(rs[0]["class_name"])}</td><td class="num">{len(rs)}</td><td class="num">'
            f'{pct[0]:.1f}</td><td class="num">{pct[1]:.1f}</td><td class="num">{top1:.1f}</td>'
            f'<td class="num">{iou:.3f}</td></tr>'
        )
    return "<table>" + "".join(rows) + "</table>"


def gallery_sample(records: Sequence[dict[str, Any]], limit: int) -> list[int]:
    """Dataset indices of at most ``limit`` images for the gallery, stratified by failure category: each category
    gets a share proportional to its size (at least one image), spread evenly over its images in dataset order."""
    if limit <= 0 or limit >= len(records):
        return sorted(int(r["index"]) for r in records)
    by_cat: dict[str, list[int]] = {}
    for r in sorted(records, key=lambda r: r["index"]):
        by_cat.setdefault(r["category"], []).append(int(r["index"]))
    quota = {c: min(len(v), max(1, limit * len(v) // len(records))) for c, v in by_cat.items()}
    while sum(quota.values()) > limit:  # the minimum of one per category can overshoot a tiny limit
        quota[max(quota, key=quota.get)] -= 1
    picked = []
    for c, members in by_cat.items():
        if quota[c]:
            picked += [members[k] for k in np.unique(np.linspace(0, len(members) - 1, quota[c]).round().astype(int))]
    return sorted(picked)


def _card(r: dict[str, Any], thumb_prefix: str) -> str:
    cat = r["category"]
    attrs = (
        f'data-idx="{int(r["index"])}" data-cls="{int(r["label"])}" data-cname="{esc(r["class_name"])}" '
        f'data-cat="{esc(cat)}" data-iou="{float(r["iou"]):.4f}" data-id="{esc(r["image_id"])}" '
        f'data-loc="{int(cat == "correct")}" data-box="{int(bool(r["loc_correct"]))}" '
        f'data-clsok="{int(bool(r["class_correct"]))}"'
    )
    img = ""
    if r.get("thumb"):
        img = (
            f'<img src="{esc(thumb_prefix + r["thumb"])}" alt="{esc(r["image_id"])}" loading="lazy" '
            f'width="160" height="160">'
        )
    pred = "" if r["class_correct"] else f" → {esc(r['pred_name'])}"
    return (
        f'<figure class="card" {attrs}>{img}<figcaption><div class="cap"><span class="badge" '
        f'style="background:{CATEGORY_COLORS.get(cat, "#888")}">{esc(cat)}</span><b>IoU {float(r["iou"]):.2f}'
        f"</b></div>"
        f'{esc(r["class_name"])}{pred} ({float(r["score"]):.2f})<br><span class="id">{esc(r["image_id"])}'
        f"</span></figcaption></figure>"
    )


def _controls(records: Sequence[dict[str, Any]]) -> str:
    classes = sorted({(int(r["label"]), r["class_name"]) for r in records})
    cls = "".join(f'<option value="{c}">{esc(name)}</option>' for c, name in classes)
    cats = "".join(f'<option value="{esc(c)}">{esc(c)}</option>' for c in CATEGORIES)
    ok = [
        ("", "all"),
        ("loc:1", "top-1 loc correct"),
        ("loc:0", "top-1 loc wrong"),
        ("box:1", "box right (IoU ≥ 0.5)"),
        ("box:0", "box wrong (IoU < 0.5)"),
        ("clsok:1", "class right"),
        ("clsok:0", "class wrong"),
    ]
    oks = "".join(f'<option value="{v}">{esc(t)}</option>' for v, t in ok)
    sorts = [
        ("iou-asc", "IoU, worst first"),
        ("iou-desc", "IoU, best first"),
        ("class", "class"),
        ("id", "image id"),
        ("index", "dataset order"),
    ]
    srt = "".join(f'<option value="{v}">{esc(t)}</option>' for v, t in sorts)
    return (
        f'<div class="controls"><label>Class <select id="f-class"><option value="">all</option>{cls}'
        f'</select></label><label>Failure <select id="f-cat"><option value="">all</option>{cats}</select>'
        f'</label><label>Result <select id="f-ok">{oks}</select></label><label>Sort <select id="sort">'
        f'{srt}</select></label><span id="shown"></span></div>'
    )


def _check(records: Sequence[dict[str, Any]], evaluation: dict[str, Any] | None, threshold: float) -> str:
    """The per-image GT-known / Top-1 Loc rates next to the evaluator's (equal when the thresholds match)."""
    n = max(len(records), 1)
    known = 100.0 * sum(bool(r["loc_correct"]) for r in records) / n
    top1 = 100.0 * sum(r["category"] == "correct" for r in records) / n
    text = (
        f"At CAM threshold {threshold:.2f}: GT-known Loc {known:.2f}%, Top-1 Loc {top1:.2f}% over {len(records)} images"
    )
    if (
        evaluation
        and isinstance(evaluation.get("fixed/threshold"), (int, float))
        and abs(evaluation["fixed/threshold"] - threshold) < 1e-9
    ):
        text += (
            f" (evaluation: {_fmt(evaluation.get('fixed/gt_known_loc'))}% and "
            f"{_fmt(evaluation.get('fixed/top1_loc'))}%)"
        )
    return f'<p class="note">{esc(text)}.</p>'


def render_html(
    records: Sequence[dict[str, Any]],
    evaluation: dict[str, Any] | None,
    meta: dict[str, Any],
    curve_files: Sequence[str] = (),
    thumb_prefix: str = "assets/thumbs/",
) -> str:
    """The whole page as a string; ``curve_files`` and thumbnails are paths relative to ``index.html``."""
    split, threshold = str(meta.get("split", "?")), float(meta["threshold"])
    title = f"WSOL evaluation report — {meta.get('checkpoint', '?')} on {split}"
    sub = (
        f"{len(records)} images · data {meta.get('data', '?')} · gallery threshold {threshold:.2f} "
        f"({meta.get('threshold_source', '?')}) · generated {meta.get('generated', '')}"
    )
    parts = [
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
        f'content="width=device-width, initial-scale=1"><title>{esc(title)}</title><style>{CSS}</style>'
        f"</head><body><header><h1>{esc(title)}</h1><p>{esc(sub)}</p></header><main>"
    ]
    summary = metrics_table(evaluation, split) if evaluation else '<p class="note">no evaluation figures</p>'
    parts.append(
        f'<section><div class="row"><div><h2>Summary metrics</h2>{summary}<p class="note">'
        "oracle: the CAM threshold that is best on this split (wsolevaluation's protocol, optimistic); "
        "fixed: the threshold chosen on val and applied here (what a user gets). Percent.</p>"
        f"{_check(records, evaluation, threshold)}</div><div><h2>Failure taxonomy</h2>"
        f'{taxonomy_table(records)}<p class="note">Precedence: wrong class, correct (IoU ≥ 0.5), missed, '
        "several instances, too large, part only, misplaced. Click a row to filter the gallery.</p>"
        "</div></div></section>"
    )
    if curve_files:
        imgs = "".join(
            f'<div><img src="{esc(f)}" alt="{esc(Path(f).stem)}">'
            f"{_legend(evaluation or {}) if Path(f).stem == 'boxacc' else ''}</div>"
            for f in curve_files
        )
        parts.append(f'<section class="curves"><h2>Curves</h2><div class="row">{imgs}</div></section>')
    shown = [r for r in records if r.get("thumb")] or list(records)
    cards = "".join(_card(r, thumb_prefix) for r in shown)
    sample = (
        ""
        if len(shown) == len(records)
        else (f'<p class="note">A sample of {len(shown)} of {len(records)} images, stratified by failure category.</p>')
    )
    parts.append(
        f'<section id="gallery-section"><h2>Gallery</h2>{sample}{_controls(shown)}<div id="gallery" '
        f'class="grid">{cards}</div><p class="note">Green: GT boxes; red: the MaxBoxAcc box at the '
        "threshold with its IoU; cyan: GT mask outline; heatmap: the GT-class map. Per-image data: "
        '<a href="assets/per_image.json">per_image.json</a>.</p></section>'
    )
    parts.append(f"<section><h2>Per class</h2>{class_table(records)}</section>")
    parts.append(f"</main><script>{JS}</script></body></html>\n")
    return "".join(parts)


BOXACC_COLORS = {"30": "#2f7fd1", "50": "#e08a1e", "70": "#2e9d4f"}
THRESHOLD_MARKS = (("oracle/maxboxacc_threshold", "#2e9d4f", "oracle"), ("fixed/threshold", "#d64545", "fixed"))


def boxacc_series(evaluation: dict[str, Any]) -> list[tuple[str | None, str, str, str]]:
    """(curve key or None for a threshold mark, label, colour, line style) of the BoxAcc plot, in legend order;
    shared by the plot and the HTML legend under it (which stays readable at any page width)."""
    curves = evaluation.get("curves") or {}
    out: list[tuple[str | None, str, str, str]] = []
    for key in sorted(k for k in curves if k.startswith("boxacc_")):
        version, iou = key.split("_")[1], key.split("iou")[-1]
        out.append(
            (
                key,
                f"{version} IoU {int(iou) / 100:.1f}",
                BOXACC_COLORS.get(iou, "#555555"),
                "solid" if version == "v1" else "dashed",
            )
        )
    for key, color, name in THRESHOLD_MARKS:
        if isinstance(evaluation.get(key), (int, float)):
            out.append((None, f"{name} τ={evaluation[key]:.2f}", color, "dotted"))
    return out


def _legend(evaluation: dict[str, Any]) -> str:
    items = "".join(
        f'<li><i style="border-top-color:{c};border-top-style:{ls}"></i>{esc(label)}</li>'
        for _, label, c, ls in boxacc_series(evaluation)
    )
    return f'<ul class="legend">{items}</ul>'


def plot_curves(evaluation: dict[str, Any], assets: Path) -> list[Path]:
    """BoxAcc-vs-threshold (v1 and v2 at each IoU, oracle and fixed thresholds marked) and pixel PR plots."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves, out = evaluation.get("curves") or {}, []
    if "thresholds" in curves and any(k.startswith("boxacc_") for k in curves):
        fig, ax = plt.subplots(figsize=(4.6, 3.3))  # no legend inside: the page lists it under the image
        marks = {name: key for key, _, name in THRESHOLD_MARKS}
        for key, label, color, style in boxacc_series(evaluation):
            if key is not None:
                ax.plot(curves["thresholds"], curves[key], lw=1.3, ls=style, color=color, label=label)
            else:
                ax.axvline(evaluation[marks[label.split(" ")[0]]], color=color, lw=1, ls=style, label=label)
        ax.set(xlabel="CAM threshold τ", ylabel="BoxAcc (%)", title="BoxAcc vs CAM threshold", ylim=(0, 101))
        ax.grid(alpha=0.3)
        out.append(_save(fig, assets / "boxacc.png"))
    if "pr_precision" in curves and "pr_recall" in curves:
        fig, ax = plt.subplots(figsize=(3.9, 3.3))
        ax.plot(curves["pr_recall"], curves["pr_precision"], lw=1.4, color="#2f7fd1")
        ax.set(
            xlabel="recall",
            ylabel="precision",
            xlim=(0, 1),
            ylim=(0, 1.02),
            title=f"pixel precision–recall (PxAP {_fmt(evaluation.get('pxap'))})",
        )
        ax.grid(alpha=0.3)
        out.append(_save(fig, assets / "pr.png"))
    plt.close("all")
    return out


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format="png", dpi=200)  # sharp when a wide page shows it at full size (2x screens too)
    return path


def write_report(
    out_dir: str | Path, records: Sequence[dict[str, Any]], evaluation: dict[str, Any] | None, meta: dict[str, Any]
) -> Path:
    """Write ``index.html``, curve PNGs, ``assets/per_image.json`` and ``assets/evaluation.json``; thumbnails
    must already be in ``assets/thumbs`` (see :func:`wsol.viz.per_image.analyse_split`). Returns index.html."""
    out = Path(out_dir)
    assets = out / "assets"
    assets.mkdir(parents=True, exist_ok=True)
    write_records(assets / "per_image.json", list(records), meta)
    curve_files: list[str] = []
    if evaluation:
        atomic_write_json(assets / "evaluation.json", evaluation)
        curve_files = [p.relative_to(out).as_posix() for p in plot_curves(evaluation, assets)]
    index = out / "index.html"
    atomic_write_text(index, render_html(records, evaluation, meta, curve_files))
    return index
