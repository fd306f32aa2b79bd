"""`wsol overlays`: selection rules by hand, and the command writes a PNG grid + a TensorBoard image."""

from __future__ import annotations

import cv2
import pytest
import torch

from wsol.cli.overlays import class_index, main, select


def _rec(index, iou, category="misplaced", label=0):
    return {"index": index, "iou": iou, "category": category, "label": label}


def test_select_sorts_filters_and_truncates():
    recs = [
        _rec(0, 0.4),
        _rec(1, 0.1, "part only", 1),
        _rec(2, 0.9, "correct"),
        _rec(3, 0.1, "part only"),
        _rec(4, 0.6, "wrong class", 1),
    ]
    assert [r["index"] for r in select(recs, 3, "worst")] == [1, 3, 0]  # IoU ties in dataset order
    assert [r["index"] for r in select(recs, 2, "best")] == [2, 4]
    assert [r["index"] for r in select(recs, 10, "dataset", label=1)] == [1, 4]
    assert [r["index"] for r in select(recs, 10, "best", failure="part only")] == [1, 3]
    assert select(recs, 5, "worst", failure="missed") == []
    with pytest.raises(ValueError, match="unknown sort"):
        select(recs, 1, "random")


def test_class_index_by_name_or_number():
    names = ["cat", "dog"]
    assert class_index("dog", names) == 1 and class_index("0", names) == 0
    with pytest.raises(ValueError, match="known: cat, dog"):
        class_index("7", names)


def test_overlays_command_writes_png_and_tensorboard_image(viz_checkpoint, viz_data, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out, tb = tmp_path / "grid.png", tmp_path / "tb"
    assert (
        main(
            [
                "--checkpoint",
                str(viz_checkpoint),
                "--data",
                str(viz_data),
                "--count",
                "5",
                "--ncols",
                "3",
                "--size",
                "64",
                "--sort",
                "best",
                "--out",
                str(out),
                "--tensorboard",
                str(tb),
                "--no-progress",
            ]
        )
        == 0
    )
    grid = cv2.imread(str(out))
    pad = 2  # make_grid's default padding
    assert grid.shape == (2 * (64 + pad) + pad, 3 * (64 + pad) + pad, 3)
    events = EventAccumulator(str(tb), size_guidance={"images": 0})
    events.Reload()
    assert "overlays/test_best" in events.Tags()["images"]
    image = events.Images("overlays/test_best")[0]
    assert (image.width, image.height) == (grid.shape[1], grid.shape[0])


def test_overlays_command_explains_an_empty_selection(viz_checkpoint, viz_data, tmp_path):
    with pytest.raises(SystemExit, match="no image of split 'test' matches"):
        main(
            [
                "--checkpoint",
                str(viz_checkpoint),
                "--data",
                str(viz_data),
                "--failure",
                "correct",
                "--threshold",
                "0.99",
                "--out",
                str(tmp_path / "x.png"),
                "--no-progress",
            ]
        )
    with pytest.raises(SystemExit, match="unknown class 'zebra'"):
        main(["--checkpoint", str(viz_checkpoint), "--data", str(viz_data), "--class", "zebra"])


def test_training_overlay_draws_boxes(viz_checkpoint):
    from wsol.engine.checkpoint import load_model
    from wsol.engine.logger import overlay_grid

    model, _ = load_model(str(viz_checkpoint))
    torch.manual_seed(0)
    images = torch.randn(2, 3, 64, 64)
    labels = torch.tensor([0, 1])
    plain = overlay_grid(model, images, labels, ncols=2)
    boxes = [torch.tensor([[8.0, 8.0, 40.0, 40.0]]), torch.tensor([[0.0, 0.0, 63.0, 63.0]])]
    boxed = overlay_grid(model, images, labels, ncols=2, boxes=boxes, threshold=0.3)
    assert boxed.shape == plain.shape
    # the GT box edge of the first image is drawn in green where the plain overlay has none
    green = (boxed[:, :, 1].astype(int) - boxed[:, :, 0] > 100) & (boxed[:, :, 1].astype(int) - boxed[:, :, 2] > 100)
    assert green.sum() > green.size * 0.01


def test_gallery_picks_every_class_and_draws_a_grid(viz_checkpoint, viz_data, tmp_path):
    from wsol.viz.gallery import _pick_indices, render_gallery

    assert _pick_indices([0, 0, 1, 2, 1], 4) == [0, 2, 3, 1]
    png = render_gallery(viz_checkpoint, viz_data, "test", 0.3, tmp_path / "g.png", count=5, panel=48)
    assert cv2.imread(str(png)).shape == (48 + 4, 5 * 50 + 2, 3)
