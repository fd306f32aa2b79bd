"""tools/bench/localization.py: the timed references and the component-tree evaluator give the same figures."""

from __future__ import annotations

import numpy as np

from tests.tools.conftest import load_bench
from wsol.localization.reference import synthetic_cams

bench = load_bench("localization")


def test_bench_localization_runs_and_agrees(capsys):
    assert bench.main(["--num-maps", "4", "--intervals", "0.1", "--reference-maps", "2"]) == 0
    text = capsys.readouterr().out
    assert "reference timed on 2 maps and extrapolated linearly" in text
    assert "identical figures: True" in text


def test_synthetic_cams_are_normalised_maps_with_one_box_inside_each():
    maps, gts = synthetic_cams(3, seed=1)
    assert maps.shape == (3, 224, 224) and maps.dtype == np.float64 and len(gts) == 3
    assert np.allclose(maps.min((1, 2)), 0) and np.allclose(maps.max((1, 2)), 1)
    for box in gts:
        assert box.shape == (1, 4) and box.dtype == np.int64
        x0, y0, x1, y1 = box[0]
        assert 0 <= x0 <= x1 <= 223 and 0 <= y0 <= y1 <= 223
    again, _ = synthetic_cams(3, seed=1)
    assert np.array_equal(maps, again)  # seeded
