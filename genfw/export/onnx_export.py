"""Export a trained generator to one self-contained ONNX file that apps can run without torch.

The contract (see docs/onnx.md) is what downstream apps rely on, so it is fixed here in one
place: one float32 input per latent code, named as in the config, ``[batch, dim]``; one output
``image``, float32 ``[batch, C, H, W]`` in [0, 1]; a dynamic batch axis; metadata_props
``genfw.latent`` / ``genfw.image`` / ``genfw.version``; and a sidecar JSON with the same
content (onnxruntime-web cannot read metadata_props).

Why the rewrites (``optimize=True``): onnxruntime runs a BatchNorm that is folded into the
layer before it for free, and a convolution that only ever sees a 1x1 input as the plain matrix
product it is. The exporter's ONNX optimiser folds some BatchNorms itself but not the one after
``Linear -> Unflatten``, so the folds are done in torch, on a deep copy. After export, chains of
upsampling ConvTranspose layers become ordinary convolutions on a sub-pixel grid plus one
DepthToSpace (``genfw.export.subpixel``): onnxruntime's CPU ConvTranspose was 62% of the paper's
generator's time at batch 256, and this rewrite took onnxruntime from 0.8x to 1.2x torch eager
there. The original generator is untouched and is what the export is verified against.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import time
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from genfw import __version__
from genfw.atomic import atomic_write_bytes, atomic_write_json
from genfw.errors import GenfwError, GenfwUsageError
from genfw.export.subpixel import rewrite_upsampling_chains
from genfw.latent import LatentSpec

OUTPUT_NAME = "image"
META_LATENT = "genfw.latent"
META_IMAGE = "genfw.image"
META_VERSION = "genfw.version"
MIN_OPSET = 18
VERIFY_BATCHES = (1, 7, 256)
TOLERANCE = 1e-4

_BN = nn.modules.batchnorm._BatchNorm
_CONV = (nn.Conv2d, nn.ConvTranspose2d)


class ExportError(GenfwError):
    """The export or its verification failed (a bug or an unsupported network: exit 1).

    ``log`` holds what the exporter printed, which is hidden unless something goes wrong.
    """

    def __init__(self, message: str, log: str = ""):
        super().__init__(message)
        self.log = log


# -- the module that is exported -----------------------------------------------------------------
class CodesToImage(nn.Module):
    """Takes one tensor of parameters per latent code (config order), encodes each as its code
    does (``LatentCode.encode``: identity, or e.g. an angle's cosine and sine) and feeds their
    concatenation to the generator.

    Separate inputs are the contract: an app names what it sets (``digit``, ``c1``) instead of
    knowing offsets into one long vector, and it handles parameters only: the encodings are ops
    in the graph.
    """

    def __init__(self, generator: nn.Module, latent: LatentSpec):
        super().__init__()
        self.generator = generator
        self.codes = list(latent)

    def forward(self, *values: torch.Tensor) -> torch.Tensor:
        return self.generator(torch.cat([code.encode(v) for code, v in zip(self.codes, values)], dim=1))


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


def _bn_scale_shift(bn: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    var = bn.running_var.double()
    mean = bn.running_mean.double()
    scale = torch.rsqrt(var + bn.eps)
    if bn.affine:
        scale = scale * bn.weight.double()
    shift = -mean * scale + (bn.bias.double() if bn.affine else 0.0)
    return scale, shift


def _fold_into(layer: nn.Module, scale: torch.Tensor, shift: torch.Tensor) -> None:
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
        return (getattr(node, "op", None) == "call_module" and isinstance(modules[node.target], kind)
                and uses[node.target] == 1 and len(node.users) == 1)

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
            if isinstance(modules[prev.target], nn.Linear) and any(len(s) != 2 for s, _ in seen.get(prev.target, [((), False)])):
                continue  # Linear on [n, L, F]: BatchNorm1d would normalise another axis
        elif single(prev, nn.Unflatten) and single(prev.args[0], nn.Linear):
            unflat = modules[prev.target]
            size = tuple(unflat.unflattened_size)
            if unflat.dim != 1 or size[0] != bn.num_features or any(len(s) != 2 for s, _ in seen.get(prev.args[0].target, [((), False)])):
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
            mod.inplace = False  # an in-place op on a view makes the exporter re-emit the view
    seen = _record_inputs(model, z)
    notes = replace_1x1_convs(model, seen)
    seen = _record_inputs(model, z)
    try:
        gm = torch.fx.GraphModule(model, _LeafTracer().trace(model))
    except Exception as exc:  # not traceable: still exportable, just without the folds
        return model, notes + [f"BatchNorm folding skipped: the generator is not fx-traceable ({type(exc).__name__})"]
    notes += fold_batchnorms(gm, seen)
    return gm.eval(), notes


# -- export -------------------------------------------------------------------------------------
@contextlib.contextmanager
def _quiet(log: io.StringIO):
    """Hide the exporter's progress lines and deprecation warnings; they are kept in ``log``."""
    with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            for w in caught:
                log.write(f"{w.category.__name__}: {w.message}\n")


def _reason(exc: BaseException) -> str:
    """The root cause's first line: the exporter wraps the real problem in pages of advice."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0].strip() if lines else ''}"[:300]


def sample_inputs(latent: LatentSpec, n: int, seed: int = 0) -> list[torch.Tensor]:
    """Draws from each code's prior, one ``[n, dim]`` float32 tensor per code."""
    gen = torch.Generator().manual_seed(seed)
    return [c.sample(n, gen).float() for c in latent]


def onnx_metadata(latent: LatentSpec, image_shape: Sequence[int]) -> dict[str, Any]:
    """The sidecar document; its parts are also the ONNX metadata_props."""
    c, h, w = (int(x) for x in image_shape)
    return {
        "latent": latent.spec(),
        "image": {"channels": c, "height": h, "width": w, "range": [0, 1]},
        "version": __version__,
        "inputs": [code.name for code in latent],
        "output": OUTPUT_NAME,
    }


def sidecar_path(path: str | Path) -> Path:
    """``generator.onnx`` -> ``generator.json`` (the same stem, next to it)."""
    return Path(path).with_suffix(".json")


def _check_destination(path: Path) -> None:
    """Refuse an output that is not *.onnx, or whose sidecar would overwrite a file that is not a
    genfw sidecar (``-o my_config.onnx`` must not replace ``my_config.json``)."""
    if path.suffix.lower() != ".onnx" or not path.stem:
        raise GenfwUsageError("the output must be an .onnx file", where=str(path) or "''",
                              fix="name it NAME.onnx; the sidecar NAME.json is written next to it")
    sidecar = sidecar_path(path)
    if sidecar.exists():
        try:
            doc = json.loads(sidecar.read_text(encoding="utf-8"))
            ours = isinstance(doc, dict) and {"latent", "image", "inputs"} <= set(doc)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            ours = False
        if not ours:
            raise GenfwUsageError(f"the sidecar would overwrite {sidecar}, which is not a genfw sidecar", where=str(path),
                                  fix="choose another output name, or move that file")


def _to_onnx(module: nn.Module, latent: LatentSpec, opset: int, exporter_optimize: bool, log: io.StringIO):
    names = [c.name for c in latent]
    batch = torch.export.Dim("batch", min=1)
    example = tuple(sample_inputs(latent, 2))
    with _quiet(log):
        program = torch.onnx.export(
            CodesToImage(module, latent).eval(), example, None, dynamo=True, external_data=False,
            input_names=names, output_names=[OUTPUT_NAME], opset_version=opset,
            dynamic_shapes={"values": tuple({0: batch} for _ in names)}, optimize=exporter_optimize,
            verbose=False, report=False,
        )
    return program.model_proto


def _add_metadata(model: Any, meta: dict[str, Any]) -> None:
    import onnx

    props = {META_LATENT: json.dumps(meta["latent"]), META_IMAGE: json.dumps(meta["image"]), META_VERSION: meta["version"]}
    keep = [p for p in model.metadata_props if p.key not in props]
    del model.metadata_props[:]
    model.metadata_props.extend(keep)
    for key, value in props.items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))
    model.doc_string = "genfw generator: one input per latent code, output 'image' [batch, C, H, W] in [0, 1]"


