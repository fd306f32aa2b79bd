"""Output-folder rules (never overwrite without --overwrite, resume only with equal settings) and the
threshold's origin (explicit, evaluation JSON, checkpoint; never a silent default)."""

from __future__ import annotations

import json

import pytest

from wsol.export.pipeline import resolve_threshold, threshold_from_json
from wsol.export.shards import ExportExistsError, num_shards, prepare_output, rank_shards, shard_range

SETTINGS = {"fingerprint": "abc", "num_images": 5, "shard_size": 2}


def test_export_shard_plan():
    assert num_shards(5, 2) == 3 and list(shard_range(2, 5, 2)) == [4]
    assert rank_shards(5, 0, 2) == [0, 2, 4] and rank_shards(5, 1, 2) == [1, 3]
    assert sorted(rank_shards(7, 0, 3) + rank_shards(7, 1, 3) + rank_shards(7, 2, 3)) == list(range(7))
    with pytest.raises(ValueError):
        rank_shards(3, 2, 2)


def test_export_never_overwrites_without_flag(tmp_path):
    out = tmp_path / "out"
    assert prepare_output(out, SETTINGS, overwrite=False) is False
    (out / "masks" / "sub").mkdir(parents=True)
    (out / "masks" / "sub" / ".a.png.png.k2j3.tmp").write_bytes(b"torn")  # left by a killed run
    (out / "masks" / "sub" / "a.png.png").write_bytes(b"kept")
    assert prepare_output(out, SETTINGS, overwrite=False) is True  # unfinished, same settings: resume
    assert [p.name for p in (out / "masks" / "sub").iterdir()] == ["a.png.png"]
    with pytest.raises(ExportExistsError, match="other settings.*fingerprint"):
        prepare_output(out, {**SETTINGS, "fingerprint": "xyz"}, overwrite=False)
    (out / "results.json").write_text("[]")
    with pytest.raises(ExportExistsError, match="finished export"):
        prepare_output(out, SETTINGS, overwrite=False)
    (out / "notes.txt").write_text("mine")
    assert prepare_output(out, SETTINGS, overwrite=True) is False  # starts again, keeps the user's file
    assert not (out / "results.json").exists() and not (out / "masks").exists()
    assert (out / "notes.txt").read_text() == "mine"


def test_export_refuses_foreign_folder(tmp_path):
    (tmp_path / "photo.jpg").write_bytes(b"x")
    with pytest.raises(ExportExistsError, match="holds no export"):
        prepare_output(tmp_path, SETTINGS, overwrite=False)


def test_export_threshold_sources(tmp_path):
    with pytest.raises(ValueError, match="no threshold"):
        resolve_threshold(None, None, None)
    with pytest.raises(ValueError, match="no threshold"):
        resolve_threshold(None, None, {"metric": "x"})
    assert resolve_threshold(0.25, None, {"threshold": 0.4})[0] == 0.25
    assert resolve_threshold(None, None, {"threshold": 0.4, "metric": "MaxBoxAccV2", "split": "val"}) == (
        0.4,
        "checkpoint localization (MaxBoxAccV2 on val)",
    )
    nested = tmp_path / "eval.json"
    nested.write_text(json.dumps({"top1_cls": 90.0, "localization": {"threshold": 0.35}}))
    assert threshold_from_json(nested)[0] == 0.35
    evaluated = tmp_path / "test_eval.json"  # a test evaluation: the val threshold wins over test's oracle
    evaluated.write_text(json.dumps({"chosen_threshold": 0.61, "fixed/threshold": 0.45}))
    assert threshold_from_json(evaluated) == (0.45, f"{evaluated}:fixed/threshold")
    flat = tmp_path / "flat.json"
    flat.write_text(json.dumps({"threshold": 0.2}))
    assert resolve_threshold(None, flat, {"threshold": 0.9})[0] == 0.2
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"threshold": "high"}))
    with pytest.raises(ValueError, match="empty.json: no fixed threshold"):
        threshold_from_json(empty)
    with pytest.raises(ValueError, match="not both"):
        resolve_threshold(0.1, flat, None)


def test_prepare_output_ignores_and_keeps_temp_files_of_other_ranks(tmp_path):
    """A rank starting while another writes its settings atomically sees only a temp file: not 'non-empty'."""
    out = tmp_path / "out"
    out.mkdir()
    in_flight = out / ".export.json.abc123.tmp"
    in_flight.write_text("{")
    assert prepare_output(out, SETTINGS, overwrite=False, clean_temp=False) is False
    shard_tmp = out / "shards" / ".shard_00001.json.x.tmp"
    shard_tmp.parent.mkdir()
    shard_tmp.write_text("partial")
    assert prepare_output(out, SETTINGS, overwrite=False, clean_temp=False) is True
    assert in_flight.exists() and shard_tmp.exists()  # never delete another rank's write in flight
    assert prepare_output(out, SETTINGS, overwrite=False, clean_temp=True) is True
    assert not in_flight.exists() and not shard_tmp.exists()  # a lone process cleans up after a killed run
