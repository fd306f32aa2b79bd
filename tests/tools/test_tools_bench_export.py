"""tools/bench/export.py: the export's rate next to the bare forward's, on generated images."""

from __future__ import annotations

import json

import pytest

from tests.tools.conftest import load_bench

bench = load_bench("export")


def test_export_bench_reports_both_rates(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert (
        bench.main(
            [
                "--method",
                "cam",
                "--input-size",
                "64",
                "--images",
                "6",
                "--image-size",
                "80",
                "60",
                "--batch-size",
                "3",
                "--workers",
                "0",
                "--threads",
                "1",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    figures = json.loads(out.read_text())
    assert figures["forward_img_s"] > 0 and figures["export_img_s"] > 0 and figures["images"] == 6
    assert figures["image_size"] == [80, 60] and figures["batch_size"] == 3 and figures["topk"] == 1
    # rounded to 3 decimals from the unrounded rates, which are themselves rounded to 2 in the report
    assert figures["ratio"] == pytest.approx(figures["export_img_s"] / figures["forward_img_s"], rel=0.02)
    assert "bare forward" in capsys.readouterr().out
