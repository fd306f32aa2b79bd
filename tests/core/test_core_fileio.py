import json
import os

import pytest
import torch

from wsol.fileio import atomic_open, atomic_torch_save, atomic_write_json, safe_join


def test_atomic_write_replaces_whole_file(tmp_path):
    path = tmp_path / "out.json"
    atomic_write_json(path, {"a": 1})
    atomic_write_json(path, {"b": [1, 2]})
    assert json.loads(path.read_text()) == {"b": [1, 2]}
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temp file left behind


def test_failed_write_keeps_old_content_and_leaves_no_temp(tmp_path):
    path = tmp_path / "keep.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_open(path, "w") as f:
            f.write("half written")
            raise RuntimeError("crash in the middle")
    assert path.read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == ["keep.txt"]


def test_atomic_torch_save_loads_with_weights_only(tmp_path):
    path = tmp_path / "sub" / "ckpt.pt"
    atomic_torch_save({"w": torch.arange(3.0), "epoch": 2}, path)
    loaded = torch.load(path, weights_only=True)
    assert loaded["epoch"] == 2 and torch.equal(loaded["w"], torch.arange(3.0))


@pytest.mark.parametrize("name", ["../x.png", "a/../../x.png", "/etc/passwd", "", "C:evil"])
def test_safe_join_rejects_escapes(tmp_path, name):
    with pytest.raises(ValueError, match="unsafe output name"):
        safe_join(tmp_path, name)


def test_safe_join_rejects_symlink_escape(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(outside)
    with pytest.raises(ValueError):
        safe_join(root, "link/file.png")


def test_safe_join_accepts_nested_ids(tmp_path):
    assert safe_join(tmp_path, "test/001.Bird/img 1.jpg") == (tmp_path / "test/001.Bird/img 1.jpg").resolve()


def test_atomic_write_follows_umask(tmp_path):
    path = tmp_path / "perm.txt"
    atomic_write_json(path, [1])
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask
