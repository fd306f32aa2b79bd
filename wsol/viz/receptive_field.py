"""Receptive field of a named layer, computed analytically from the traced graph of a CNN.

Per spatial axis every feature map carries three numbers (Araujo, Norris & Sim, "Computing Receptive Fields
of Convolutional Neural Networks", Distill 2019, https://distill.pub/2019/computing-receptive-fields/):

- ``r`` size: how many input pixels one unit sees,
- ``j`` jump: how many input pixels apart two neighbouring units are (the accumulated stride),
- ``s`` start: the input coordinate of the centre of unit 0 (pixel centres at integer coordinates).

The input image has ``r = 1, j = 1, s = 0``. A convolution or pooling with kernel ``k``, stride ``t``,
padding ``p`` and dilation ``d`` maps them to::

    r' = r + (k - 1)·d·j        j' = j·t        s' = s + ((k - 1)/2·d - p)·j

Element-wise operations (BatchNorm, ReLU, dropout, +, ×) keep them. Where branches meet (residual ``+``,
Inception's channel ``cat``) the result sees the union of the branches' boxes (the envelope; for branches
with the same centre this is the largest ``r``); branches must agree on ``j``. Unit ``u`` then sees the
input pixels ``s + u·j ± (r - 1)/2`` along each axis: the box bounds every pixel that can change the unit
(every pixel of it does for ordinary CNNs; a dilated kernel on a coarse grid can skip a few, and branches
shifted along both axes can leave a corner of the box unseen). Normalisation layers whose statistics span
the whole map (GroupNorm, InstanceNorm) are treated as element-wise, like BatchNorm in eval mode, and so are
channel weights computed from globally pooled features (squeeze-and-excitation blocks).

The graph comes from ``torch.fx``; the named layer is traced as a leaf so its output is one node, and its own
inside is traced separately. Operations whose effect on positions is not known (upsampling, adaptive or
global pooling, reshapes) only fail when the named layer depends on them, with an error naming the layer.
"""

from __future__ import annotations

import inspect
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.fx as fx
import torch.nn.functional as F
import torchvision
from torch import nn

from wsol.cams.hooks import model_mode, resolve_layers

Pair = tuple[int, int]


@dataclass(frozen=True)
class ReceptiveField:
    """Receptive field of the units of one feature map, per axis ``(y, x)``; see the module docstring."""

    size: Pair  # (r_y, r_x) input pixels seen by one unit
    jump: Pair  # (j_y, j_x) input pixels between neighbouring units
    start: tuple[float, float]  # (s_y, s_x) input coordinate of the centre of unit (0, 0)

    def center(self, y: int, x: int) -> tuple[float, float]:
        """Input coordinates (y, x) of the centre of unit (y, x)."""
        return self.start[0] + y * self.jump[0], self.start[1] + x * self.jump[1]

    def boxes(self, ys: Any, xs: Any, image_shape: tuple[int, int] | None = None) -> np.ndarray:
        """(N, 4) int64 inclusive ``x0, y0, x1, y1`` input-pixel boxes of units ``(ys[i], xs[i])``.

        Clipped to ``image_shape = (H, W)`` when given (a unit near the border also sees zero padding).
        """
        ys = np.asarray(ys, dtype=np.float64).reshape(-1)
        xs = np.asarray(xs, dtype=np.float64).reshape(-1)
        cy, cx = self.start[0] + ys * self.jump[0], self.start[1] + xs * self.jump[1]
        hy, hx = (self.size[0] - 1) / 2, (self.size[1] - 1) / 2
        out = np.floor(np.stack([cx - hx, cy - hy, cx + hx, cy + hy], axis=1) + 0.5).astype(np.int64)
        if image_shape is not None:
            h, w = int(image_shape[0]), int(image_shape[1])
            out[:, [0, 2]] = out[:, [0, 2]].clip(0, w - 1)
            out[:, [1, 3]] = out[:, [1, 3]].clip(0, h - 1)
        return out

    def box(self, y: int, x: int, image_shape: tuple[int, int] | None = None) -> tuple[int, int, int, int]:
        """Inclusive ``(x0, y0, x1, y1)`` input-pixel box of unit (y, x), clipped to ``image_shape = (H, W)``."""
        x0, y0, x1, y1 = self.boxes([y], [x], image_shape)[0].tolist()
        return x0, y0, x1, y1

    def through(self, kernel: Pair, stride: Pair, padding: Pair, dilation: Pair = (1, 1)) -> ReceptiveField:
        """The field after a convolution / pooling with these per-axis parameters (Araujo et al., eq. above)."""
        size, jump, start = [], [], []
        for a in range(2):
            k, t, p, d, j = kernel[a], stride[a], padding[a], dilation[a], self.jump[a]
            size.append(self.size[a] + (k - 1) * d * j)
            jump.append(j * t)
            start.append(self.start[a] + ((k - 1) / 2 * d - p) * j)
        return ReceptiveField((size[0], size[1]), (jump[0], jump[1]), (start[0], start[1]))

    def compose(self, inner: ReceptiveField) -> ReceptiveField:
        """The field of ``inner`` (measured on this map's grid) measured on the input of this field."""
        size = tuple(self.size[a] + (inner.size[a] - 1) * self.jump[a] for a in range(2))
        jump = tuple(self.jump[a] * inner.jump[a] for a in range(2))
        start = tuple(self.start[a] + inner.start[a] * self.jump[a] for a in range(2))
        return ReceptiveField(size, jump, start)  # type: ignore[arg-type]


