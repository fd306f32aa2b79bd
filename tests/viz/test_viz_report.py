"""Per-image records agree with the evaluator; the HTML report is well-formed, self-contained and escaped."""

from __future__ import annotations

import dataclasses
import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from wsol.data.records import collate_samples
from wsol.evaluation import evaluate_model
from wsol.localization import threshold_list
from wsol.models import Localization
from wsol.viz.per_image import analyse_split, snap_threshold
from wsol.viz.report import render_html
from wsol.viz.source import open_source
from wsol.viz.taxonomy import CATEGORIES

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class TagChecker(HTMLParser):
    """Every non-void tag closed in order; collects src/href values."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.links += [v for k, v in attrs if k in ("src", "href") and v]
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in VOID:
            self.errors.append(f"end tag for void element {tag}")
        elif not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
        else:
            self.stack.pop()


def check_html(text: str) -> TagChecker:
    checker = TagChecker()
    checker.feed(text)
    checker.close()
    assert not checker.errors, checker.errors[:5]
    assert not checker.stack, f"unclosed tags: {checker.stack}"
    return checker


@pytest.fixture(scope="module")
def source(viz_checkpoint, viz_data):
    return open_source(viz_checkpoint, viz_data, "test")


class Replay(torch.nn.Module):
    """The tiny model's logits with maps replayed in dataset order: a soft blob on each image's first GT box,
    shifted by a few pixels per image so that the IoUs spread around 0.5 (a random model never reaches 0.5)."""

    def __init__(self, base: torch.nn.Module, dataset) -> None:
        super().__init__()
        self.base, self.num_classes, self.cursor = base, base.num_classes, 0
        yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
        maps = []
        for i in range(len(dataset)):
            x0, y0, x1, y1 = dataset[i]["boxes"][0].tolist()
            s = 4.0 * (i % 5) - 6
            cx, cy, w, h = (x0 + x1) / 2 + s, (y0 + y1) / 2 - s / 2, (x1 - x0) / 2, (y1 - y0) / 2
            maps.append(torch.exp(-(((xx - cx) / w) ** 2 + ((yy - cy) / h) ** 2) * 1.5))
        self.maps = torch.stack(maps)

    def localize(self, images, classes=None, topk=1):
        loc = self.base.localize(images, classes, topk)
        maps = self.maps[self.cursor : self.cursor + len(images)]
        self.cursor = (self.cursor + len(images)) % len(self.maps)
        return Localization(loc.logits, loc.classes, maps[:, None])


@pytest.mark.parametrize("kind,threshold", [("tiny", 0.33), ("replay", 0.2), ("replay", 0.3), ("replay", 0.4)])
def test_per_image_records_match_the_evaluator(source, kind, threshold):
    if kind == "replay":
        source = dataclasses.replace(source, model=Replay(source.model, source.dataset))
    records = analyse_split(source, threshold, batch_size=4, progress=False)
    loader = DataLoader(source.dataset, batch_size=5, collate_fn=collate_samples)  # other batching on purpose
    deltas = (10, 20, 30, 40, 50)
    result = evaluate_model(
        source.model, loader, fixed_threshold=threshold, iou_thresholds=deltas, with_curves=True, progress=False
    )
    assert [r["index"] for r in records] == list(range(len(source.dataset)))
    iou = np.array([r["iou"] for r in records])
    assert result["fixed/threshold"] == snap_threshold(threshold) == records[0]["threshold"]
    assert 100 * np.mean(iou >= 0.5) == pytest.approx(result["fixed/gt_known_loc"])
    assert 100 * np.mean([r["category"] == "correct" for r in records]) == pytest.approx(result["fixed/top1_loc"])
    assert 100 * np.mean([r["class_correct"] for r in records]) == pytest.approx(result["top1_cls"])
    assert 100 * np.mean([r["top5_correct"] for r in records]) == pytest.approx(result["top5_cls"])
    # the whole IoU distribution, not only the 0.5 cut: BoxAcc v1 at every delta of the evaluator's curves
    j = int(np.argmin(np.abs(threshold_list(0.01) - threshold)))
    for delta in deltas:
        assert 100 * np.mean(iou >= delta / 100) == pytest.approx(result["curves"][f"boxacc_v1_iou{delta}"][j])
    assert 0 < iou.max() and len({round(v, 6) for v in iou}) > 3  # a non-trivial spread was compared
    if kind == "replay":
        assert 0 < result["fixed/gt_known_loc"] < 100  # both sides of the 0.5 cut occur
    assert {r["category"] for r in records} <= set(CATEGORIES)


@pytest.fixture(scope="module")
def report_dir(viz_checkpoint, viz_data, tmp_path_factory):
    from wsol.cli.report import main

    out = tmp_path_factory.mktemp("report") / "rep"
    assert (
        main(
            [
                "--checkpoint",
                str(viz_checkpoint),
                "--data",
                str(viz_data),
                "--out",
                str(out),
                "--batch-size",
                "4",
                "--no-progress",
            ]
        )
        == 0
    )
    return out


def test_report_is_well_formed_and_self_contained(report_dir):
    index = report_dir / "index.html"
    text = index.read_text(encoding="utf-8")
    links = check_html(text).links
    root = report_dir.resolve()
    thumbs = [link for link in links if link.startswith("assets/thumbs/")]
    assert len(thumbs) == 9 and any(link.endswith("boxacc.png") for link in links)
    for link in links:
        assert "://" not in link and not link.startswith("/"), f"non-local reference {link}"
        target = (report_dir / link).resolve()
        assert target.is_relative_to(root) and target.is_file(), f"{link} missing or outside the report"
    data = json.loads((report_dir / "assets" / "per_image.json").read_text())
    assert len(data["records"]) == 9 and data["meta"]["threshold"] == pytest.approx(0.3)  # the stored one
    assert "stored in the checkpoint" in data["meta"]["threshold_source"]
    evaluation = json.loads((report_dir / "assets" / "evaluation.json").read_text())
    assert evaluation["fixed/threshold"] == pytest.approx(0.3) and "curves" in evaluation


def test_class_names_and_ids_are_escaped(report_dir):
    records = json.loads((report_dir / "assets" / "per_image.json").read_text())["records"]
    evil = '<script>alert("x")</script>'
    records[0]["class_name"] = evil
    records[1]["image_id"] = 'a"><img src=x onerror=alert(1)>'
    text = render_html(records, {"top1_cls": 50.0, "split": "test"}, {"threshold": 0.3, "checkpoint": evil})
    assert evil not in text and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in text
    assert "<img src=x" not in text
    assert check_html(text).links.count("x") == 0
    assert text.count("<script>") == 1  # only the page's own filter script


def test_report_refuses_an_evaluation_of_another_split(viz_checkpoint, viz_data, tmp_path):
    from wsol.cli.report import main

    bad = tmp_path / "evaluation.json"
    bad.write_text(json.dumps({"top1_cls": 1.0, "split": "val"}))
    with pytest.raises(SystemExit, match="evaluates split 'val'"):
        main(["--checkpoint", str(viz_checkpoint), "--data", str(viz_data), "--evaluation", str(bad)])


@pytest.mark.skipif(
    shutil.which("chromium") is None and not Path("/usr/bin/chromium").is_file(), reason="Chromium is not installed"
)
def test_report_renders_in_headless_chromium(report_dir, tmp_path):
    import cv2

    from wsol.viz.browser import screenshot

    png = screenshot(report_dir / "index.html", tmp_path / "shot.png", width=900, height=900)
    img = cv2.imread(str(png))
    assert img.shape[:2] == (900, 900)
    # not blank: the dark header, white sections and coloured thumbnails/bars give many distinct colours
    assert img.std() > 20 and len(np.unique(img.reshape(-1, 3), axis=0)) > 200
    assert (img[:40].mean(axis=(0, 1)) < 80).all()  # the dark header band rendered at the top


@pytest.mark.skipif(
    shutil.which("chromium") is None and not Path("/usr/bin/chromium").is_file(), reason="Chromium is not installed"
)
def test_report_filters_run_in_headless_chromium(report_dir):
    import re

    from wsol.viz.browser import dump_dom

    records = json.loads((report_dir / "assets" / "per_image.json").read_text())["records"]
    label = records[0]["label"]
    url = (report_dir / "index.html").resolve().as_uri() + f"#class={label}&sort=iou-desc"
    dom = dump_dom(url)
    cards = re.findall(r'<figure class="card"([^>]*)>', dom)
    shown = [c for c in cards if " hidden" not in c]
    expected = sorted((r for r in records if r["label"] == label), key=lambda r: (-round(r["iou"], 4), r["index"]))
    assert len(cards) == len(records) and 0 < len(shown) < len(cards)
    assert [int(re.search(r'data-idx="(\d+)"', c).group(1)) for c in shown] == [r["index"] for r in expected]
    assert f"{len(shown)} of {len(records)} images" in dom  # the script's counter


# the report runs in an iframe of the wanted width (headless Chromium keeps windows at least 500 px wide); its
# probe writes the measured layout onto the outer page, which --dump-dom returns
LAYOUT_PROBE = """<script>window.addEventListener('load',function(){
var imgs=[].slice.call(document.querySelectorAll('.card img')).map(function(i){var r=i.getBoundingClientRect();
return [r.width,r.height,i.naturalWidth,i.naturalHeight];});
var leg=document.querySelector('.legend li');var box=document.querySelector('.curves img').getBoundingClientRect();
parent.document.body.setAttribute('data-probe',JSON.stringify({scroll:document.documentElement.scrollWidth,
view:window.innerWidth,imgs:imgs,legend:leg?parseFloat(getComputedStyle(leg).fontSize):0,curve:box.width}));});
</script></body>"""


@pytest.mark.skipif(
    shutil.which("chromium") is None and not Path("/usr/bin/chromium").is_file(),
    reason="Chromium is not installed (Debian: apt-get install chromium)",
)
@pytest.mark.parametrize("width", [1400, 420])
def test_report_layout_in_headless_chromium_at_desktop_and_phone_width(report_dir, tmp_path, width):
    import html
    import re

    import cv2

    from wsol.viz.browser import dump_dom, screenshot

    page = (report_dir / "index.html").read_text(encoding="utf-8").replace("</body>", LAYOUT_PROBE)
    probe = report_dir / f"probe_{width}.html"
    probe.write_text(
        f'<!DOCTYPE html><html><body style="margin:0"><iframe width="{width}" height="1400" '
        f'style="border:0" srcdoc="{html.escape(page)}"></iframe></body></html>',
        encoding="utf-8",
    )
    dom = dump_dom(probe.resolve().as_uri(), width=max(width, 500) + 40)
    m = json.loads(re.search(r'data-probe="([^"]*)"', dom).group(1).replace("&quot;", '"'))
    assert m["view"] == width and m["scroll"] <= width  # nothing wider than the window: no sideways scrolling
    assert len(m["imgs"]) == 9 and any(nw for _, _, nw, _ in m["imgs"])
    for w, h, nw, nh in m["imgs"]:
        assert 100 <= w <= 160.5 and abs(w - h) < 0.5  # never upscaled past the 160 px thumbnail, never squashed
        assert not nw or (nw, nh) == (160, 160)
    assert m["legend"] >= 12  # the BoxAcc legend is page text, readable at any width
    assert m["curve"] <= min(480, width)
    png = screenshot(report_dir / "index.html", tmp_path / f"shot_{width}.png", width=width, height=1400)
    img = cv2.imread(str(png))
    assert img.shape[:2] == (1400, width) and img.std() > 20


def test_report_uses_the_quickstart_evaluation_only_when_it_is_of_this_checkpoint(viz_checkpoint, viz_data, tmp_path):
    from wsol.cli.report import main

    ckpt = tmp_path / "train" / "best.pt"
    ckpt.parent.mkdir()
    shutil.copy(viz_checkpoint, ckpt)
    found = tmp_path / "eval_test" / "evaluation.json"  # where `wsol quickstart` writes it
    found.parent.mkdir()
    for named, expected in (("train/last.pt", 0.3), ("train/best.pt", 0.5)):
        found.write_text(
            json.dumps(
                {
                    "top1_cls": 12.5,
                    "split": "test",
                    "fixed/threshold": 0.5,
                    "fixed_threshold_from": "val",
                    "checkpoint": str(tmp_path / named),
                }
            )
        )
        out = tmp_path / f"rep_{expected}"
        assert main(["--checkpoint", str(ckpt), "--data", str(viz_data), "--out", str(out), "--no-progress"]) == 0
        meta = json.loads((out / "assets" / "per_image.json").read_text())["meta"]
        assert meta["threshold"] == pytest.approx(expected)  # last.pt's figures are ignored: stored threshold
        used = json.loads((out / "assets" / "evaluation.json").read_text())
        assert (used["top1_cls"] == 12.5) == (expected == 0.5)


def test_gallery_sample_is_stratified_by_category():
    from wsol.viz.report import gallery_sample

    cats = ["correct"] * 10 + ["missed"] * 1 + ["part only"] * 5
    records = [{"index": i, "category": c} for i, c in enumerate(cats)]
    picked = gallery_sample(records, 6)
    # shares 6*10//16 = 3, max(1, 0) = 1, 6*5//16 = 1; evenly spread within each category
    assert picked == [0, 4, 9, 10, 11]
    assert gallery_sample(records, 0) == list(range(16)) == gallery_sample(records, 16)
    assert len(gallery_sample(records, 2)) == 2  # the one-per-category minimum is trimmed to the limit


def test_report_with_a_gallery_sample_keeps_every_image_in_the_tables(viz_checkpoint, viz_data, tmp_path):
    from wsol.cli.report import main

    out = tmp_path / "rep"
    assert (
        main(
            [
                "--checkpoint",
                str(viz_checkpoint),
                "--data",
                str(viz_data),
                "--out",
                str(out),
                "--threshold",
                "0.3",
                "--gallery-max",
                "4",
                "--no-progress",
            ]
        )
        == 0
    )
    records = json.loads((out / "assets" / "per_image.json").read_text())["records"]
    thumbs = sorted(p.name for p in (out / "assets" / "thumbs").iterdir())
    assert len(records) == 9 and thumbs == sorted(r["thumb"] for r in records if "thumb" in r) and len(thumbs) <= 4
    text = (out / "index.html").read_text()
    links = check_html(text).links
    assert text.count('<figure class="card"') == len(thumbs) and f"of {len(records)} images" in text
    assert all((out / link).is_file() for link in links)
