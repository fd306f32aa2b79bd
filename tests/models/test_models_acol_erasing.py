"""ACoL erasing options: dilation of the erased region and the erasing warm-up (erase_start_step)."""

from __future__ import annotations

import pytest
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


@pytest.mark.parametrize("large_feature_map,cells", [(False, 8), (True, 16)])
def test_branch_b_input_is_zero_exactly_where_a_is_above_delta(large_feature_map, cells):
    """At the synthetic recipe's resolutions (tiny backbone at stride 8 or 4, 64 px → 8×8 or 16×16 cells),
    branch B's input equals the backbone features, except that every channel is zero where the label's min-max
    normalised branch-A map is >= δ (no dilation): checked cell by cell against a map normalised by hand."""
    torch.manual_seed(0)
    delta = 0.6
    model = build_model(
        tiny_model_cfg(
            "acol",
            f"model.large_feature_map={large_feature_map}",
            f"model.acol.delta={delta}",
            "model.acol.head_batch_norm=true",
        ),
        5,
    ).eval()
    images, labels = torch.randn(3, 3, 64, 64), torch.tensor([4, 0, 2])
    seen = []
    hook = model.head_b.register_forward_hook(lambda m, i, o: seen.append(i[0].detach().clone()))
    with torch.no_grad():
        out = model(images, labels)
        features = model.backbone(images)
    hook.remove()
    b_input = seen[0]
    assert b_input.shape[-2:] == (cells, cells) and features.shape == b_input.shape
    for i, c in enumerate(labels.tolist()):
        m = out.maps[i, c].double()
        norm = (m - m.min()) / (m.max() - m.min())
        erased = norm >= delta
        assert 0 < int(erased.sum()) < cells * cells
        assert torch.all(b_input[i][:, erased] == 0)
        assert torch.equal(b_input[i][:, ~erased], features[i][:, ~erased])
    assert torch.isclose(
        out.extras["erased_fraction"],
        torch.tensor(
            sum(
                float(
                    ((out.maps[i, c] - out.maps[i, c].min()) / (out.maps[i, c].max() - out.maps[i, c].min()) >= delta)
                    .float()
                    .mean()
                )
                for i, c in enumerate(labels.tolist())
            )
            / 3
        ),
    )


def test_acol_loss_reports_the_erased_fraction_without_gradient():
    torch.manual_seed(0)
    model = build_model(tiny_model_cfg("acol"), 4).train()
    images, labels = torch.randn(2, 3, 32, 32), torch.tensor([3, 1])
    losses = model.loss(model(images, labels), labels)
    assert set(losses) == {"loss", "ce_a", "ce_b", "erased_fraction"}
    assert not losses["erased_fraction"].requires_grad and 0 < float(losses["erased_fraction"]) < 1
    assert torch.isclose(losses["loss"], losses["ce_a"] + losses["ce_b"])


def test_erase_mask_at_a_finer_size_by_hand():
    """A 2×2 map [[0, 1], [2, 4]] (normalised [[0, .25], [.5, 1]]) resized bilinearly (half-pixel centres) to
    4×4, then thresholded at δ = 0.75 there."""
    class_map = torch.tensor([[[0.0, 1.0], [2.0, 4.0]]])
    keep = erase_mask(class_map, 0.75, size=(4, 4))[0]
    # row/column weights of bilinear 2→4 with align_corners=False: (1, .75/.25, .25/.75, 1)
    w = torch.tensor([[1.0, 0.0], [0.75, 0.25], [0.25, 0.75], [0.0, 1.0]])
    norm = torch.tensor([[0.0, 0.25], [0.5, 1.0]])
    expected = 1.0 - ((w @ norm @ w.T) >= 0.75).float()
    assert torch.equal(keep, expected)
    # by hand: (3,3) = 1, (2,3) = .25·.25 + .75·1 = .8125, (3,2) = .25·.5 + .75·1 = .875 are erased;
    # (2,2) = .25·(.75·.5) + .75·(.25·.25 + .75·1) = .703 is kept
    assert torch.equal(keep, torch.tensor([[1.0, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 0], [1, 1, 0, 0]]))
    assert torch.equal(erase_mask(class_map, 0.75, size=(2, 2)), erase_mask(class_map, 0.75))


@pytest.mark.parametrize("erase_at,start", [("input", 0), ("block2", 2), ("features", 3)])
def test_branch_b_reruns_the_trunk_on_the_tensor_erased_at_the_chosen_stage(erase_at, start):
    """erase_at: the tensor erased for B is the input image (0), a stage's output, or the final features (the
    paper); B's logits equal head_b(rest of the trunk(erased tensor)) computed by hand, with the erased cells
    exactly those where the bilinearly resized normalised A map is >= δ."""
    torch.manual_seed(0)
    delta = 0.6
    model = build_model(
        tiny_model_cfg(
            "acol", f"model.acol.erase_at={erase_at}", f"model.acol.delta={delta}", "model.acol.head_batch_norm=true"
        ),
        5,
    ).eval()
    images, labels = torch.randn(2, 3, 64, 64), torch.tensor([4, 0])
    with torch.no_grad():
        out = model(images, labels)
        erased_from = model.backbone(images, 0, start)
        for i, c in enumerate(labels.tolist()):
            m = out.maps[i : i + 1, c : c + 1].double()
            norm = (m - m.min()) / (m.max() - m.min())
            norm = torch.nn.functional.interpolate(
                norm, size=erased_from.shape[-2:], mode="bilinear", align_corners=False
            )[0, 0]
            keep = (norm < delta).to(erased_from.dtype)
            assert 0 < int((keep == 0).sum()) < keep.numel()
            by_hand = model.head_b(model.backbone(erased_from[i : i + 1] * keep, start)).mean((2, 3))
            assert torch.allclose(out.extras["logits_b"][i : i + 1], by_hand, atol=1e-5)
        loc = model.localize(images, classes=labels[:, None]).maps[:, 0]
    norm_a = out.maps[range(2), labels] - out.maps[range(2), labels].amin((1, 2), keepdim=True)
    norm_a = norm_a / norm_a.amax((1, 2), keepdim=True)
    assert torch.all(loc >= norm_a - 1e-6) and torch.allclose(loc.amax((1, 2)), torch.ones(2))


def test_erase_at_names_the_stages_when_unknown():
    with pytest.raises(ValueError, match=r"backbone stage \(block1, block2, block3\), got .block9."):
        build_model(tiny_model_cfg("acol", "model.acol.erase_at=block9"), 4)
