"""`wsol evaluate-scoremaps` and `wsol evaluate` end to end on tiny fixtures."""

import json

import cv2
import numpy as np
import pytest
import scipy.ndimage as nd

from tests.evaluation.conftest import ImageReadingModel, make_loader
from wsol.cli import evaluate as evaluate_cli
from wsol.cli import evaluate_scoremaps as scoremaps_cli
from wsol.localization.reference import reference_best_iou

THR = np.arange(0, 1, 0.01)


def _write_box_fixture(tmp_path, n=6, seed=0):
    rng = np.random.default_rng(seed)
    meta = tmp_path / "metadata" / "test"
    meta.mkdir(parents=True)
    ids, sizes, boxes, maps = [], [], [], {}
    for i in range(n):
        image_id = f"cls{i % 2}/img_{i}.jpg"
        w, h = int(rng.integers(200, 500)), int(rng.integers(200, 500))
        x0, y0 = int(rng.integers(0, w // 2)), int(rng.integers(0, h // 2))
        box = [x0, y0, int(rng.integers(x0 + 10, w)), int(rng.integers(y0 + 10, h))]
        m = nd.gaussian_filter(rng.random((224, 224)), 6)
        m = (m - m.min()) / (m.max() - m.min())
        (tmp_path / "scoremaps" / f"cls{i % 2}").mkdir(parents=True, exist_ok=True)
        np.save(tmp_path / "scoremaps" / f"{image_id}.npy", m.astype(np.float32))
        ids.append(image_id), sizes.append((w, h)), boxes.append(box)
        maps[image_id] = m.astype(np.float32).astype(np.float64)
    (meta / "image_ids.txt").write_text("".join(f"{i}\n" for i in ids))
    (meta / "class_labels.txt").write_text("".join(f"{i},{k % 2}\n" for k, i in enumerate(ids)))
    (meta / "image_sizes.txt").write_text("".join(f"{i},{w},{h}\n" for i, (w, h) in zip(ids, sizes)))
    (meta / "localization.txt").write_text("".join(f"{i},{','.join(map(str, b))}\n" for i, b in zip(ids, boxes)))
    return ids, sizes, boxes, maps


def _expected(ids, sizes, boxes, maps):
    """The obvious path: wsolevaluation's GT rescaling written out with int(), reference contour loop."""
    v1, v2 = [], []
    for image_id, (w, h), b in zip(ids, sizes, boxes):
        gt = np.array([[int(b[0] * 224.0 / w), int(b[1] * 224.0 / h), int(b[2] * 224.0 / w), int(b[3] * 224.0 / h)]])
        v1.append(reference_best_iou(maps[image_id], THR, gt, multi_contour=False))
        v2.append(reference_best_iou(maps[image_id], THR, gt, multi_contour=True))
    v1, v2 = np.array(v1), np.array(v2)
    maxboxacc = 100 * (v1 >= 0.5).mean(0).max()
    v2_mean = np.mean([100 * (v2 >= d).mean(0).max() for d in (0.3, 0.5, 0.7)])
    return maxboxacc, v2_mean


def test_evaluate_scoremaps_boxes_match_reference(tmp_path, capsys):
    fixture = _write_box_fixture(tmp_path)
    out = tmp_path / "out"
    rc = scoremaps_cli.main(
        [
            "--scoremap-root",
            str(tmp_path / "scoremaps"),
            "--metadata-root",
            str(tmp_path / "metadata"),
            "--split",
            "test",
            "--cam-curve-interval",
            "0.01",
            "--fixed-threshold",
            "0.3",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert rc == 0
    result = json.loads((out / "evaluation.json").read_text())
    maxboxacc, v2 = _expected(*fixture)
    assert result["oracle/maxboxacc"] == pytest.approx(maxboxacc, abs=1e-9)
    assert result["oracle/maxboxacc_v2"] == pytest.approx(v2, abs=1e-9)
    assert (out / "evaluation_boxacc.png").stat().st_size > 0
    table = capsys.readouterr().out
    assert "oracle (test)" in table and "fixed (given)" in table and "MaxBoxAccV2" in table


def test_wsolevaluation_spelling_and_headline(tmp_path, capsys):
    """wsolevaluation's own flags and layout (<metadata_root>/<dataset>/<split>) work, and the last line is its
    headline: MaxBoxAcc (largest contour, IoU 50) by default, every contour and/or the IoU mean on request."""
    ids, sizes, boxes, maps = _write_box_fixture(tmp_path)
    (tmp_path / "wsolmeta" / "CUB").mkdir(parents=True)
    (tmp_path / "metadata" / "test").rename(tmp_path / "wsolmeta" / "CUB" / "test")
    v1, v2 = [], []
    for image_id, (w, h), b in zip(ids, sizes, boxes):
        gt = np.array([[int(b[0] * 224.0 / w), int(b[1] * 224.0 / h), int(b[2] * 224.0 / w), int(b[3] * 224.0 / h)]])
        v1.append(reference_best_iou(maps[image_id], THR, gt, multi_contour=False))
        v2.append(reference_best_iou(maps[image_id], THR, gt, multi_contour=True))
    best = {
        kind: {d: 100 * (np.array(ious) >= d / 100).mean(0).max() for d in (30, 50, 70)}
        for kind, ious in (("v1", v1), ("v2", v2))
    }
    base = [
        "--scoremap_root",
        str(tmp_path / "scoremaps"),
        "--metadata_root",
        str(tmp_path / "wsolmeta"),
        "--dataset_name",
        "CUB",
        "--split",
        "test",
        "--cam_curve_interval",
        "0.01",
        "--iou_threshold_list",
        "30",
        "50",
        "70",
        "--out",
        str(tmp_path / "out"),
        "--no-progress",
    ]
    cases = [
        ([], best["v1"][50]),
        (["--multi_contour_eval"], best["v2"][50]),
        (["--multi_contour_eval", "False", "--multi_iou_eval", "True"], np.mean(list(best["v1"].values()))),
        (["--multi_contour_eval", "yes", "--multi_iou_eval"], np.mean(list(best["v2"].values()))),
    ]
    for extra, expected in cases:
        assert scoremaps_cli.main(base + extra) == 0
        last = capsys.readouterr().out.strip().splitlines()[-1]
        assert last.startswith("localization: ") and float(last.split()[-1]) == pytest.approx(expected, abs=1e-9)
    with pytest.raises(SystemExit) as exc:
        scoremaps_cli.main(base + ["--multi_contour_eval", "maybe"])
    assert exc.value.code == 2  # argparse's usage error, its message on stderr
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "wsol evaluate-scoremaps: error: argument --multi-contour-eval/--multi_contour_eval: expected a boolean "
        "(true/false, yes/no, 1/0), got 'maybe'"
    )


def test_evaluate_scoremaps_masks_perfect_map(tmp_path, capsys):
    meta = tmp_path / "meta" / "val"
    meta.mkdir(parents=True)
    (tmp_path / "masks").mkdir()
    (tmp_path / "maps").mkdir()
    lines = []
    for i in range(2):
        fg = np.zeros((300, 200), np.uint8)
        fg[50 + 20 * i : 200, 40:150] = 255
        ignore = np.zeros_like(fg)
        ignore[0:40, 0:40] = 255
        cv2.imwrite(str(tmp_path / "masks" / f"m{i}.png"), fg)
        cv2.imwrite(str(tmp_path / "masks" / f"m{i}_ignore.png"), ignore)
        perfect = cv2.resize(np.float32(fg), (224, 224), interpolation=cv2.INTER_NEAREST) > 0.5
        np.save(tmp_path / "maps" / f"im{i}.jpg.npy", perfect.astype(np.float64))
        lines.append(f"im{i}.jpg,m{i}.png,m{i}_ignore.png\n")
    (meta / "image_ids.txt").write_text("im0.jpg\nim1.jpg\n")
    (meta / "class_labels.txt").write_text("im0.jpg,0\nim1.jpg,0\n")
    (meta / "localization.txt").write_text("".join(lines))
    out = tmp_path / "out"
    assert (
        scoremaps_cli.main(
            [
                "--scoremap-root",
                str(tmp_path / "maps"),
                "--metadata-root",
                str(tmp_path / "meta"),
                "--split",
                "val",
                "--mask-root",
                str(tmp_path / "masks"),
                "--cam-curve-interval",
                "0.01",
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    result = json.loads((out / "evaluation.json").read_text())
    assert result["pxap"] == pytest.approx(100.0) and result["oracle/piou"] == pytest.approx(100.0)
    assert (out / "evaluation_pxap_pr.png").is_file()
    # wsolevaluation's layout: <metadata_root>/OpenImages/<split>, masks under <mask_root>/OpenImages
    (tmp_path / "wsolmeta").mkdir()
    (tmp_path / "meta").rename(tmp_path / "wsolmeta" / "OpenImages")
    (tmp_path / "dataset").mkdir()
    (tmp_path / "masks").rename(tmp_path / "dataset" / "OpenImages")
    assert (
        scoremaps_cli.main(
            [
                "--scoremap_root",
                str(tmp_path / "maps"),
                "--metadata_root",
                str(tmp_path / "wsolmeta"),
                "--dataset_name",
                "OpenImages",
                "--split",
                "val",
                "--mask_root",
                str(tmp_path / "dataset"),
                "--cam_curve_interval",
                "0.01",
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.strip().splitlines()[-1] == "localization: 100.0"


def test_evaluate_checkpoint_with_fixed_threshold_from_val(tmp_path, monkeypatch, capsys):
    import wsol.engine.checkpoint as checkpoint

    monkeypatch.setattr(checkpoint, "load_model", lambda path, map_location="cpu": (ImageReadingModel(), {}))
    splits = []
    monkeypatch.setattr(evaluate_cli, "_loader", lambda args, split: splits.append(split) or make_loader())
    out = tmp_path / "eval"
    rc = evaluate_cli.main(
        [
            "--checkpoint",
            str(tmp_path / "ckpt.pt"),
            "--split",
            "test",
            "--fixed-threshold-from",
            "val",
            "--device",
            "cpu",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert rc == 0 and splits == ["val", "test"]
    result = json.loads((out / "evaluation.json").read_text())
    assert result["fixed/threshold"] == pytest.approx(result["oracle/maxboxacc_threshold"], abs=0.005)
    assert result["fixed_threshold_from"] == "val"
    assert "fixed (val)" in capsys.readouterr().out


def test_comparison_table_by_hand():
    table = evaluate_cli.comparison_table(
        {"native": {"top1_cls": 50.0, "pxap": 61.234}, "gradcam": {"top1_cls": 50.0, "pxap": 70.0}}
    )
    lines = table.splitlines()
    assert lines[0] == "| map source | top-1 cls | PxAP |"
    assert lines[2] == "| native | 50.00 | 61.23 |" and lines[3] == "| gradcam | 50.00 | 70.00 |"


def test_evaluate_several_map_sources_one_command(tmp_path, monkeypatch, capsys):
    """Native CAM and Grad-CAM on one checkpoint: same classification, own thresholds, one table."""
    import torch
    from omegaconf import OmegaConf

    import wsol.engine.checkpoint as checkpoint
    from wsol.models import build_model

    torch.manual_seed(0)
    cfg = OmegaConf.create(
        {
            "method": "cam",
            "backbone": "tiny",
            "pretrained": False,
            "backbone_args": {"channels": [8, 8, 8, 8]},
            "head_width": 8,
            "cam_head_width": 0,
        }
    )
    from wsol.config.schema import ModelConfig

    model_cfg = OmegaConf.merge(OmegaConf.structured(ModelConfig), cfg)
    net = build_model(model_cfg, 3)
    monkeypatch.setattr(checkpoint, "load_model", lambda path, map_location="cpu": (net, {}))
    monkeypatch.setattr(evaluate_cli, "_loader", lambda args, split: make_loader())
    out = tmp_path / "eval"
    rc = evaluate_cli.main(
        [
            "--checkpoint",
            str(tmp_path / "ckpt.pt"),
            "--fixed-threshold-from",
            "val",
            "--cam-method",
            "native",
            "gradcam",
            "--device",
            "cpu",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert rc == 0
    native = json.loads((out / "evaluation.json").read_text())
    gradcam = json.loads((tmp_path / "eval_gradcam" / "evaluation.json").read_text())
    assert native["cam_method"] == "native" and gradcam["cam_method"] == "gradcam"
    assert native["top1_cls"] == gradcam["top1_cls"]  # the map source cannot change classification
    text = capsys.readouterr().out
    assert "| native |" in text and "| gradcam |" in text


def test_evaluate_at_the_methods_paper_threshold(tmp_path, monkeypatch):
    """``--fixed-threshold-from paper``: the checkpoint config's model.<method>.threshold (BAS's 0.15 on CUB),
    no threshold search on another split; a method without one is a one-line user error."""
    import torch

    import wsol.engine.checkpoint as checkpoint
    from wsol.errors import UserInputError

    monkeypatch.setattr(checkpoint, "load_model", lambda path, map_location="cpu": (ImageReadingModel(), {}))
    splits = []
    monkeypatch.setattr(evaluate_cli, "_loader", lambda args, split: splits.append(split) or make_loader())
    torch.save({"model": {}, "config": {"model": {"method": "bas", "bas": {"threshold": 0.15}}}}, tmp_path / "bas.pt")
    out = tmp_path / "eval"
    rc = evaluate_cli.main(
        [
            "--checkpoint",
            str(tmp_path / "bas.pt"),
            "--split",
            "test",
            "--fixed-threshold-from",
            "paper",
            "--device",
            "cpu",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert rc == 0 and splits == ["test"]
    assert json.loads((out / "evaluation.json").read_text())["fixed/threshold"] == pytest.approx(0.15)
    torch.save({"model": {}, "config": {"model": {"method": "cam"}}}, tmp_path / "cam.pt")
    with pytest.raises(UserInputError, match="'cam' has no paper threshold"):
        evaluate_cli.main(
            [
                "--checkpoint",
                str(tmp_path / "cam.pt"),
                "--fixed-threshold-from",
                "paper",
                "--device",
                "cpu",
                "--out",
                str(out),
                "--no-progress",
            ]
        )