IDENTITY = ReceptiveField((1, 1), (1, 1), (0.0, 0.0))


def envelope(fields: list[ReceptiveField]) -> ReceptiveField:
    """The field that sees the union of the boxes of several branches; their jumps must agree."""
    if len({f.jump for f in fields}) > 1:
        raise ValueError(
            f"branches with different jumps {[f.jump for f in fields]} meet: the receptive field "
            "is not the same for every unit"
        )
    lo = [min(f.start[a] - (f.size[a] - 1) / 2 for f in fields) for a in range(2)]
    hi = [max(f.start[a] + (f.size[a] - 1) / 2 for f in fields) for a in range(2)]
    size = tuple(int(round(hi[a] - lo[a])) + 1 for a in range(2))
    return ReceptiveField(size, fields[0].jump, ((lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2))  # type: ignore[arg-type]


@dataclass(frozen=True)
class _Unknown:
    """A value whose receptive field cannot be computed, with the reason (raised only if the layer needs it)."""

    reason: str


class _Global:
    """A value computed from globally pooled features (squeeze-and-excitation channel weights): it rescales
    channels and moves no positions, so an element-wise op with a spatial map keeps the map's field."""


GLOBAL = _Global()


_POINTWISE_MODULES = (
    nn.modules.batchnorm._NormBase,
    nn.GroupNorm,
    nn.LocalResponseNorm,
    nn.Identity,
    nn.Dropout,
    nn.Dropout2d,
    nn.AlphaDropout,
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.PReLU,
    nn.ELU,
    nn.SELU,
    nn.CELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Sigmoid,
    nn.Tanh,
    nn.Hardtanh,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.Softplus,
    nn.LogSigmoid,
)
_POINTWISE_FUNCTIONS = {
    operator.add,
    operator.sub,
    operator.mul,
    operator.truediv,
    operator.neg,
    operator.iadd,
    operator.imul,
    torch.add,
    torch.sub,
    torch.mul,
    torch.div,
    torch.relu,
    torch.sigmoid,
    torch.tanh,
    torch.clamp,
    torch.maximum,
    torch.minimum,
    F.relu,
    F.relu6,
    F.leaky_relu,
    F.gelu,
    F.silu,
    F.hardswish,
    F.hardsigmoid,
    F.elu,
    F.dropout,
    F.dropout2d,
    F.sigmoid,
    F.tanh,
    torchvision.ops.stochastic_depth,
}
_POINTWISE_METHODS = {
    "add",
    "add_",
    "sub",
    "mul",
    "mul_",
    "div",
    "relu",
    "relu_",
    "sigmoid",
    "tanh",
    "clamp",
    "clamp_min",
    "clone",
    "contiguous",
    "float",
    "half",
    "to",
    "type_as",
    "detach",
    "neg",
}
# positional parameter names of the functional convolutions / poolings (builtins have no signature)
_FUNCTIONAL_ARGS: dict[Callable, tuple[str, ...]] = {
    F.conv2d: ("input", "weight", "bias", "stride", "padding", "dilation", "groups"),
    F.max_pool2d: ("input", "kernel_size", "stride", "padding", "dilation"),
    F.avg_pool2d: ("input", "kernel_size", "stride", "padding"),
}


def _pair(value: Any) -> Pair:
    if isinstance(value, (tuple, list)):
        return int(value[0]), int(value[-1])
    return int(value), int(value)


def _window(kernel: Any, stride: Any, padding: Any, dilation: Any) -> tuple[Pair, Pair, Pair, Pair]:
    """Per-axis (k, stride, padding, dilation); ``'same'``/``'valid'`` paddings as PyTorch applies them."""
    k, d = _pair(kernel), _pair(dilation)
    t = k if stride is None or (isinstance(stride, (tuple, list)) and not stride) else _pair(stride)
    if padding == "valid":
        p = (0, 0)
    elif padding == "same":
        p = (d[0] * (k[0] - 1) // 2, d[1] * (k[1] - 1) // 2)  # PyTorch pads the smaller half on the left/top
    else:
        p = _pair(padding)
    return k, t, p, d


def _module_window(module: nn.Module) -> tuple[Pair, Pair, Pair, Pair] | None:
    if isinstance(module, nn.Conv2d):
        return _window(module.kernel_size, module.stride, module.padding, module.dilation)
    if isinstance(module, nn.MaxPool2d):
        return _window(module.kernel_size, module.stride, module.padding, module.dilation)
    if isinstance(module, nn.AvgPool2d):
        return _window(module.kernel_size, module.stride, module.padding, 1)
    return None


def _through_leaf(module: nn.Module, rf: ReceptiveField) -> ReceptiveField | _Unknown:
    """A standard (leaf) torch.nn module: window rule, padding shift, element-wise, or unknown."""
    window = _module_window(module)
    if window is not None:
        return rf.through(*window)
    if isinstance(
        module,
        nn.modules.padding._ReflectionPadNd | nn.modules.padding._ReplicationPadNd | nn.modules.padding._ConstantPadNd,
    ):
        left, _, top, _ = module.padding  # (left, right, top, bottom): unit u is input unit u - pad
        return ReceptiveField(rf.size, rf.jump, (rf.start[0] - top * rf.jump[0], rf.start[1] - left * rf.jump[1]))
    if isinstance(module, _POINTWISE_MODULES):
        return rf
    if isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)) and _pair(module.output_size) == (1, 1):
        return GLOBAL
    return _Unknown(f"{type(module).__name__} has no receptive-field rule")


