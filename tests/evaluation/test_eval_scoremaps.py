"""Score-map evaluation as wsolevaluation: hand-computed PxAP on multi-mask OpenImages images (with and without
the ignore region), maps of any size resized as cv2 does, and the wsolevaluation-style Python API (compat)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from tests.evaluation.test_eval_cli import THR, _expected, _write_box_fixture
from wsol.cli import evaluate_scoremaps as scoremaps_cli
from wsol.data.wsoleval import read_wsoleval_folder
from wsol.evaluation import compat
from wsol.evaluation.scoremaps import evaluate_scoremaps, read_scoremap, to_eval_frame
from wsol.localization.maps import quantize_maps


def _rect(shape, rows, cols, scale=1):
    m = np.zeros((shape * scale, shape * scale), np.uint8)
    m[rows[0] * scale : rows[1] * scale, cols[0] * scale : cols[1] * scale] = 255
    return m


def _write_openimages(tmp_path, with_ignore: bool):
    """wsolevaluation's OpenImages layout: image A has two masks (stored at 448 px, so each file is resized to 224)
    and an ignore mask named on its first line only; image B has one mask; image_sizes.txt is empty, as shipped."""
    meta = tmp_path / "metadata" / "OpenImages" / "test"
    meta.mkdir(parents=True)
    masks = tmp_path / "dataset" / "OpenImages" / "test"
    masks.mkdir(parents=True)
    cv2.imwrite(str(masks / "a_m1.png"), _rect(224, (0, 100), (0, 100), 2))
    cv2.imwrite(str(masks / "a_m2.png"), _rect(224, (150, 200), (150, 200), 2))
    cv2.imwrite(str(masks / "a_ignore.png"), _rect(224, (0, 120), (0, 224), 2))
    cv2.imwrite(str(masks / "b_m1.png"), _rect(224, (50, 150), (50, 150)))
    (meta / "image_ids.txt").write_text("test/a.jpg\ntest/b.jpg\n")
    (meta / "class_labels.txt").write_text("test/a.jpg,0\ntest/b.jpg,1\n")
    (meta / "image_sizes.txt").write_text("")
    ignore = "test/a_ignore.png" if with_ignore else ""
    (meta / "localization.txt").write_text(
        f"test/a.jpg,test/a_m1.png,{ignore}\ntest/a.jpg,test/a_m2.png,\ntest/b.jpg,test/b_m1.png,\n"
    )
    maps = tmp_path / "scoremaps" / "test"
    maps.mkdir(parents=True)
    a = np.zeros((224, 224))
    a[0:100, 0:120] = 1.0
    a[150:224, 150:224] = 0.5
    b = np.zeros((224, 224))
    b[50:100, 50:150] = 0.5
    b[200:224, :] = 1.0
    np.save(maps / "a.jpg.npy", a)
    np.save(maps / "b.jpg.npy", b)
    return {"test/a.jpg": a, "test/b.jpg": b}


def _pxap_by_hand(with_ignore: bool) -> float:
    """Scores take three values: 1, 0.5 and 0, so the PR curve has three points (TP, FP at score >= s).

    Image A (ignore = rows 0:120 minus the 10,000 fg px of mask 1 = 16,880 px): score 1 covers mask 1 (10,000 fg)
    and 2,000 ignore px; score 0.5 covers mask 2 (2,500 fg) and 2,976 bg px; 17,820 bg px score 0.
    Image B: score 1 on 5,376 bg px, 0.5 on 5,000 fg px, 0 on the other 5,000 fg px and 34,800 bg px.
    Without the ignore mask, its 16,880 px are background: 2,000 at score 1, 14,880 at 0."""
    extra1, extra0 = (0, 0) if with_ignore else (2000, 14880)
    tp = np.array([10000, 10000 + 2500 + 5000, 22500], float)
    fp = np.array([5376 + extra1, 5376 + extra1 + 2976, 5376 + extra1 + 2976 + 17820 + 34800 + extra0], float)
    precision, recall = tp / (tp + fp), tp / 22500
    return 100 * float(
        precision[0] * recall[0] + precision[1] * (recall[1] - recall[0]) + precision[2] * (recall[2] - recall[1])
    )


@pytest.mark.parametrize("with_ignore", [True, False])
def test_pxap_multi_mask_images_by_hand(tmp_path, capsys, with_ignore):
    maps = _write_openimages(tmp_path, with_ignore)
    out = tmp_path / "out"
    assert (
        scoremaps_cli.main(
            [
                "--scoremap_root",
                str(tmp_path / "scoremaps"),
                "--metadata_root",
                str(tmp_path / "metadata"),
                "--dataset_name",
                "OpenImages",
                "--split",
                "test",
                "--mask_root",
                str(tmp_path / "dataset"),
                "--cam_curve_interval",
                "0.1",
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    expected = _pxap_by_hand(with_ignore)
    assert json.loads((out / "evaluation.json").read_text())["pxap"] == pytest.approx(expected, abs=1e-9)
    assert float(capsys.readouterr().out.strip().splitlines()[-1].split()[-1]) == pytest.approx(expected, abs=1e-9)
    # wsolevaluation's Python API, map by map, gives the same figure
    ev = compat.MaskEvaluator(
        metadata=compat.configure_metadata(tmp_path / "metadata" / "OpenImages" / "test"),
        dataset_name="OpenImages",
        split="test",
        cam_threshold_list=list(np.arange(0, 1, 0.1)),
        iou_threshold_list=[30, 50, 70],
        mask_root=tmp_path / "dataset" / "OpenImages",
        multi_contour_eval=False,
    )
    for image_id, m in maps.items():
        ev.accumulate(m, image_id)
    assert ev.compute() == pytest.approx(expected, abs=1e-9)
    assert ev.gt_true_score_hist.sum() == 22500


def test_ignore_mask_only_on_first_line_is_kept(tmp_path):
    """The ignore path of a multi-mask image is on its first line; the later lines leave it empty."""
    _write_openimages(tmp_path, with_ignore=True)
    split = read_wsoleval_folder(
        tmp_path / "metadata" / "OpenImages" / "test", tmp_path, tmp_path / "dataset" / "OpenImages"
    )
    assert split.records[0].ignore_path == "test/a_ignore.png" and split.records[0].mask_paths == (
        "test/a_m1.png",
        "test/a_m2.png",
    )
    mask = split.load_mask(0, out_size=224)
    assert (mask == 255).sum() == 16880 and (mask == 1).sum() == 12500


def _cv2_reference(cam: np.ndarray) -> np.ndarray:
    """wsolevaluation's inference.py: cv2.resize(float64, INTER_CUBIC) to 224, then cam -= min; cam /= max."""
    up = cv2.resize(cam.astype(np.float64), (224, 224), interpolation=cv2.INTER_CUBIC)
    up -= up.min()
    return up / up.max()


