"""ACoL erasing options: dilation of the erased region and the erasing warm-up (erase_start_step)."""

from __future__ import annotations

import torch

from tests.models.conftest import tiny_model_cfg
from wsol.models import build_model
from wsol.models.acol import erase_mask


def test_erase_dilation_grows_the_erased_region_by_hand():
    class_map = torch.zeros(1, 5, 5)
    class_map[0, 2, 2] = 1.0  # only the centre is >= delta
    assert erase_mask(class_map, 0.6)[0].sum() == 24
    grown = erase_mask(class_map, 0.6, dilation=1)[0]
    assert grown[1:4, 1:4].sum() == 0 and grown.sum() == 16  # the 3x3 block around the peak is erased


def test_branch_b_unerased_before_start_step_and_erased_after():
    torch.manual_seed(0)
    model = build_model(tiny_model_cfg("acol", "model.acol.erase_start_step=2"), 4).train()
    images, labels = torch.randn(2, 3, 32, 32), torch.tensor([3, 1])
    seen = []
    model.head_b.register_forward_hook(lambda m, i, o: seen.append(i[0].detach().clone()))
    for _ in range(3):
        model(images, labels)
    features = model.backbone(images)  # BN in train mode: same batch, same statistics
    assert torch.allclose(seen[0], features, atol=1e-5) and torch.allclose(seen[1], features, atol=1e-5)
    assert (seen[2] == 0).any() and not torch.allclose(seen[2], features, atol=1e-5)
    assert int(model.train_steps) == 3
    model.eval()
    model(images, labels)  # eval forward: always erased, counter unchanged
    assert int(model.train_steps) == 3 and (seen[3] == 0).any()