def _through_function(fn: Any, args: tuple, kwargs: dict, inputs: list[Any]) -> Any:
    """A call_function / call_method node: window functionals, element-wise ops, channel ``cat``."""
    if fn in (F.adaptive_avg_pool2d, F.adaptive_max_pool2d):
        size = kwargs.get("output_size", args[1] if len(args) > 1 else None)
        return GLOBAL if size is not None and _pair(size) == (1, 1) else _Unknown(f"{fn.__name__} to {size}")
    if fn in _FUNCTIONAL_ARGS:
        named = dict(zip(_FUNCTIONAL_ARGS[fn], args)) | kwargs
        if fn is F.conv2d:
            return _Unknown("functional conv2d: use nn.Conv2d modules")  # kernel size would need the weight node
        window = _window(named["kernel_size"], named.get("stride"), named.get("padding", 0), named.get("dilation", 1))
        return inputs[0].through(*window)
    if fn in (torch.cat, torch.concat):
        dim = kwargs.get("dim", args[1] if len(args) > 1 else 0)
        if dim not in (1, -3):
            return _Unknown(f"cat along dim {dim} (only channel concatenation keeps positions)")
        return envelope(inputs)
    if fn in _POINTWISE_FUNCTIONS or fn in _POINTWISE_METHODS:
        return envelope(inputs)
    return _Unknown(f"no receptive-field rule for {getattr(fn, '__name__', fn)}")


class _LeafTracer(fx.Tracer):
    """The standard tracer, plus one extra leaf: the layer whose output we want as a single node."""

    def __init__(self, leaf: str | None) -> None:
        super().__init__()
        self.leaf = leaf

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return qualname == self.leaf or super().is_leaf_module(m, qualname)


def _trace(module: nn.Module, leaf: str | None) -> fx.Graph:
    """fx graph of ``module`` with extra forward arguments fixed to their defaults (e.g. ``labels=None``)."""
    params = list(inspect.signature(module.forward).parameters.values())[1:]
    concrete = {p.name: p.default for p in params if p.default is not inspect.Parameter.empty}
    return _LeafTracer(leaf).trace(module, concrete_args=concrete or None)


