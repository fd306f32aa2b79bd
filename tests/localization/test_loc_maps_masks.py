import numpy as np
import pytest
import torch

from wsol.data.records import IGNORE_VALUE
from wsol.localization import (
    normalize_maps,
    pseudo_mask,
    quantize_maps,
    regions_at_threshold,
    threshold_levels,
    threshold_list,
    upsample_maps,
)


def test_threshold_list_is_wsolevaluations_arange():
    assert np.array_equal(threshold_list(0.01), np.arange(0, 1, 0.01))
    assert len(threshold_list(0.001)) == 1000
    with pytest.raises(ValueError):
        threshold_list(0)


def test_threshold_levels_truncate_relative_to_max():
    # int(0.2 * 200) = 40, int(0.3 * 200) = 60 (0.3 * 200 = 60.00000000000001), int(0.99 * 200) = 198
    assert threshold_levels(np.array([200]), np.array([0.2, 0.3, 0.99])).tolist() == [[40, 60, 198]]


@pytest.mark.parametrize("as_tensor", [False, True])
def test_normalize_does_not_mutate_and_handles_constant(as_tensor):
    maps = np.stack([np.array([[1.0, 3.0], [5.0, 2.0]]), np.full((2, 2), 7.0)])
    src = torch.tensor(maps) if as_tensor else maps.copy()
    out = normalize_maps(src)
    out = out.numpy() if as_tensor else out
    assert np.array_equal(np.asarray(src), maps)  # input untouched
    assert np.allclose(out[0], [[0.0, 0.5], [1.0, 0.25]])
    assert np.array_equal(out[1], np.zeros((2, 2)))  # constant map -> zeros (documented)


def test_normalize_rejects_nan_naming_the_image():
    maps = np.zeros((2, 3, 3))
    maps[1, 0, 0] = np.inf
    with pytest.raises(ValueError, match="'b.jpg'.*NaN or inf"):
        normalize_maps(maps, ["a.jpg", "b.jpg"])
    with pytest.raises(ValueError, match="#0"):
        normalize_maps(torch.full((1, 2, 2), float("nan")))


def test_upsample_and_quantize():
    maps = torch.rand(2, 7, 7)
    up = upsample_maps(maps, (224, 224))
    assert up.shape == (2, 224, 224)
    assert torch.equal(upsample_maps(up), up)  # already at size: unchanged copy
    q = quantize_maps(torch.tensor([[[0.0, 0.5, 1.0]]]))
    assert q.dtype == np.uint8 and q.tolist() == [[[0, 127, 255]]]


def test_regions_at_threshold_hand_case():
    m = np.array(
        [[0.9, 0.9, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.7], [0.0, 0.0, 0.0, 0.6, 0.0], [1.0, 0.0, 0.0, 0.0, 0.0]]
    )
    labels, boxes, areas = regions_at_threshold(m, 0.5)
    # three 8-connected regions: top-left pair, the diagonal pair (0.7, 0.6), the bottom-left 1.0
    assert len(boxes) == 3
    got = sorted(zip(map(tuple, boxes.tolist()), areas.tolist()))
    assert got == [((0, 0, 1, 0), 2), ((0, 3, 0, 3), 1), ((3, 1, 4, 2), 2)]
    assert labels.dtype == np.int32 and labels.max() == 3 and (labels > 0).sum() == 5
    # strict >: at 0.6 relative threshold the 0.6 pixel (q=153, level int(0.6*255)=153) is background
    assert regions_at_threshold(m, 0.6)[2].sum() == 4


def test_pseudo_mask_with_ignore_band():
    m = np.array([[0.1, 0.3, 0.6, 0.9]])
    assert pseudo_mask(m, 0.5).tolist() == [[0, 0, 1, 1]]
    assert pseudo_mask(m, 0.5, ignore_threshold=0.2).tolist() == [[0, IGNORE_VALUE, 1, 1]]
    with pytest.raises(ValueError, match="below threshold"):
        pseudo_mask(m, 0.5, ignore_threshold=0.7)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        pseudo_mask(m * 2, 0.5)


