"""Hook plumbing shared by every explainer: capture layer outputs, find layers, keep the model's state intact.

All hooks live inside context managers: their handles are kept in a list and removed in ``finally`` (also when
the forward raises), so a model leaves an explainer exactly as it came in — same hooks (none added), same
train/eval flags, same parameter ``.grad``.
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Callable, Iterator, Sequence

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
        raise TypeError(
            f"cannot find logits in a model output of type {type(output).__name__}; expected a "
            "(B, C) tensor, an object with .logits, or a tuple whose first item is the logits"
        )
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
        raise ValueError(
            "model is in training mode: BatchNorm/Dropout would make the maps depend on the batch "
            "and update running statistics; call model.eval() or use model_mode='eval'"
        )
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
        raise RuntimeError(
            "gradient-based explainers cannot run under torch.inference_mode(); use torch.no_grad() or no context"
        )
    if differentiable and not torch.is_grad_enabled():
        raise RuntimeError("differentiable=True needs grad mode: the call is inside torch.no_grad()")


class LayerCapture:
    """Context manager recording the outputs of named layers during forwards.

    With ``detach_trunk=True`` the forward is expected to run under ``torch.no_grad()``: the first captured
    layer turns grad mode on and hands the rest of the network a fresh leaf, so autograd builds a graph only
    from the target layer to the output — a Grad-CAM then costs one forward plus a backward through the head,
    with no parameter gradients at all. Without it the layer output is kept in the model's graph
    (differentiable maps whose gradients reach every parameter).

    With ``spatial=True`` (default) an output must be (B, C, h, w); ``spatial=False`` also takes the 3-D token
    and channels-last outputs of transformers, which the explainers read through ``wsol.cams.layout``.
    """

    def __init__(
        self, model: nn.Module, names: Sequence[str], detach_trunk: bool = False, spatial: bool = True
    ) -> None:
        self.model = model
        self.names = list(names)
        self.modules = resolve_layers(model, self.names)
        self.detach_trunk = detach_trunk
        self.spatial = spatial
        self.outputs: dict[str, Tensor] = {}
        self._handles: list[torch.utils.hooks.RemovableHandle] = []

    def _hook(self, name: str) -> Callable:
        def hook(module: nn.Module, args: object, output: object) -> Tensor:
            if not isinstance(output, Tensor) or output.dim() not in ((4,) if self.spatial else (3, 4)):
                shape = tuple(output.shape) if isinstance(output, Tensor) else type(output).__name__
                raise ValueError(
                    f"layer {name!r} has no spatial output: got {shape}, expected a (B, C, h, w) "
                    "tensor (or, for explainers, (B, tokens, D) / (B, h, w, C)); pick a convolutional "
                    "layer or block"
                )
            if name in self.outputs:
                raise ValueError(
                    f"layer {name!r} runs more than once per forward (a shared module); pick a layer "
                    "that runs once, e.g. the block that contains it"
                )
            if self.detach_trunk and not output.requires_grad:
                torch.set_grad_enabled(True)  # reverted by the caller's no_grad block on exit
                output = output.detach().requires_grad_(True)
            self.outputs[name] = output
            return output.clone()  # downstream in-place ops (ReLU(inplace=True)) must not rewrite the activation

        return hook

    def __enter__(self) -> LayerCapture:
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
            raise KeyError(
                f"unknown layer {name!r}; close matches: {close or 'none'}; top-level layers: {top} "
                "(any dotted name from model.named_modules() works)"
            )
        modules.append(table[name])
    return modules


@contextlib.contextmanager
def every_layer_hooked(model: nn.Module, make_hook: Callable[[str], Callable[..., None]]) -> Iterator[None]:
    """Inside: a forward hook ``make_hook(name)`` on every named submodule and the model in eval mode; on exit
    (also when the body raises) the hooks are removed and every module's train/eval flag is restored."""
    flags = [(m, m.training) for m in model.modules()]
    handles = []
    try:
        for name, module in model.named_modules():
            if name:
                handles.append(module.register_forward_hook(make_hook(name)))
        model.eval()
        yield
    finally:
        for h in handles:
            h.remove()
        for module, flag in flags:
            module.training = flag


