"""Hook plumbing shared by every explainer: capture layer outputs, find layers, keep the model's state intact.

All hooks live inside context managers: their handles are kept in a list and removed in ``finally`` (also when
the forward raises), so a model leaves an explainer exactly as it came in — same hooks (none added), same
train/eval flags, same parameter ``.grad``.
"""

from __future__ import annotations

import contextlib
import difflib
from typing import Callable, Iterator, Sequence

import torch
from torch import Tensor, nn


def model_logits(output: object) -> Tensor:
    """Logits of a model output: a tensor, an object with ``.logits`` (``WSOLOutput``), or a tuple's first item."""
    if isinstance(output, Tensor):
        logits = output
    elif hasattr(output, "logits"):
        logits = output.logits
    elif isinstance(output, (tuple, list)) and output and isinstance(output[0], Tensor):
        logits = output[0]
    else:
        raise TypeError(f"cannot find logits in a model output of type {type(output).__name__}; expected a "
                        "(B, C) tensor, an object with .logits, or a tuple whose first item is the logits")
    if logits.dim() != 2:
        raise ValueError(f"model logits must be (B, C), got shape {tuple(logits.shape)}")
    return logits


@contextlib.contextmanager
def model_mode(model: nn.Module, mode: str, differentiable: bool = False) -> Iterator[None]:
    """Run the body with the model in eval (``mode="eval"``) or as it is (``"keep"``); flags restored after.

    ``"auto"`` means eval, except in differentiable mode where the caller's mode is kept (training losses).
    A model in training mode with ``"keep"`` outside differentiable mode is refused: BatchNorm would mix the
    samples of a batch and update its running statistics, so the maps would depend on the batch.
    """
    if mode not in ("auto", "eval", "keep"):
        raise ValueError(f"model_mode must be 'auto', 'eval' or 'keep', got {mode!r}")
    if mode == "auto":
        mode = "keep" if differentiable else "eval"
    if mode == "keep" and model.training and not differentiable:
        raise ValueError("model is in training mode: BatchNorm/Dropout would make the maps depend on the batch "
                         "and update running statistics; call model.eval() or use model_mode='eval'")
    flags = [(m, m.training) for m in model.modules()]
    try:
        if mode == "eval":
            model.eval()
        yield
    finally:
        for module, flag in flags:
            module.training = flag


def check_grad_mode(differentiable: bool) -> None:
    """Gradient explainers cannot run under inference mode; differentiable maps need grad mode on."""
    if torch.is_inference_mode_enabled():
        raise RuntimeError("gradient-based explainers cannot run under torch.inference_mode(); "
                           "use torch.no_grad() or no context")
    if differentiable and not torch.is_grad_enabled():
        raise RuntimeError("differentiable=True needs grad mode: the call is inside torch.no_grad()")


class LayerCapture:
    """Context manager recording the outputs of named layers during forwards.

    With ``detach_trunk=True`` the forward is expected to run under ``torch.no_grad()``: the first captured
    layer turns grad mode on and hands the rest of the network a fresh leaf, so autograd builds a graph only
    from the target layer to the output — a Grad-CAM then costs one forward plus a backward through the head,
    with no parameter gradients at all. Without it the layer output is kept in the model's graph
    (differentiable maps whose gradients reach every parameter).
    """

    def __init__(self, model: nn.Module, names: Sequence[str], detach_trunk: bool = False) -> None:
        self.model = model
        self.names = list(names)
        self.modules = resolve_layers(model, self.names)
        self.detach_trunk = detach_trunk
        self.outputs: dict[str, Tensor] = {}
        self._handles: list[torch.utils.hooks.RemovableHandle] = []

    def _hook(self, name: str) -> Callable:
        def hook(module: nn.Module, args: object, output: object) -> Tensor:
            if not isinstance(output, Tensor) or output.dim() != 4:
                shape = tuple(output.shape) if isinstance(output, Tensor) else type(output).__name__
                raise ValueError(f"layer {name!r} has no spatial output: got {shape}, expected a (B, C, h, w) "
                                 "tensor; pick a convolutional layer or block")
            if name in self.outputs:
                raise ValueError(f"layer {name!r} runs more than once per forward (a shared module); pick a layer "
                                 "that runs once, e.g. the block that contains it")
            if self.detach_trunk and not output.requires_grad:
                torch.set_grad_enabled(True)  # reverted by the caller's no_grad block on exit
                output = output.detach().requires_grad_(True)
            self.outputs[name] = output
            return output.clone()  # downstream in-place ops (ReLU(inplace=True)) must not rewrite the activation

        return hook

    def __enter__(self) -> "LayerCapture":
        try:
            for name, module in zip(self.names, self.modules):
                self._handles.append(module.register_forward_hook(self._hook(name)))
        except BaseException:
            self.remove()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def remove(self) -> None:
        """Remove every hook (idempotent)."""
        while self._handles:
            self._handles.pop().remove()

    def activations(self) -> list[Tensor]:
        """The captured outputs in the order of ``names``; a layer that did not run is an error."""
        missing = [n for n in self.names if n not in self.outputs]
        if missing:
            raise RuntimeError(f"target layer(s) {missing} did not run during the forward pass")
        return [self.outputs[n] for n in self.names]


def resolve_layers(model: nn.Module, names: Sequence[str]) -> list[nn.Module]:
    """Module objects for dotted names; unknown names fail listing close matches and the top-level layers."""
    table = dict(model.named_modules())
    modules = []
    for name in names:
        if name not in table or name == "":
            close = difflib.get_close_matches(name, [n for n in table if n], n=5, cutoff=0.5)
            top = [n for n, _ in model.named_children()]
            raise KeyError(f"unknown layer {name!r}; close matches: {close or 'none'}; top-level layers: {top} "
                           "(any dotted name from model.named_modules() works)")
        modules.append(table[name])
    return modules


def spatial_layers(model: nn.Module, images: Tensor) -> list[tuple[str, tuple[int, ...]]]:
    """(name, output shape) of every module with a 4-D output, in the order they finish, from a dry forward.

    The dry forward runs on the first image only, in eval mode and without gradients; all hooks are removed
    and the flags restored afterwards.
    """
    found: list[tuple[str, tuple[int, ...]]] = []
    handles = []

    def make(name: str) -> Callable:
        def hook(module: nn.Module, args: object, output: object) -> None:
            if isinstance(output, Tensor) and output.dim() == 4:
                found.append((name, tuple(output.shape)))

        return hook

    flags = [(m, m.training) for m in model.modules()]
    try:
        for name, module in model.named_modules():
            if name:
                handles.append(module.register_forward_hook(make(name)))
        model.eval()
        with torch.no_grad():
            model(images[:1])
    finally:
        for h in handles:
            h.remove()
        for module, flag in flags:
            module.training = flag
    return found


def find_target_layer(model: nn.Module, images: Tensor) -> str:
    """The last module (in execution order) whose output is 4-D with more than one spatial position."""
    found = [(n, s) for n, s in spatial_layers(model, images) if s[2] * s[3] > 1]
    if not found:
        raise ValueError("no layer of the model has a spatial (B, C, h, w) output with h*w > 1 for this input size; "
                         "pass the layer name explicitly or use larger images")
    return found[-1][0]