@pytest.mark.parametrize("shape", [(7, 7), (14, 14), (28, 28), (56, 56), (224, 224), (17, 30)])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_maps_of_any_size_resized_as_cv2(tmp_path, shape, dtype):
    rng = np.random.default_rng(shape[0] * 31 + shape[1])
    cam = rng.random(shape).astype(dtype)
    path = tmp_path / "m.npy"
    np.save(path, cam)
    got = to_eval_frame(read_scoremap(path, "m"), "m")
    assert got.shape == (224, 224) and got.dtype == np.float64
    if shape == (224, 224):  # a map already in the frame is used as it is (cv2.resize to the same size is a copy)
        same = cv2.resize(cam.astype(np.float64), (224, 224), interpolation=cv2.INTER_CUBIC)
        assert np.array_equal(same, cam.astype(np.float64)) and np.array_equal(got, cam.astype(np.float64))
    else:
        want = _cv2_reference(cam)
        assert np.abs(got - want).max() < 1e-12
        assert np.array_equal(quantize_maps(got[None])[0], (want * 255).astype(np.uint8))
        assert got.min() == 0.0 and got.max() == 1.0


def test_constant_small_map_becomes_zeros(tmp_path):
    np.save(tmp_path / "c.npy", np.full((14, 14), 0.3, np.float32))
    assert not to_eval_frame(read_scoremap(tmp_path / "c.npy", "c"), "c").any()