def spatial_layers(model: nn.Module, images: Tensor) -> list[tuple[str, tuple[int, ...]]]:
    """(name, output shape) of every module with a 4-D output, in the order they finish, from a dry forward.

    The dry forward runs on the first image only, in eval mode and without gradients; all hooks are removed
    and the flags restored afterwards.
    """
    found: list[tuple[str, tuple[int, ...]]] = []

    def make(name: str) -> Callable[..., None]:
        def hook(module: nn.Module, args: object, output: object) -> None:
            if isinstance(output, Tensor) and output.dim() == 4:
                found.append((name, tuple(output.shape)))

        return hook

    with every_layer_hooked(model, make), torch.no_grad():
        model(images[:1])
    return found


def layer_names(model: nn.Module, layers: str | nn.Module | Sequence[str | nn.Module]) -> list[str]:
    """Dotted names for layers given as names or as module objects (``[model.layer4[-1]]``, grad-cam's idiom)."""
    items = [layers] if isinstance(layers, (str, nn.Module)) else list(layers)
    names_of = {id(m): n for n, m in model.named_modules() if n}
    names = []
    for item in items:
        if isinstance(item, nn.Module):
            if id(item) not in names_of:
                raise ValueError(
                    f"layer {type(item).__name__} is not a submodule of the model (the model itself "
                    "cannot be a target layer)"
                )
            names.append(names_of[id(item)])
        elif isinstance(item, str):
            names.append(item)
        else:
            raise TypeError(f"a layer must be a name or an nn.Module, got {type(item).__name__}")
    resolve_layers(model, names)  # fail early on unknown names
    return names


def find_target_layer(model: nn.Module, images: Tensor, reshape_transform: object = None) -> str:
    """The last module (in execution order) whose output reads as a spatial grid with h*w > 1 and whose grid
    positions the logits depend on.

    One forward and backward of the first image (eval mode, flags restored, no parameter ``.grad``) finds, for
    every candidate output, whether ``∂ Σ logits / ∂ grid`` is non-zero. That skips a ViT's patch embedding
    ``conv_proj`` (later layers exist) and its last encoder outputs, which reach the head through the class token
    only, and lands on the last block's ``ln_1``, as pytorch-grad-cam advises. When no gradient is non-zero
    (a zero-initialised head) the last candidate is used.
    """
    from wsol.cams.layout import detect_layout, to_grid

    size = (images.shape[-2], images.shape[-1])
    found: list[tuple[str, Tensor, object]] = []

    def make(name: str) -> Callable[..., None]:
        def hook(module: nn.Module, args: object, output: object) -> None:
            if not isinstance(output, Tensor) or output.dim() not in (3, 4) or not output.requires_grad:
                return
            try:
                layout = reshape_transform or detect_layout(tuple(output.shape), size)
                grid_shape = to_grid(output.detach(), layout, size).shape
            except ValueError:
                return
            if grid_shape[2] * grid_shape[3] > 1:
                found.append((name, output, layout))

        return hook

    # grad mode also inside a caller's no_grad / inference_mode (gradient-free explainers run there)
    with every_layer_hooked(model, make), torch.inference_mode(False), torch.enable_grad():
        logits = model_logits(model(images[:1].clone().requires_grad_(True)))
        if not found:
            raise ValueError(
                "no layer of the model has a spatial output ((B, C, h, w), (B, h, w, C) or ViT "
                "tokens) with h*w > 1 for this input size; pass the layer explicitly or use larger "
                "images"
            )
        grads = torch.autograd.grad(logits.sum(), [t for _, t, _ in found], allow_unused=True)
    for (name, _, layout), grad in reversed(list(zip(found, grads))):
        if grad is not None and to_grid(grad, layout, size).abs().amax() > 0:
            return name
    return found[-1][0]
