"""open_source: the checkpoint + split every picture command starts from."""

from __future__ import annotations

import pytest

from wsol.viz.source import open_source


def test_open_source_uses_checkpoint_data_root_and_input_size(viz_checkpoint, viz_data):
    src = open_source(viz_checkpoint, None, "test")
    assert len(src.info.records) == 9
    item = src.dataset[0]
    assert tuple(item["image"].shape) == (3, 64, 64)
    assert not src.model.training
    assert src.model(item["image"][None]).logits.shape == (1, 3)
    assert open_source(viz_checkpoint, viz_data, "val").info.records[0].image_id.startswith("images/val/")


def test_open_source_missing_files_say_what_makes_them(tmp_path, viz_checkpoint):
    with pytest.raises(FileNotFoundError, match="wsol quickstart"):
        open_source(tmp_path / "none.pt")
    with pytest.raises(FileNotFoundError, match="make-synthetic"):
        open_source(viz_checkpoint, tmp_path / "nodata")
