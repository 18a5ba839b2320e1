"""Rewrites of a generator for inference, made on a deep copy before the export: convolutions
that only ever see a 1x1 input become matrix products, and eval-mode BatchNorms are folded into
the layer before them (why: see :mod:`genfw.export.onnx_export`)."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

_BN = _BatchNorm
_CONV = (nn.Conv2d, nn.ConvTranspose2d)


# -- inference rewrites (on a deep copy) ----------------------------------------------------------
def _record_inputs(module: nn.Module, z: torch.Tensor) -> dict[str, list[tuple[tuple[int, ...], bool]]]:
    """One forward pass with hooks: every leaf module's input shapes (and whether it got extra args)."""
    seen: dict[str, list[tuple[tuple[int, ...], bool]]] = {}
    handles = []
    for name, mod in module.named_modules():
        if len(list(mod.children())) == 0:

            def hook(m, args, kwargs, out, _name=name):
                shape = tuple(args[0].shape) if args and isinstance(args[0], torch.Tensor) else ()
                seen.setdefault(_name, []).append((shape, len(args) > 1 or bool(kwargs)))

            handles.append(mod.register_forward_hook(hook, with_kwargs=True))
    try:
        with torch.no_grad():
            module(z)
    finally:
        for h in handles:
            h.remove()
    return seen