def test_quantize_numpy_chunks_equal_one_astype():
    """The numba path, one thread (small batches) or split over threads (from 2**20 values on), truncates exactly as
    ``(m * 255).astype(uint8)`` (float64 and float32, a ragged split)."""
    rng = np.random.default_rng(3)
    for shape in [(19, 7, 5), (3, 1001, 699)]:
        for dtype in (np.float64, np.float32):
            maps = rng.random(shape).astype(dtype)
            maps[0, 0, :3] = [0.0, 1.0, 254.9999 / 255]
            assert np.array_equal(quantize_maps(maps), (maps * 255).astype(np.uint8))
    assert quantize_maps(np.zeros((0, 4, 4))).shape == (0, 4, 4)


def test_float64_resizing_is_cv2_inter_cubic():
    """wsolevaluation resizes float64 CAMs with cv2.INTER_CUBIC; ours gives its values to 1e-12 and the same
    quantised maps, at power-of-two scales (VGG / ResNet CAMs), other scales, non-square maps and downscaling."""
    import cv2

    rng = np.random.default_rng(5)
    for (h, w), (H, W) in [
        ((7, 7), (224, 224)),
        ((14, 14), (224, 224)),
        ((28, 28), (224, 224)),
        ((13, 13), (224, 224)),
        ((8, 12), (224, 224)),
        ((9, 5), (31, 17)),
        ((300, 200), (224, 224)),
    ]:
        cams = np.maximum(rng.normal(0, 1, (4, h, w)), 0)
        ours = upsample_maps(torch.from_numpy(cams), (H, W))
        assert ours.dtype == torch.float64 and tuple(ours.shape) == (4, H, W)
        ref = np.stack([cv2.resize(c, (W, H), interpolation=cv2.INTER_CUBIC) for c in cams])
        assert np.abs(ours.numpy() - ref).max() < 1e-12
        assert np.array_equal(quantize_maps(normalize_maps(ours)), quantize_maps(normalize_maps(ref)))
    assert upsample_maps(torch.zeros(1, 4, 4, dtype=torch.float16)).dtype == torch.float32


def test_bicubic_matrix_rows_sum_to_one_and_constant_maps_stay_constant():
    from wsol.localization.maps import bicubic_matrix

    for n_in, n_out in [(7, 224), (13, 224), (224, 50), (1, 5)]:
        m = bicubic_matrix(n_in, n_out)
        assert m.shape == (n_out, n_in) and np.allclose(m.sum(axis=1), 1.0, atol=1e-6)
    up = upsample_maps(torch.full((2, 5, 3), 0.25, dtype=torch.float64), (40, 11))
    assert torch.allclose(up, torch.full_like(up, 0.25), atol=1e-7)


def test_normalize_one_pass_equals_the_definition_and_names_bad_maps():
    """min/max in one pass: same values as ``(m - min) / max(m - min)``; constant maps become 0; NaN/inf name the map
    (numpy and torch, float32 and float64)."""
    rng = np.random.default_rng(8)
    maps = rng.normal(0, 3, (5, 9, 7))
    maps[2] = 4.25  # constant
    for x in (maps, maps.astype(np.float32), torch.from_numpy(maps), torch.from_numpy(maps.astype(np.float32))):
        got = np.asarray(normalize_maps(x))
        flat = np.asarray(x).reshape(5, -1)
        shifted = flat - flat.min(axis=1, keepdims=True)
        for i in (0, 1, 3, 4):
            assert np.array_equal(got[i].ravel(), shifted[i] / shifted[i].max())
        assert not got[2].any()
        bad = x.copy() if isinstance(x, np.ndarray) else x.clone()
        bad[3, 1, 1] = float("nan") if bad.dtype in (np.float64, torch.float64) else float("inf")
        with pytest.raises(ValueError, match="'d'"):
            normalize_maps(bad, ["a", "b", "c", "d", "e"])
