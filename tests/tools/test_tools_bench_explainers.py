"""tools/bench/explainers.py prints and writes its table (tiny models, one repeat)."""

from __future__ import annotations

import json

from tests.tools.conftest import load_bench

bench = load_bench("explainers")


def test_bench_explainers_small(tmp_path, capsys):
    out = tmp_path / "bench.json"
    code = bench.main(
        [
            "--model",
            "resnet18",
            "--batch",
            "1",
            "--size",
            "32",
            "--repeat",
            "1",
            "--scorecam-batch",
            "1",
            "--scorecam-size",
            "32",
            "--threads",
            "1",
            "--methods",
            "gradcam",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    rows = json.loads(out.read_text())["rows"]
    methods = {(r["method"], r["impl"]) for r in rows}
    assert {("forward (no_grad)", "torch"), ("gradcam", "wsol"), ("scorecam", "wsol")} <= methods
    assert all(r["seconds"] > 0 for r in rows)
    assert "| setting |" in capsys.readouterr().out
