"""End to end on a tiny model and a tiny synthetic split: COCO files, resume after an interruption gives the
same bytes, and a two-rank split merges to the same files as one process."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from pycocotools.coco import COCO

from wsol.data import ImageFolderDataset, WSOLDataset, build_transform, load_split
from wsol.export.merge import merge_export
from wsol.export.pipeline import run_export
from wsol.export.postprocess import PostprocessSettings
from wsol.export.runner import ExportSpec, RunOptions
from wsol.export.source import folder_source, split_source
from wsol.export.writers import read_png_mask

SPEC = ExportSpec(post=PostprocessSettings(threshold=0.3, num_classes=3), topk=2, shard_size=2)


def split_src(root: Path):
    return split_source(load_split(root, "test"), build_transform("eval", input_size=64), WSOLDataset)


def export(model, source, out, spec=SPEC, **kw):
    opts = RunOptions(
        batch_size=kw.pop("batch_size", 2),
        workers=0,
        post_workers=2,
        progress=False,
        rank=kw.pop("rank", 0),
        world_size=kw.pop("world_size", 1),
    )
    return run_export(model, source, spec, opts, out, "digest", **kw)


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def reference(model, synthetic_root, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ref") / "out"
    stats = export(model, split_src(synthetic_root), out)
    assert stats["images"] == 9 and stats["shards_total"] == 5 and "merge" in stats
    return out


def test_export_files_are_valid_coco(reference, synthetic_root):
    results = json.loads((reference / "results.json").read_text())
    with contextlib.redirect_stdout(io.StringIO()):
        data = COCO(str(reference / "dataset.json"))
        dets = data.loadRes(str(reference / "results.json"))
    assert len(dets.getAnnIds()) == len(results) == len(data.getAnnIds()) > 0
    assert len(data.getImgIds()) == 9 and {r["image_id"] for r in results} <= set(data.getImgIds())
    split = load_split(synthetic_root, "test")
    sizes = {r.image_id: r.size for r in split.records}
    for img in data.loadImgs(data.getImgIds()):
        assert (img["width"], img["height"]) == sizes[img["file_name"]]
        mask = read_png_mask(reference / "masks" / f"{img['file_name']}.png")
        assert mask.shape == (img["height"], img["width"]) and mask.dtype == np.uint8
        assert set(np.unique(mask)) <= {0, 1, 2, 3}
        cam = np.load(reference / "scoremaps" / f"{img['file_name']}.npy")
        assert cam.shape == (224, 224) and cam.dtype == np.float32 and cam.max() == pytest.approx(1.0)
        for ann in data.loadAnns(data.getAnnIds(imgIds=img["id"])):  # every pixel of a region is in the PNG
            region = data.annToMask(ann).astype(bool)
            assert region.sum() == ann["area"] and (mask[region] > 0).all()
    quality = json.loads((reference / "quality.json").read_text())
    assert set(quality["bbox"]) >= {"AP", "AP50", "AR100"} and quality["segm"] is not None
    assert quality["localization"]["images"] == 9 and quality["threshold"] == 0.3
    assert (reference / "bad_images.jsonl").read_text() == ""


def test_export_resume_after_interrupt_gives_same_files(model, synthetic_root, reference, tmp_path):
    out = tmp_path / "out"
    done = []

    def crash(shard: int) -> None:
        done.append(shard)
        if len(done) == 2:
            raise KeyboardInterrupt("simulated kill after 2 shards")

    with pytest.raises(KeyboardInterrupt):
        export(model, split_src(synthetic_root), out, on_shard_done=crash)
    assert not (out / "results.json").exists() and len(list((out / "shards").glob("*.json"))) == 2
    stats = export(model, split_src(synthetic_root), out)
    assert stats["shards_skipped"] == 2 and stats["resumed"]
    assert tree(out) == tree(reference)


def test_export_two_ranks_merge_like_one_process(model, synthetic_root, reference, tmp_path):
    out = tmp_path / "out"
    source = split_src(synthetic_root)
    for rank in (1, 0):
        stats = export(model, source, out, rank=rank, world_size=2)
        assert "merge" not in stats  # independent ranks: the merge is a separate step
    merge_export(out, source.ground_truth)
    assert tree(out) == tree(reference)


def test_export_overwrite_and_gt_class(model, synthetic_root, reference, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(reference, out)
    with pytest.raises(FileExistsError, match="--overwrite"):
        export(model, split_src(synthetic_root), out)
    spec = ExportSpec(post=SPEC.post, use_gt_class=True, shard_size=4)
    export(model, split_src(synthetic_root), out, spec=spec, overwrite=True)
    split = load_split(synthetic_root, "test")
    labels = {r.image_id: r.label for r in split.records}
    data = json.loads((out / "dataset.json").read_text())
    files = {im["id"]: im["file_name"] for im in data["images"]}
    assert data["annotations"] and all(
        a["category_id"] == labels[files[a["image_id"]]] + 1 for a in data["annotations"]
    )
    assert not (out / "shards" / "shard_00004.json").exists()  # the old 2-image shards were removed


def test_export_folder_lists_bad_images(model, synthetic_root, tmp_path):
    folder = tmp_path / "photos"
    shutil.copytree(synthetic_root / "images", folder)
    (folder / "broken.jpg").write_bytes(b"not an image at all")
    good = sorted(folder.rglob("*.png"))[0]
    (folder / "cut.png").write_bytes(good.read_bytes()[:60])  # truncated PNG
    with pytest.warns(RuntimeWarning):
        source = folder_source(ImageFolderDataset(folder, build_transform("eval", input_size=64)), ["a", "b", "c"])
    out = tmp_path / "out"
    stats = export(model, source, out)
    bad = [json.loads(line) for line in (out / "bad_images.jsonl").read_text().splitlines()]
    assert [b["image_id"] for b in bad] == ["broken.jpg", "cut.png"]
    assert all(len(b["reason"]) > 0 for b in bad)
    assert stats["merge"]["images"] == 9 and not (out / "quality.json").exists()
    with pytest.raises(ValueError, match="use-gt-class"):
        export(model, source, tmp_path / "gt", spec=ExportSpec(post=SPEC.post, use_gt_class=True))