def test_feature_resolution_maps_end_to_end(tmp_path):
    """28x28 and 14x20 maps give the figures of cv2-resized maps through the reference contour loop."""
    ids, sizes, boxes, _ = _write_box_fixture(tmp_path)
    rng = np.random.default_rng(3)
    maps = {}
    for k, image_id in enumerate(ids):
        small = rng.random((28, 28) if k % 2 else (14, 20)).astype(np.float32)
        np.save(tmp_path / "scoremaps" / f"{image_id}.npy", small)
        maps[image_id] = _cv2_reference(small)
    out = tmp_path / "out"
    assert (
        scoremaps_cli.main(
            [
                "--scoremap-root",
                str(tmp_path / "scoremaps"),
                "--metadata-root",
                str(tmp_path / "metadata"),
                "--split",
                "test",
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
    maxboxacc, v2 = _expected(ids, sizes, boxes, maps)
    assert result["oracle/maxboxacc"] == pytest.approx(maxboxacc, abs=1e-9)
    assert result["oracle/maxboxacc_v2"] == pytest.approx(v2, abs=1e-9)


@pytest.mark.parametrize("multi_contour", [False, True])
def test_compat_box_evaluator_map_by_map_matches_native(tmp_path, multi_contour):
    ids, sizes, boxes, maps = _write_box_fixture(tmp_path, n=7)
    split = read_wsoleval_folder(tmp_path / "metadata" / "test", tmp_path)
    native = evaluate_scoremaps(tmp_path / "scoremaps", split, cam_curve_interval=0.01, progress=False, chunk_size=3)
    ev = compat.BoxEvaluator(
        metadata=compat.configure_metadata(tmp_path / "metadata" / "test"),
        dataset_name="CUB",
        split="test",
        cam_threshold_list=list(THR),
        iou_threshold_list=[30, 50, 70],
        mask_root=None,
        multi_contour_eval=multi_contour,
        batch_size=3,
    )
    for image_id in ids:
        ev.accumulate(np.load(tmp_path / "scoremaps" / f"{image_id}.npy"), image_id)
    assert ev.cnt == 7
    got = ev.compute()
    kind = "v2" if multi_contour else "v1"
    want = [max(native["curves"][f"boxacc_{kind}_iou{d}"]) for d in (30, 50, 70)]
    assert got == pytest.approx(want, abs=1e-12)
    if multi_contour:
        assert np.mean(got) == pytest.approx(native["oracle/maxboxacc_v2"], abs=1e-12)
    else:
        assert got[1] == pytest.approx(native["oracle/maxboxacc"], abs=1e-12)
        assert got[1] == pytest.approx(_expected(ids, sizes, boxes, maps)[0], abs=1e-9)
    assert ev.num_correct[50].shape == (len(THR),)


def test_compat_refuses_what_wsolevaluation_refuses(tmp_path):
    ids, *_ = _write_box_fixture(tmp_path, n=2)
    meta = compat.configure_metadata(tmp_path / "metadata" / "test")
    with pytest.raises(ValueError, match="must be performed on OpenImages"):
        compat.MaskEvaluator(
            metadata=meta,
            dataset_name="CUB",
            split="test",
            cam_threshold_list=list(THR),
            iou_threshold_list=[50],
            mask_root=tmp_path,
            multi_contour_eval=False,
        )
    ev = compat.BoxEvaluator(
        metadata=meta,
        dataset_name="CUB",
        split="test",
        cam_threshold_list=list(THR),
        iou_threshold_list=[50],
        mask_root=None,
        multi_contour_eval=False,
    )
    with pytest.raises(ValueError, match="2D"):
        ev.accumulate(np.zeros((2, 224, 224)), ids[0])
    with pytest.raises(ValueError, match="nans"):
        ev.accumulate(np.full((224, 224), np.nan), ids[0])
    with pytest.raises(ValueError, match=r"outside \[0, 1\]"):
        ev.accumulate(np.full((224, 224), 2.0), ids[0])
    with pytest.raises(ValueError, match="not listed"):
        ev.accumulate(np.zeros((224, 224)), "nope.jpg")


@pytest.mark.parametrize(
    "array",
    [
        np.arange(12, dtype=np.float16).reshape(3, 4),
        np.random.default_rng(0).random((5, 7)).astype(">f8"),
        np.asfortranarray(np.arange(20, dtype=np.float32).reshape(4, 5)),
        np.arange(6, dtype=np.int64).reshape(2, 3),
        np.zeros((0, 3)),
        np.float64(2.5),
    ],
)
def test_npy_reader_equals_np_load(tmp_path, array):
    from wsol.evaluation.scoremaps import _load_npy

    np.save(tmp_path / "a.npy", array)
    got, want = _load_npy(tmp_path / "a.npy"), np.load(tmp_path / "a.npy")
    assert got.dtype == want.dtype and got.shape == want.shape and np.array_equal(got, want)


def test_scoremap_path_needs_neither_torch_nor_matplotlib(tmp_path):
    """The box path of evaluate-scoremaps with --no-plots imports neither torch nor matplotlib (start-up time)."""
    import subprocess
    import sys
    from pathlib import Path

    _write_box_fixture(tmp_path, n=2)
    code = (
        "import sys; from wsol.cli import evaluate_scoremaps as c; "
        f"c.main(['--scoremap-root', {str(tmp_path / 'scoremaps')!r}, '--metadata-root', "
        f"{str(tmp_path / 'metadata')!r}, '--out', {str(tmp_path / 'o')!r}, '--no-progress', '--no-plots']); "
        "print(sorted(m for m in ('torch', 'matplotlib') if m in sys.modules))"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["evaluation.json"]
