"""wsol bench-evaluate: in-memory batches in the loader's layout, model-only vs end-to-end figures."""

from __future__ import annotations

import json

import numpy as np

from wsol.cli.bench_evaluate import main, make_batches
from wsol.localization.boxes import rescale_gt_boxes


def test_make_batches_layout_and_boxes_inside_the_image():
    batches = make_batches(10, 4, 32, num_classes=3)
    assert [len(b["image_id"]) for b in batches] == [4, 4, 2]
    b = batches[0]
    assert tuple(b["image"].shape) == (4, 3, 32, 32) and b["label"].max() < 3
    for box in b["orig_boxes"]:
        x0, y0, x1, y1 = box[0]
        assert 0 <= x0 < x1 <= 223 and 0 <= y0 < y1 <= 223
        # the 224 x 224 originals map to themselves under the resize protocol
        assert np.array_equal(rescale_gt_boxes(box, (224, 224), "resize"), np.floor(box).astype(np.int64))


def test_bench_evaluate_reports_both_throughputs(tmp_path):
    out = tmp_path / "bench.json"
    code = main(["--config", "configs/synthetic/cam.yaml", "--num-classes", "3", "--images", "6", "--batch-size",
                 "4", "--cam-curve-interval", "0.01", "--device", "cpu", "--json", str(out),
                 "model.backbone_args.channels=[8,8,8]"])
    assert code == 0
    figures = json.loads(out.read_text())
    assert figures["thresholds"] == 100 and figures["images"] == 6 and figures["input_size"] == 64
    assert figures["model_images_per_s"] > 0 and figures["end_to_end_images_per_s"] > 0
    assert abs(figures["ratio"] - figures["end_to_end_images_per_s"] / figures["model_images_per_s"]) < 1e-9
