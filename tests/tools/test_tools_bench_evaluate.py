"""tools/bench/evaluate.py: in-memory batches in the loader's layout, model-only vs end-to-end figures."""

from __future__ import annotations

import json
import types

import numpy as np

import wsol.evaluation
from tests.tools.conftest import ROOT, load_bench
from wsol.localization.boxes import rescale_gt_boxes

bench = load_bench("evaluate")


def test_make_batches_layout_and_boxes_inside_the_image():
    batches = bench.make_batches(10, 4, 32, num_classes=3)
    assert [len(b["image_id"]) for b in batches] == [4, 4, 2]
    b = batches[0]
    assert tuple(b["image"].shape) == (4, 3, 32, 32) and b["label"].max() < 3
    for box in b["orig_boxes"]:
        x0, y0, x1, y1 = box[0]
        assert 0 <= x0 < x1 <= 223 and 0 <= y0 < y1 <= 223
        # the 224 x 224 originals map to themselves under the resize protocol
        assert np.array_equal(rescale_gt_boxes(box, (224, 224), "resize"), np.floor(box).astype(np.int64))


def test_bench_evaluate_reports_both_throughputs(tmp_path, monkeypatch):
    """The model-only rate is images / seconds of the bench's clock (a fake one here: 6 images in 2.5 s); the
    end-to-end rate is the one ``evaluate_model`` reports for the timed run over all 6 images (after a warm-up
    call on the first batch); the ratio is their quotient."""
    ticks = iter([10.0, 12.5])
    monkeypatch.setattr(bench, "time", types.SimpleNamespace(perf_counter=lambda: next(ticks)))
    real, calls = wsol.evaluation.evaluate_model, []

    def spy(model, batches, **kwargs):
        result = real(model, batches, **kwargs)
        calls.append((sum(len(b["image_id"]) for b in batches), kwargs["cam_curve_interval"], result))
        return result

    monkeypatch.setattr(wsol.evaluation, "evaluate_model", spy)
    out = tmp_path / "bench.json"
    code = bench.main(
        [
            "--config",
            str(ROOT / "configs/synthetic/cam.yaml"),
            "--num-classes",
            "3",
            "--images",
            "6",
            "--batch-size",
            "4",
            "--cam-curve-interval",
            "0.01",
            "--device",
            "cpu",
            "--json",
            str(out),
            "model.backbone_args.channels=[8,8,8]",
        ]
    )
    assert code == 0
    assert [(n, interval) for n, interval, _ in calls] == [(4, 0.01), (6, 0.01)]
    timed = calls[1][2]
    assert timed["num_images"] == 6
    figures = json.loads(out.read_text())
    assert figures == {
        "config": str(ROOT / "configs/synthetic/cam.yaml"),
        "device": "cpu",
        "amp": False,
        "input_size": 64,
        "batch_size": 4,
        "images": 6,
        "thresholds": 100,
        "model_images_per_s": 6 / 2.5,
        "end_to_end_images_per_s": timed["images_per_s"],
        "ratio": timed["images_per_s"] / (6 / 2.5),
    }