def _set_submodule(root: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, attr = name.rpartition(".")
    setattr(root.get_submodule(parent_name) if parent_name else root, attr, new)


def _conv_as_matmul(conv: nn.Module, in_channels: int) -> nn.Module:
    """A conv / transposed conv applied to a 1x1 input is a linear map: measure it on a basis.

    Works for any stride, padding, dilation or groups because the map is read off the layer
    itself (in float64), not re-derived from its hyper-parameters.
    """
    ref = copy.deepcopy(conv).double()
    with torch.no_grad():
        zero = ref(torch.zeros(1, in_channels, 1, 1, dtype=torch.float64))
        basis = ref(torch.eye(in_channels, dtype=torch.float64).view(in_channels, in_channels, 1, 1)) - zero
    c_out, h_out, w_out = zero.shape[1:]
    linear = nn.Linear(in_channels, c_out * h_out * w_out, bias=conv.bias is not None)
    dtype = conv.weight.dtype
    with torch.no_grad():
        linear.weight.copy_(basis.reshape(in_channels, -1).t().to(dtype))
        if linear.bias is not None:
            linear.bias.copy_(zero.reshape(-1).to(dtype))
    return nn.Sequential(nn.Flatten(1), linear, nn.Unflatten(1, (c_out, h_out, w_out)))


def replace_1x1_convs(module: nn.Module, seen: dict[str, list]) -> list[str]:
    """Replace every Conv2d / ConvTranspose2d that only ever saw ``[n, C, 1, 1]`` by a matmul."""
    done = []
    for name, mod in list(module.named_modules()):
        calls = seen.get(name)
        if not isinstance(mod, _CONV) or not calls:
            continue
        if all(len(shape) == 4 and shape[2:] == (1, 1) and not extra for shape, extra in calls):
            _set_submodule(module, name, _conv_as_matmul(mod, calls[0][0][1]))
            done.append(f"{name}: {type(mod).__name__} on 1x1 input -> MatMul")
    return done


def _bn_scale_shift(bn: _BatchNorm) -> tuple[torch.Tensor, torch.Tensor]:
    assert bn.running_var is not None and bn.running_mean is not None  # folded only when it tracks them
    var = bn.running_var.double()
    mean = bn.running_mean.double()
    scale = torch.rsqrt(var + bn.eps)
    if bn.affine:
        scale = scale * bn.weight.double()
    shift = -mean * scale + (bn.bias.double() if bn.affine else 0.0)
    return scale, shift


def _fold_into(layer: nn.Linear | nn.Conv2d | nn.ConvTranspose2d, scale: torch.Tensor, shift: torch.Tensor) -> None:
    """Scale ``layer``'s output features by ``scale`` and add ``shift`` (both per output feature)."""
    w = layer.weight.detach().double()
    if isinstance(layer, nn.ConvTranspose2d):  # weight [Cin, Cout/g, kh, kw]
        g = layer.groups
        w = (w.view(g, w.shape[0] // g, *w.shape[1:]) * scale.view(g, 1, -1, 1, 1)).view_as(w)
    else:  # Linear [out, in], Conv2d [Cout, Cin/g, kh, kw]
        w = w * scale.view(-1, *([1] * (w.dim() - 1)))
    b = layer.bias.detach().double() if layer.bias is not None else torch.zeros_like(scale)
    dtype = layer.weight.dtype
    layer.weight = nn.Parameter(w.to(dtype))
    layer.bias = nn.Parameter((b * scale + shift).to(dtype))


def fold_batchnorms(gm: torch.fx.GraphModule, seen: dict[str, list]) -> list[str]:
    """Fold eval-mode BatchNorms into the Linear / Conv2d / ConvTranspose2d before them.

    Patterns: ``Linear -> BatchNorm1d`` (2-D input), ``Conv -> BatchNorm2d`` and
    ``Linear -> Unflatten(1, (C, H, W)) -> BatchNorm2d`` (the channel's scale repeated over H*W).
    A layer used more than once, or whose output is also used elsewhere, is left alone.
    """
    modules = dict(gm.named_modules())
    uses: dict[str, int] = {}
    for node in gm.graph.nodes:
        if node.op == "call_module":
            uses[node.target] = uses.get(node.target, 0) + 1

    def single(node: Any, kind: type | tuple) -> bool:
        return (
            getattr(node, "op", None) == "call_module"
            and isinstance(modules[node.target], kind)
            and uses[node.target] == 1
            and len(node.users) == 1
        )

    done = []
    for node in list(gm.graph.nodes):
        if node.op != "call_module" or not isinstance(modules[node.target], _BN):
            continue
        bn = modules[node.target]
        if bn.training or bn.running_mean is None or uses[node.target] != 1:
            continue
        prev = node.args[0]
        repeat, layer_node = 1, None
        if single(prev, (nn.Linear, *_CONV)):
            layer_node = prev
            if isinstance(modules[prev.target], nn.Linear) and any(
                len(s) != 2 for s, _ in seen.get(prev.target, [((), False)])
            ):
                continue  # Linear on [n, L, F]: BatchNorm1d would normalise another axis
        elif single(prev, nn.Unflatten) and single(prev.args[0], nn.Linear):
            unflat = modules[prev.target]
            size = tuple(unflat.unflattened_size)
            if (
                unflat.dim != 1
                or size[0] != bn.num_features
                or any(len(s) != 2 for s, _ in seen.get(prev.args[0].target, [((), False)]))
            ):
                continue
            layer_node, repeat = prev.args[0], int(np.prod(size[1:]))
        if layer_node is None:
            continue
        scale, shift = _bn_scale_shift(bn)
        _fold_into(modules[layer_node.target], scale.repeat_interleave(repeat), shift.repeat_interleave(repeat))
        node.replace_all_uses_with(prev)
        gm.graph.erase_node(node)
        done.append(f"{node.target}: {type(bn).__name__} folded into {layer_node.target}")
    gm.graph.eliminate_dead_code()
    gm.delete_all_unused_submodules()
    gm.recompile()
    return done


class _LeafTracer(torch.fx.Tracer):
    """Keeps the layers the folds look at as single nodes, including user subclasses of them
    (e.g. a BatchNorm1d subclass with its own ``forward``) that plain tracing would step into."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, (_BN, nn.Linear, nn.Unflatten, *_CONV)) or super().is_leaf_module(m, qualname)


def optimize_for_inference(generator: nn.Module, z: torch.Tensor) -> tuple[nn.Module, list[str]]:
    """An inference-rewritten deep copy of ``generator`` and a list of what was rewritten."""
    model = copy.deepcopy(generator).eval()
    for mod in model.modules():
        if getattr(mod, "inplace", False) is True:
            setattr(mod, "inplace", False)  # noqa: B010  # an in-place op on a view makes the exporter re-emit the view
    seen = _record_inputs(model, z)
    notes = replace_1x1_convs(model, seen)
    seen = _record_inputs(model, z)
    try:
        gm = torch.fx.GraphModule(model, _LeafTracer().trace(model))
    except Exception as exc:  # not traceable: still exportable, just without the folds
        return model, notes + [f"BatchNorm folding skipped: the generator is not fx-traceable ({type(exc).__name__})"]
    notes += fold_batchnorms(gm, seen)
    return gm.eval(), notes