def _propagate(graph: fx.Graph, root: nn.Module, input_rf: ReceptiveField, stop: str | None) -> Any:
    """Receptive fields of every node; returns the value at the ``stop`` module's output (or the graph output)."""
    env: dict[fx.Node, Any] = {}
    first_input = True
    for node in graph.nodes:
        deps: list[fx.Node] = []
        fx.node.map_arg((node.args, node.kwargs), deps.append)
        values = [env[d] for d in deps]
        unknown = next((v for v in values if isinstance(v, _Unknown)), None)
        inputs = [v for v in values if isinstance(v, ReceptiveField)]
        if node.op == "placeholder":
            env[node] = input_rf if first_input else None
            first_input = False
        elif node.op == "get_attr":
            env[node] = None
        elif node.op == "output":
            return unknown or (inputs[0] if len(inputs) == 1 else _Unknown("the module has several outputs"))
        elif unknown is not None:
            env[node] = unknown
        elif not inputs:  # constants and shapes (None), or values computed from globally pooled features
            env[node] = GLOBAL if any(v is GLOBAL for v in values) else None
        else:
            env[node] = _node_rf(node, root, inputs, stop)
        if stop is not None and node.op == "call_module" and node.target == stop:
            return env[node]
    raise ValueError(f"layer {stop!r} does not run in the traced forward")


def _node_rf(node: fx.Node, root: nn.Module, inputs: list[ReceptiveField], stop: str | None) -> Any:
    try:
        if node.op == "call_module":
            module = root.get_submodule(str(node.target))
            if len(inputs) != 1:
                return _Unknown(f"module {node.target} takes several spatial inputs")
            if node.target == stop and not _is_standard_leaf(module):
                try:
                    graph = _trace(module, None)
                except Exception as exc:  # fx raises many error types for untraceable Python control flow
                    return _Unknown(f"torch.fx could not trace its inside ({type(exc).__name__}: {exc})")
                inner = _propagate(graph, module, IDENTITY, None)
                return inputs[0].compose(inner) if isinstance(inner, ReceptiveField) else inner
            return _through_leaf(module, inputs[0])
        fn = node.target if node.op == "call_function" else str(node.target)
        return _through_function(fn, node.args, node.kwargs, inputs)
    except ValueError as exc:  # e.g. branches with different jumps
        return _Unknown(f"at {node.name}: {exc}")


def _is_standard_leaf(module: nn.Module) -> bool:
    return fx.Tracer().is_leaf_module(module, "")


def receptive_field(model: nn.Module, layer: str) -> ReceptiveField:
    """Receptive field of the output of ``layer`` (a name from ``model.named_modules()``) on the model input.

    The model is traced in eval mode (train-only branches such as erasing or dropout masks are left out);
    its flags are restored. For a wsol model, layers of ``backbone`` are traced from the backbone (it takes the
    image), so a head whose forward cannot be traced does not matter.
    """
    module = resolve_layers(model, [layer])[0]
    root, prefix = model, ""
    if (
        (layer == "backbone" or layer.startswith("backbone."))
        and isinstance(getattr(model, "backbone", None), nn.Module)
        and _is_wsol_model(model)
    ):
        root, prefix = model.backbone, "backbone."
    with model_mode(model, "eval"):
        if module is root:
            result = _propagate(_trace(root, None), root, IDENTITY, None)
        else:
            rel = layer[len(prefix) :] if prefix else layer
            try:
                graph = _trace(root, rel)
            except Exception as exc:  # fx raises many error types for untraceable Python control flow
                raise ValueError(
                    f"cannot compute the receptive field of layer {layer!r}: torch.fx could not trace "
                    f"{type(root).__name__} ({type(exc).__name__}: {exc})"
                ) from None
            result = _propagate(graph, root, IDENTITY, rel)
    if not isinstance(result, ReceptiveField):
        reason = result.reason if isinstance(result, _Unknown) else "its output does not depend on the input image"
        reason = "it comes after global pooling: every unit sees the whole image" if result is GLOBAL else reason
        raise ValueError(f"cannot compute the receptive field of layer {layer!r}: {reason}")
    return result


def _is_wsol_model(model: nn.Module) -> bool:
    from wsol.models.base import WSOLModel  # by contract a WSOLModel's backbone receives the image

    return isinstance(model, WSOLModel)


def receptive_field_or_none(model: nn.Module, layer: str) -> ReceptiveField | None:
    """Like :func:`receptive_field`, but None where it cannot be computed (for listings)."""
    try:
        return receptive_field(model, layer)
    except (ValueError, KeyError):
        return None


def describe(rf: ReceptiveField) -> str:
    """Short text: ``"31x31 px, jump 8, start (0, 0)"``."""
    size = f"{rf.size[0]}x{rf.size[1]}"
    jump = f"{rf.jump[0]}" if rf.jump[0] == rf.jump[1] else f"{rf.jump[0]}x{rf.jump[1]}"
    start = ", ".join(f"{v:g}" for v in rf.start)
    return f"{size} px, jump {jump}, start ({start})"


__all__ = ["ReceptiveField", "receptive_field", "receptive_field_or_none", "envelope", "describe", "IDENTITY"]
