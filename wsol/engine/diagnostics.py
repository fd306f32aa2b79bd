"""Training diagnostics logged at each validation: dead ReLU channels of the model's new-layer heads.

A WSOL head trained with too high a learning rate (or an erasing branch that sees nothing) can end with ReLU
channels that output zero for every input; they carry no gradient and never recover, and the class maps built
on them lose detail. ``dead_channel_fraction`` measures this on a fixed batch so that a run shows it as it
happens (``diag/dead_<head>`` in TensorBoard).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def head_modules(model: nn.Module) -> dict[str, nn.Module]:
    """The model's new-layer heads: every top-level child except ``backbone`` (e.g. ACoL's ``head_a``)."""
    return {name: child for name, child in model.named_children() if name != "backbone"}


def dead_channel_fraction(model: nn.Module, images: Tensor, labels: Tensor | None = None) -> dict[str, float]:
    """For each head holding ``nn.ReLU`` modules: the fraction of their output channels that are zero at every
    position of every image of ``images`` (channels counted over all the head's ReLUs; a ReLU that runs
    several times is alive where any call is non-zero).

    ``dead = Σ_r |{c : y_r[b, c, ...] = 0 ∀ b, ...}| / Σ_r C_r`` over the head's ReLU modules ``r``. One
    forward in eval mode without gradients; hooks are removed and train/eval flags restored afterwards, also
    when the forward raises. ``labels``, when given, go to ``model(images, labels)``: ACoL runs its erasing
    branch ``head_b`` in eval mode only then. Heads without a ReLU, or that did not run, are left out.
    """
    relus = {
        head: [m for m in module.modules() if isinstance(m, nn.ReLU)] for head, module in head_modules(model).items()
    }
    relus = {head: mods for head, mods in relus.items() if mods}
    alive: dict[int, Tensor] = {}  # id(ReLU) → (C,) bool: channel non-zero somewhere

    def hook(module: nn.Module, args: object, output: Tensor) -> None:
        if not isinstance(output, Tensor) or output.dim() < 2:
            return
        seen = (output != 0).transpose(0, 1).flatten(1).any(1)  # (C,): non-zero at some image / position
        alive[id(module)] = alive[id(module)] | seen if id(module) in alive else seen

    handles: list[torch.utils.hooks.RemovableHandle] = []
    flags = [(m, m.training) for m in model.modules()]
    try:
        for mods in relus.values():
            for m in mods:
                handles.append(m.register_forward_hook(hook))
        model.eval()
        with torch.no_grad():
            model(images) if labels is None else model(images, labels)
    finally:
        for h in handles:
            h.remove()
        for module, flag in flags:
            module.training = flag
    out = {}
    for head, mods in relus.items():
        ran = [alive[id(m)] for m in mods if id(m) in alive]
        total = sum(int(a.numel()) for a in ran)
        if total:
            out[head] = sum(int((~a).sum()) for a in ran) / total
    return out
