"""What the export reads and how it writes: batch and shard invariance of the bytes, symlinked inputs,
damaged images listed as JSON lines, umask-derived file modes, the lock of a running export."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from wsol.data import ImageFolderDataset, WSOLDataset, build_transform, load_split
from wsol.data.imageio import jpeg_truncated, read_image
from wsol.errors import UserInputError
from wsol.export.pipeline import run_export
from wsol.export.postprocess import PostprocessSettings
from wsol.export.runner import ExportSpec, RunOptions
from wsol.export.shards import ExportLockedError, export_lock
from wsol.export.source import folder_source, split_source

POST = PostprocessSettings(threshold=0.3, num_classes=3)
FINAL = ("results.json", "dataset.json", "quality.json", "bad_images.jsonl", "masks/", "scoremaps/")


def export(model, source, out, shard_size=9, batch_size=2, **kw):
    spec = ExportSpec(post=POST, topk=2, shard_size=shard_size)
    opts = RunOptions(batch_size=batch_size, workers=0, post_workers=2, progress=False)
    return run_export(model, source, spec, opts, out, "digest", **kw)


def split_src(root: Path):
    return split_source(load_split(root, "test"), build_transform("eval", input_size=64), WSOLDataset)


def folder_src(folder: Path):
    return folder_source(ImageFolderDataset(folder, build_transform("eval", input_size=64)), ["a", "b", "c"])


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_export_bytes_do_not_depend_on_batch_size_or_shard_count(model, synthetic_root, tmp_path):
    trees = {}
    for shard_size in (9, 3):  # 9 test images: 1 shard, 3 shards
        for batch in (1, 7, 64):
            out = tmp_path / f"s{shard_size}_b{batch}"
            stats = export(model, split_src(synthetic_root), out, shard_size=shard_size, batch_size=batch)
            assert stats["shards_total"] == 9 // shard_size and stats["images"] == 9
            trees[shard_size, batch] = tree(out)
    for shard_size in (9, 3):  # every file, export.json and shards included, whatever the batch size
        assert trees[shard_size, 1] == trees[shard_size, 7] == trees[shard_size, 64]
    one, three = ({k: v for k, v in trees[s, 7].items() if k.startswith(FINAL)} for s in (9, 3))
    assert one == three and len(one) == 4 + 2 * 9  # the final files do not depend on the shard count
    assert sorted(p for p in trees[3, 7] if p.startswith("shards/")) == [f"shards/shard_0000{i}.json" for i in range(3)]


def test_symlinked_images_folder_and_subfolders_are_inputs(model, synthetic_root, tmp_path):
    shared = tmp_path / "shared_images"
    shutil.copytree(synthetic_root / "images", shared)
    linked = tmp_path / "linked"
    linked.mkdir()
    shutil.copytree(synthetic_root / "metadata", linked / "metadata")
    (linked / "images").symlink_to(shared, target_is_directory=True)  # a dataset sharing its images
    (linked / "masks").symlink_to(synthetic_root / "masks", target_is_directory=True)
    assert export(model, split_src(linked), tmp_path / "via_link")["bad_images"] == 0
    export(model, split_src(synthetic_root), tmp_path / "direct")
    final = [k for k in tree(tmp_path / "direct") if k.startswith(("results", "masks/", "scoremaps/"))]
    assert all(tree(tmp_path / "via_link")[k] == tree(tmp_path / "direct")[k] for k in final)

    photos = tmp_path / "photos"
    photos.mkdir()
    classes = sorted((shared / "test").iterdir())
    for sub in classes:
        (photos / sub.name).symlink_to(sub, target_is_directory=True)
    (photos / "loop").symlink_to(photos, target_is_directory=True)  # a cycle is walked once
    stats = export(model, folder_src(photos), tmp_path / "folder")
    assert stats["images"] == 9
    ids = [im["file_name"] for im in json.loads((tmp_path / "folder" / "dataset.json").read_text())["images"]]
    assert ids == sorted(f"{c.name}/{f.name}" for c in classes for f in c.iterdir())


def test_damaged_jpeg_and_odd_names_are_listed_as_json_lines(model, synthetic_root, tmp_path):
    import cv2

    photos = tmp_path / "photos"
    shutil.copytree(synthetic_root / "images" / "test", photos)
    good = sorted(photos.rglob("*.png"))[0]
    ok, jpeg = cv2.imencode(".jpg", cv2.imread(str(good)))
    data = jpeg.tobytes()
    (photos / "cut.jpg").write_bytes(data[: len(data) // 2])  # a download stopped halfway
    (photos / "odd\nname\t.png").write_bytes(b"not an image")
    assert jpeg_truncated(jpeg) is False and jpeg_truncated(jpeg[: len(data) // 2]) is True
    with pytest.raises(UserInputError, match="cut.jpg: damaged JPEG"):
        read_image(photos / "cut.jpg")
    with pytest.warns(RuntimeWarning):
        source = folder_src(photos)
    stats = export(model, source, tmp_path / "out")
    lines = (tmp_path / "out" / "bad_images.jsonl").read_text().splitlines()
    bad = [json.loads(line) for line in lines]
    assert [b["image_id"] for b in bad] == ["cut.jpg", "odd\nname\t.png"]
    assert "damaged JPEG" in bad[0]["reason"] and stats["bad_images"] == 2 and stats["images"] == 9


def test_output_files_follow_the_umask(model, synthetic_root, tmp_path):
    umask = os.umask(0)
    os.umask(umask)
    export(model, split_src(synthetic_root), tmp_path / "out")
    modes = {}
    for p in (tmp_path / "out").rglob("*"):
        if p.is_file():
            modes.setdefault(p.relative_to(tmp_path / "out").parts[0], set()).add(stat.S_IMODE(p.stat().st_mode))
    expected = {0o666 & ~umask}
    assert expected != {0o600} or umask == 0o066  # the test can tell mkstemp's 0600 from the umask's mode
    assert modes["masks"] == modes["scoremaps"] == modes["results.json"] == modes["shards"] == expected


def test_lock_refuses_a_second_holder_and_is_removed(tmp_path):
    out = tmp_path / "out"
    with export_lock(out, 0) as lock:
        with pytest.raises(ExportLockedError, match="another export"):
            with export_lock(out, 0):
                pass
        with export_lock(out, 1):  # another rank of the same export
            pass
        assert lock.exists()
    assert not any(out.iterdir())
    with export_lock(out, 0):  # free again
        pass