def verify_onnx(model: str | Path | bytes, generator: nn.Module, latent: LatentSpec,
                batches: Sequence[int] = VERIFY_BATCHES, tolerance: float = TOLERANCE) -> float:
    """Max |onnxruntime - torch eval| over draws at each batch size; raises past ``tolerance``.

    ``model`` is a path or the serialized model (so it can be checked before it is written).
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only
    session = ort.InferenceSession(model if isinstance(model, bytes) else str(model), options, providers=["CPUExecutionProvider"])
    worst = 0.0
    was_training = generator.training
    generator.eval()
    try:
        for i, n in enumerate(batches):
            inputs = sample_inputs(latent, n, seed=1000 + i)
            with torch.no_grad():
                expected = generator(latent.encode({c.name: x for c, x in zip(latent, inputs)})).numpy()
            got = session.run([OUTPUT_NAME], {c.name: x.numpy() for c, x in zip(latent, inputs)})[0]
            if got.shape != expected.shape:
                raise ExportError(f"ONNX output shape {got.shape} != torch {expected.shape} at batch {n}")
            diff = float(np.max(np.abs(got - expected)))
            worst = max(worst, diff)
            if not diff <= tolerance:
                raise ExportError(f"ONNX output differs from torch by {diff:.3g} (> {tolerance:g}) at batch {n}")
    finally:
        generator.train(was_training)
    return worst


def export_generator(generator: nn.Module, latent: LatentSpec, image_shape: Sequence[int], path: str | Path, *,
                     opset: int = MIN_OPSET, optimize: bool = True, verify: bool = True) -> dict[str, Any]:
    """Write ``path`` (.onnx) and its sidecar JSON; return a report.

    Nothing is written unless the model passes ``onnx.checker`` and (with ``verify``) matches.
    ``optimize`` rewrites a deep copy for inference (BatchNorm folded, 1x1-input convs as
    matmuls) and lets the exporter's ONNX optimiser run; ``optimize=False`` is a straight export,
    for debugging. ``verify`` compares onnxruntime with the original generator (eval mode) at
    batch sizes 1, 7 and 256 and raises :class:`ExportError` past 1e-4.
    """
    import onnx

    if opset < MIN_OPSET:
        raise GenfwUsageError(f"opset {opset} is too old", fix=f"use --opset {MIN_OPSET} or newer")
    path = Path(path)
    _check_destination(path)
    started = time.perf_counter()
    log = io.StringIO()
    if any(t.device.type != "cpu" or t.dtype != torch.float32 for t in [*generator.parameters(), *generator.buffers()] if t.is_floating_point()):
        generator = copy.deepcopy(generator).to("cpu", torch.float32)  # the contract is float32; verify on the CPU
    was_training = generator.training
    generator.eval()
    try:
        module, rewrites = generator, []
        if optimize:
            example = {c.name: x for c, x in zip(latent, sample_inputs(latent, 2))}
            module, rewrites = optimize_for_inference(generator, latent.encode(example))
        try:
            model = _to_onnx(module, latent, opset, optimize, log)
        except Exception as exc:
            raise ExportError(f"ONNX export failed: {_reason(exc)}", log.getvalue()) from exc
        if optimize:
            rewrites += rewrite_upsampling_chains(model)
    finally:
        generator.train(was_training)

    meta = onnx_metadata(latent, image_shape)
    _add_metadata(model, meta)
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as exc:
        raise ExportError(f"the exported model does not pass onnx.checker: {_reason(exc)}", log.getvalue()) from exc
    written = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if written != opset:
        raise GenfwUsageError(f"the exporter wrote opset {written}, not the {opset} asked for", fix=f"use --opset {written}")
    data = model.SerializeToString()
    report: dict[str, Any] = {
        "path": str(path), "sidecar": str(sidecar_path(path)), "bytes": len(data),
        "opset": opset, "optimized": optimize, "rewrites": rewrites,
        "inputs": meta["inputs"], "output": OUTPUT_NAME,
        "nodes": [n.op_type for n in model.graph.node],
    }
    if verify:  # before writing: a model that fails verification never replaces a good file
        try:
            report["max_abs_diff"] = verify_onnx(data, generator, latent)
        except ExportError as exc:
            exc.log = log.getvalue()
            raise
        report["verified_batches"] = list(VERIFY_BATCHES)
    atomic_write_bytes(path, data)
    atomic_write_json(sidecar_path(path), meta)
    report["seconds"] = round(time.perf_counter() - started, 2)
    return report
