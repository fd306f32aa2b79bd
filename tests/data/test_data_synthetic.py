"""The synthetic benchmark: byte-for-byte determinism, statistics as printed by ``wsol inspect-dataset``,
masks consistent with boxes, overwrite protection, and the CLI."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from datatest_helpers import TINY_SYNTHETIC

from wsol.cli import inspect_dataset, make_synthetic
from wsol.data import DatasetError, WSOLDataset, build_transform, collate_samples, load_split
from wsol.data.synthetic import SyntheticConfig, class_names, generate


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_other_seed_differs(tmp_path, tiny_synthetic):
    again = generate(tmp_path / "again", TINY_SYNTHETIC)
    a, b = tree_bytes(tiny_synthetic), tree_bytes(again)
    assert a.keys() == b.keys() and a == b
    other = tree_bytes(generate(tmp_path / "other", dataclasses.replace(TINY_SYNTHETIC, seed=8)))
    pngs = [k for k in a if k.startswith("images/")]
    assert [k for k in other if k.startswith("images/")] == pngs  # same image layout ...
    assert sum(a[k] != other[k] for k in pngs) == len(pngs)  # ... but every image differs


def test_layout_counts_and_class_names(tiny_synthetic):
    for split, per_class in (("train", 2), ("val", 1), ("test", 4)):
        info = load_split(tiny_synthetic, split)
        assert info.fmt == "wsolevaluation" and len(info) == 3 * per_class
        assert [r.label for r in info.records] == [i % 3 for i in range(3 * per_class)]
        assert info.class_names == class_names(TINY_SYNTHETIC) == ["c00_hstripes", "c01_vstripes", "c02_checker"]
        assert all(r.has_mask and r.ignore_path for r in info.records)
        assert set(info.extras["parts"]) == {r.image_id for r in info.records}


def test_masks_boxes_parts_are_consistent(tiny_synthetic):
    info = load_split(tiny_synthetic, "test")
    ds = WSOLDataset(info)
    for i, rec in enumerate(info.records):
        image, mask = ds.load_raw(i)
        w, h = rec.size
        assert image.shape == (h, w, 3) and 64 <= w <= 80 and 64 <= h <= 80
        assert 1 <= len(rec.boxes) <= 2 and len(rec.mask_paths) == len(rec.boxes)
        # the union of the object boxes is the tight box of the foreground mask (inclusive corners)
        ys, xs = np.nonzero(mask == 1)
        b = rec.boxes
        assert [xs.min(), ys.min(), xs.max(), ys.max()] == [b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()]
        # each head box lies inside its object box; ignore band touches no foreground pixel
        for part, box in zip(info.extras["parts"][rec.image_id], b):
            assert box[0] <= part[0] <= part[2] <= box[2] and box[1] <= part[1] <= part[3] <= box[3]
        assert (mask == 255).any()


def test_inspect_prints_generator_statistics(tiny_synthetic, tmp_path, capsys):
    out_json = tmp_path / "summary.json"
    assert inspect_dataset.main([str(tiny_synthetic), "--split", "test", "--json", str(out_json)]) == 0
    printed = capsys.readouterr().out
    summary = json.loads(out_json.read_text())
    info = load_split(tiny_synthetic, "test")
    counts = [len(r.boxes) for r in info.records]
    assert summary["images"] == 12 and summary["boxes"] == sum(counts)
    assert summary["boxes_per_image"] == {str(k): counts.count(k) for k in sorted(set(counts))}
    assert set(summary["boxes_per_image"]) <= {"1", "2"}
    assert f"images 12  classes 3 (3 present)  boxes {sum(counts)}" in printed
    assert "boxes (objects) per image: " + "  ".join(f"{k}: {counts.count(k)}" for k in sorted(set(counts))) in printed
    # part/object ratio from the files, recomputed by hand with inclusive pixel areas
    ratios = []
    for r in info.records:
        for p, b in zip(info.extras["parts"][r.image_id], r.boxes):
            ratios.append((p[2] - p[0] + 1) * (p[3] - p[1] + 1) / ((b[2] - b[0] + 1) * (b[3] - b[1] + 1)))
    ratio = summary["part_object_area_ratio"]
    assert ratio["q50"] == pytest.approx(float(np.median(ratios)))
    assert 0.03 < ratio["q00"] and ratio["q100"] < 0.3  # a small part of the object: the WSOL set-up
    assert f"part box area / object box area: q00 {ratio['q00']:.3f}" in printed
    areas = summary["box_relative_area"]
    assert 0.02 < areas["q00"] <= areas["q50"] <= areas["q100"] < 0.9
    assert summary["mask_foreground_fraction"]["q00"] > 0 and summary["problems"] == []
    assert "no problems found" in printed


def test_inspect_reports_missing_files_with_metadata_line(tiny_synthetic, tmp_path, capsys):
    broken = tmp_path / "broken"
    for rel, data in tree_bytes(tiny_synthetic).items():
        (broken / rel).parent.mkdir(parents=True, exist_ok=True)
        (broken / rel).write_bytes(data)
    info = load_split(broken, "val")
    (broken / info.records[1].image_id).unlink()
    (broken / info.records[2].mask_paths[0]).write_bytes(b"garbage")
    assert inspect_dataset.main([str(broken), "--split", "val"]) == 1
    printed = capsys.readouterr().out
    assert "PROBLEMS (2):" in printed
    assert "image file is missing (listed at" in printed and "metadata/val/image_ids.txt:2)" in printed
    assert "unreadable or corrupt mask (listed at" in printed and "image_ids.txt:3)" in printed
    (broken / "metadata" / "val" / "localization.txt").write_text("oops\n")
    assert inspect_dataset.main([str(broken), "--split", "val", "--no-check"]) == 1
    assert "localization.txt:1: expected 5 fields" in capsys.readouterr().out


def test_overwrite_protection(tmp_path, tiny_synthetic):
    target = tmp_path / "taken"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    with pytest.raises(DatasetError, match="not empty"):
        generate(target, TINY_SYNTHETIC)
    generate(tmp_path / "d", TINY_SYNTHETIC)
    generate(tmp_path / "d", TINY_SYNTHETIC)  # the same dataset again is fine
    with pytest.raises(DatasetError, match="overwrite"):
        generate(tmp_path / "d", dataclasses.replace(TINY_SYNTHETIC, seed=1))
    generate(tmp_path / "d", dataclasses.replace(TINY_SYNTHETIC, seed=1, test_per_class=1), overwrite=True)
    assert len(load_split(tmp_path / "d", "test")) == 3


def test_cli_writes_dataset_and_preview(tmp_path, capsys):
    out, preview = tmp_path / "syn", tmp_path / "prev.png"
    argv = [
        "--out",
        str(out),
        "--num-classes",
        "2",
        "--train-per-class",
        "1",
        "--val-per-class",
        "1",
        "--test-per-class",
        "1",
        "--size-range",
        "64,72",
        "--preview",
        str(preview),
    ]
    assert make_synthetic.main(argv) == 0
    assert "wrote 6 images (2 classes" in capsys.readouterr().out
    assert preview.stat().st_size > 0 and len(load_split(out, "train")) == 2
    assert make_synthetic.main(argv[:2] + ["--seed", "5"]) == 1  # a different dataset is refused
    with pytest.raises(SystemExit):
        make_synthetic.main(["--size-range", "64"])


def test_batches_of_synthetic(tiny_synthetic):
    ds = WSOLDataset(load_split(tiny_synthetic, "train"), build_transform("train", 48))
    batch = collate_samples([ds[i] for i in range(4)])
    assert batch["image"].shape == (4, 3, 48, 48) and batch["mask"].shape == (4, 48, 48)
    assert batch["label"].tolist() == [0, 1, 2, 0] and len(batch["orig_boxes"]) == 4


def test_config_validation():
    with pytest.raises(ValueError, match="num_classes"):
        SyntheticConfig(num_classes=1)
    with pytest.raises(ValueError, match="size_range"):
        SyntheticConfig(size_range=(200, 100))
    assert SyntheticConfig.from_dict(SyntheticConfig().to_dict()) == SyntheticConfig()
