"""Export a trained generator to one self-contained ONNX file that apps can run without torch.

The contract (see docs/onnx.md) is what downstream apps rely on: one float32 input per latent
code, named as in the config, ``[batch, dim]``; one output ``image``, float32 ``[batch, C, H, W]``
in [0, 1]; a dynamic batch axis; metadata_props ``genfw.latent`` / ``genfw.image`` /
``genfw.version``; and a sidecar JSON with the same content (onnxruntime-web cannot read
metadata_props). Its names are defined once, in the torch-free ``genfw.export.contract``.

Why the rewrites (``optimize=True``): onnxruntime runs a BatchNorm that is folded into the
layer before it for free, and a convolution that only ever sees a 1x1 input as the plain matrix
product it is. The exporter's ONNX optimiser folds some BatchNorms itself but not the one after
``Linear -> Unflatten``, so the folds are done in torch, on a deep copy. After export, pairs of
upsampling ConvTranspose layers become ordinary convolutions on a sub-pixel grid plus one
DepthToSpace (``genfw.export.subpixel``) where that pays, i.e. where the new weights stay within
1.4x of the old (the 28x28 MNIST generators); elsewhere (64x64 generators) the ConvTransposes are
kept, since the rewrite multiplied their weights and time. The original generator is untouched
and is what the export is verified against.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
import logging
import math
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from genfw.atomic import atomic_write_bytes, atomic_write_json
from genfw.errors import GenfwError, GenfwUsageError, warn
from genfw.eval_mode import eval_mode
from genfw.export.contract import (
    META_EXPORT,
    META_IMAGE,
    META_LATENT,
    META_SPEC_VERSION,
    META_VERSION,
    OUTPUT_NAME,
    SIDECAR_SCHEMA_ID,
    SPEC_VERSION,
    input_names,
    sidecar_path,
)
from genfw.export.subpixel import rewrite_upsampling_chains
from genfw.latent import LatentSpec
from genfw.version import __version__

MIN_OPSET = 18
VERIFY_BATCHES = (1, 7, 256)
TOLERANCE = 1e-4
#: Weight formats of ``export_generator(weights=...)``: fp32 as trained; fp16 weights and
#: activations (onnxruntime's float16 converter, float32 inputs and output kept); int8 weights of
#: the matrix products with their inputs quantized on the fly
#: (``onnxruntime.quantization.quantize_dynamic``).
WEIGHT_FORMATS = ("fp32", "fp16", "int8")
#: How far each format's images may be from the float32 torch generator's (pixels in [0, 1]) over
#: the verification draws: the largest and the mean absolute difference. fp32 differs only by
#: summation order (~1e-7); fp16 by rounding (2^-11 relative per op: measured 1.2e-3 max, 2e-5
#: mean on the trained MNIST generator); int8 by 8-bit weights and inputs of the products
#: (measured 0.024 max, 4e-4 mean: a tenth of a grey level on average, a few levels on a few edge
#: pixels). The limits leave about 10x room for other models; docs/onnx.md has the measurements.
TOLERANCES: dict[str, dict[str, float]] = {
    "fp32": {"max_abs": TOLERANCE},
    "fp16": {"max_abs": 0.01, "mean_abs": 0.001},
    "int8": {"max_abs": 0.25, "mean_abs": 0.01},
}

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
    with (
        contextlib.redirect_stdout(log),
        contextlib.redirect_stderr(log),
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        try:
            yield
        finally:
            log.writelines(f"{w.category.__name__}: {w.message}\n" for w in caught)


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


def onnx_metadata(
    latent: LatentSpec,
    image_shape: Sequence[int],
    categories: dict[str, Any] | None = None,
    export: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The sidecar document (less its ``sha256``); its parts are also the ONNX metadata_props.

    ``categories`` (from :func:`category_meanings`) labels the categories of categorical codes
    with what they came to mean; ``export`` says how the file was exported (``genfw.export``).
    """
    c, h, w = (int(x) for x in image_shape)
    spec = latent.spec()
    for code in spec["codes"]:
        if categories and code["name"] in categories:
            label_categories(code, categories[code["name"]])
    doc = {
        "$schema": SIDECAR_SCHEMA_ID,
        "spec_version": SPEC_VERSION,
        "latent": spec,
        "image": {"channels": c, "height": h, "width": w, "range": [0, 1]},
        "version": __version__,
        "inputs": input_names(spec),
        "output": OUTPUT_NAME,
    }
    if export is not None:
        doc["export"] = export
    return doc


# -- category labels from an evaluation --------------------------------------------------------------
def category_meanings(run_dir: str | Path, model_type: Any) -> dict[str, dict[str, Any]]:
    """What each category of each categorical code came to mean, as the model that trained the
    run reads it from the sections it wrote into ``RUN_DIR/eval.json``
    (``Model.category_meanings``): ``{code: per_value}`` with ``per_value["3"] = {"class": 8,
    "share": 0.99, "label": "8"}``. Empty when the run has no evaluation, an unreadable one, or
    the model reads none from it: labels are a convenience, never a reason to fail an export."""
    try:
        report = json.loads((Path(run_dir) / "eval.json").read_text(encoding="utf-8"))
        names = report["model_sections"]
        sections = {name: report[name] for name in names if isinstance(name, str) and name in report}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError):
        return {}
    hook = getattr(model_type, "category_meanings", None)
    try:
        meanings = hook(sections) if hook is not None else {}
    except Exception as exc:  # a plugin's hook failing costs the labels, not the export
        warn(
            f"the categories are left unlabelled: model {getattr(model_type, '__name__', model_type)}'s "
            f"category_meanings failed ({type(exc).__name__}: {exc})"
        )
        return {}
    if not isinstance(meanings, dict):
        return {}
    return {
        name: per_value for name, per_value in meanings.items() if isinstance(name, str) and isinstance(per_value, dict)
    }


def label_categories(code: dict[str, Any], per_value: dict[str, Any]) -> bool:
    """Label a categorical code's spec with the class each category came to mean: ``labels``
    become ``"8 (99%)"`` (the class's name and the share of the category's samples a reference
    classifier read as it) and ``classes`` keeps the raw mapping ``[{"class", "label", "share"}]``
    in category order. Labels the config named are kept. False (nothing changed) when
    ``per_value`` does not fit the code."""
    if code.get("from_labels"):  # its categories are the data's classes, named already
        return False
    k = int(code.get("k", code.get("dim", 0)))
    try:
        rows = [per_value[str(v)] for v in range(k)]
        classes = [
            {"class": int(r["class"]), "label": str(r.get("label", r["class"])), "share": float(r["share"])}
            for r in rows
        ]
    except (KeyError, TypeError, ValueError):
        return False
    if k < 1 or not all(math.isfinite(c["share"]) and 0 <= c["share"] <= 1 for c in classes):
        return False
    code["classes"] = classes
    if code.get("labels") in (None, [str(v) for v in range(k)]):  # the positions, not names the config gave
        texts = [f"{c['label']} ({c['share']:.0%})" for c in classes]
        code["labels"] = [t if texts.count(t) == 1 else f"{t[:-1]}, #{v})" for v, t in enumerate(texts)]
    return True


def min_ir_version(opset: int) -> int:
    """The lowest ONNX IR version whose release supports ``opset`` (8 for opset 18): older
    runtimes load a file only up to the IR version they know, so writing the lowest one the
    operators allow lets the most runtimes read the file."""
    import onnx

    irs = [ir for _, ir, ai_onnx, *_ in onnx.helper.VERSION_TABLE if ai_onnx >= opset]
    return min(irs) if irs else onnx.IR_VERSION


def convert_weights(model: Any, weights: str, log: io.StringIO) -> Any:
    """The exported fp32 model with ``weights`` in another format, with onnxruntime's own tools:
    ``fp16``: ``onnxruntime.transformers.float16.convert_float_to_float16`` (the same converter
    as onnxconverter-common's, shipped inside onnxruntime, so no extra dependency), keeping the
    float32 inputs and output of the contract; ``int8``:
    ``onnxruntime.quantization.quantize_dynamic`` of the matrix products (Gemm/MatMul: uint8
    weights per output channel, inputs quantized at run time, so no calibration data is needed).

    Why only the products: they hold almost all the weights (the paper's generator: 25.7 of 26.7
    MB), so the file is as small (7.3 MB vs 6.7 MB with every conv quantized too), while
    onnxruntime's ConvInteger is slower than its float Conv (batch 256 dropped to 0.65x fp32 with
    it, and stays >= fp32 without) and less accurate. uint8 weights: int8 ones can saturate in x86
    AVX2 kernels (u8 x s8 pair sums) and were less accurate and slower here."""
    if weights == "fp32":
        return model
    import onnx

    root, level = logging.getLogger(), logging.getLogger().level  # the quantizer's advice lines: into the log
    with _quiet(log):
        root.setLevel(logging.ERROR)
        try:
            if weights == "fp16":
                from onnxruntime.transformers.float16 import convert_float_to_float16
                from onnxruntime.transformers.onnx_model import OnnxModel

                half = OnnxModel(convert_float_to_float16(copy.deepcopy(model), keep_io_types=True))
                half.topological_sort()  # the converter appends the input casts at the end; the checker wants order
                return half.model
            if weights == "int8":
                from onnxruntime.quantization import QuantType, quantize_dynamic

                with tempfile.TemporaryDirectory(prefix="genfw-int8-") as tmp:
                    src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
                    onnx.save(model, str(src))
                    quantize_dynamic(
                        src,
                        dst,
                        weight_type=QuantType.QUInt8,
                        per_channel=True,
                        op_types_to_quantize=["MatMul", "Gemm"],
                    )
                    return onnx.load(str(dst))
        finally:
            root.setLevel(level)
    raise GenfwUsageError(f"unknown weights format {weights!r}", fix=f"use one of {', '.join(WEIGHT_FORMATS)}")


def _check_destination(path: Path) -> None:
    """Refuse an output that is not *.onnx, or whose sidecar would overwrite a file that is not a
    genfw sidecar (``-o my_config.onnx`` must not replace ``my_config.json``)."""
    if path.suffix.lower() != ".onnx" or not path.stem:
        raise GenfwUsageError(
            "the output must be an .onnx file",
            where=str(path) or "''",
            fix="name it NAME.onnx; the sidecar NAME.json is written next to it",
        )
    sidecar = sidecar_path(path)
    if sidecar.exists():
        try:
            doc = json.loads(sidecar.read_text(encoding="utf-8"))
            ours = isinstance(doc, dict) and {"latent", "image", "inputs"} <= set(doc)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            ours = False
        if not ours:
            raise GenfwUsageError(
                f"the sidecar would overwrite {sidecar}, which is not a genfw sidecar",
                where=str(path),
                fix="choose another output name, or move that file",
            )


def _to_onnx(module: nn.Module, latent: LatentSpec, opset: int, exporter_optimize: bool, log: io.StringIO):
    names = [c.name for c in latent]
    batch = torch.export.Dim("batch", min=1)
    example = tuple(sample_inputs(latent, 2))
    with _quiet(log):
        program = torch.onnx.export(
            CodesToImage(module, latent).eval(),
            example,
            None,
            dynamo=True,
            external_data=False,
            input_names=names,
            output_names=[OUTPUT_NAME],
            opset_version=opset,
            dynamic_shapes={"values": tuple({0: batch} for _ in names)},
            optimize=exporter_optimize,
            verbose=False,
            report=False,
        )
    return program.model_proto


def _add_metadata(model: Any, meta: dict[str, Any]) -> None:
    import onnx

    props = {
        META_LATENT: json.dumps(meta["latent"]),
        META_IMAGE: json.dumps(meta["image"]),
        META_VERSION: json.dumps(meta["version"]),  # JSON, like the others (genfw.runtime.parse_version reads both)
        META_SPEC_VERSION: json.dumps(meta["spec_version"]),
    }
    if "export" in meta:
        props[META_EXPORT] = json.dumps(meta["export"])
    keep = [p for p in model.metadata_props if p.key not in props]
    del model.metadata_props[:]
    model.metadata_props.extend(keep)
    for key, value in props.items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))
    model.doc_string = "genfw generator: one input per latent code, output 'image' [batch, C, H, W] in [0, 1]"


def verify_onnx(
    model: str | Path | bytes,
    generator: nn.Module,
    latent: LatentSpec,
    batches: Sequence[int] = VERIFY_BATCHES,
    tolerance: float = TOLERANCE,
) -> float:
    """Max |onnxruntime - torch eval| over draws at each batch size; raises past ``tolerance``.

    ``model`` is a path or the serialized model (so it can be checked before it is written).
    """
    return compare_onnx(model, generator, latent, batches, {"max_abs": tolerance})["max_abs"]


def compare_onnx(
    model: str | Path | bytes,
    generator: nn.Module,
    latent: LatentSpec,
    batches: Sequence[int] = VERIFY_BATCHES,
    tolerance: dict[str, float] | None = None,
    what: str = "ONNX output",
) -> dict[str, float]:
    """The largest and the mean |onnxruntime - torch eval| over draws at each batch size
    (``{"max_abs", "mean_abs"}``); raises :class:`ExportError` past ``tolerance`` (either key)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only
    session = ort.InferenceSession(
        model if isinstance(model, bytes) else str(model), options, providers=["CPUExecutionProvider"]
    )
    worst, total, count = 0.0, 0.0, 0
    with eval_mode(generator):
        for i, n in enumerate(batches):
            inputs = sample_inputs(latent, n, seed=1000 + i)
            with torch.no_grad():
                expected = generator(latent.encode({c.name: x for c, x in zip(latent, inputs)})).numpy()
            got = session.run([OUTPUT_NAME], {c.name: x.numpy() for c, x in zip(latent, inputs)})[0]
            if got.shape != expected.shape:
                raise ExportError(f"{what} shape {got.shape} != torch {expected.shape} at batch {n}")
            err = np.abs(got.astype(np.float64) - expected)
            diff = float(np.max(err))
            worst, total, count = max(worst, diff), total + float(err.sum()), count + err.size
            limit = (tolerance or {}).get("max_abs")
            if limit is not None and not diff <= limit:
                raise ExportError(f"{what} differs from torch by {diff:.3g} (> {limit:g}) at batch {n}")
    mean = total / max(count, 1)
    limit = (tolerance or {}).get("mean_abs")
    if limit is not None and not mean <= limit:
        raise ExportError(f"{what} differs from torch by {mean:.3g} on average (> {limit:g})")
    return {"max_abs": worst, "mean_abs": mean}


def export_generator(
    generator: nn.Module,
    latent: LatentSpec,
    image_shape: Sequence[int],
    path: str | Path,
    *,
    opset: int = MIN_OPSET,
    optimize: bool = True,
    verify: bool = True,
    weights: str = "fp32",
    categories: dict[str, Any] | None = None,
    subpixel: bool = True,
) -> dict[str, Any]:
    """Write ``path`` (.onnx) and its sidecar JSON; return a report.

    Nothing is written unless the model passes ``onnx.checker`` and (with ``verify``) matches.
    ``optimize`` rewrites a deep copy for inference (BatchNorm folded, 1x1-input convs as
    matmuls) and lets the exporter's ONNX optimiser run; ``optimize=False`` is a straight export,
    for debugging. ``verify`` compares onnxruntime with the original generator (eval mode) at
    batch sizes 1, 7 and 256 and raises :class:`ExportError` past 1e-4; for ``weights`` fp16 or
    int8 (:func:`convert_weights`) the converted file is then verified the same way within
    :data:`TOLERANCES`. ``categories`` (:func:`category_meanings`) labels categorical codes.
    The file has the lowest IR version the opset allows (:func:`min_ir_version`). ``subpixel``
    (with ``optimize``) applies the sub-pixel rewrite where it pays; False keeps every
    ConvTranspose (bench/onnx_inference.py compares the two).
    """

    if opset < MIN_OPSET:
        raise GenfwUsageError(f"opset {opset} is too old", fix=f"use --opset {MIN_OPSET} or newer")
    if weights not in WEIGHT_FORMATS:
        raise GenfwUsageError(f"unknown weights format {weights!r}", fix=f"use one of {', '.join(WEIGHT_FORMATS)}")
    path = Path(path)
    _check_destination(path)
    started = time.perf_counter()
    log = io.StringIO()
    if any(
        t.device.type != "cpu" or t.dtype != torch.float32
        for t in [*generator.parameters(), *generator.buffers()]
        if t.is_floating_point()
    ):
        generator = copy.deepcopy(generator).to("cpu", torch.float32)  # the contract is float32; verify on the CPU
    with eval_mode(generator):
        module, rewrites = generator, []
        if optimize:
            example = {c.name: x for c, x in zip(latent, sample_inputs(latent, 2))}
            module, rewrites = optimize_for_inference(generator, latent.encode(example))
        try:
            model = _to_onnx(module, latent, opset, optimize, log)
        except Exception as exc:
            raise ExportError(f"ONNX export failed: {_reason(exc)}", log.getvalue()) from exc
        if optimize and subpixel:
            rewrites += rewrite_upsampling_chains(model)

    written = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if written != opset:
        raise GenfwUsageError(
            f"the exporter wrote opset {written}, not the {opset} asked for", fix=f"use --opset {written}"
        )
    model.ir_version = min_ir_version(opset)
    _check(model, log)
    export_info: dict[str, Any] = {
        "weights": weights,
        "tolerance": TOLERANCES[weights],
        "opset": opset,
        "ir_version": model.ir_version,
    }
    report: dict[str, Any] = {
        "path": str(path),
        "sidecar": str(sidecar_path(path)),
        "opset": opset,
        "ir_version": model.ir_version,
        "weights": weights,
        "tolerance": TOLERANCES[weights],
        "optimized": optimize,
        "rewrites": rewrites,
        "inputs": [c.name for c in latent],
        "output": OUTPUT_NAME,
    }
    try:  # before writing: a model that fails verification never replaces a good file
        if verify:
            fp32 = compare_onnx(model.SerializeToString(), generator, latent, tolerance=TOLERANCES["fp32"])
            report["fp32_max_abs_diff"] = fp32["max_abs"]
        if weights != "fp32":
            model = convert_weights(model, weights, log)
            model.ir_version = min_ir_version(opset)
            _check(model, log)
            if verify:
                diff = compare_onnx(
                    model.SerializeToString(),
                    generator,
                    latent,
                    tolerance=TOLERANCES[weights],
                    what=f"the {weights} export's output",
                )
        elif verify:
            diff = fp32
    except ExportError as exc:
        exc.log = log.getvalue()
        raise
    if verify:
        report.update(
            max_abs_diff=diff["max_abs"], mean_abs_diff=diff["mean_abs"], verified_batches=list(VERIFY_BATCHES)
        )
        export_info.update(
            max_abs_diff=_round(diff["max_abs"]),
            mean_abs_diff=_round(diff["mean_abs"]),
            verified_batches=list(VERIFY_BATCHES),
        )
    meta = onnx_metadata(latent, image_shape, categories, export_info)
    _add_metadata(model, meta)
    data = model.SerializeToString()
    report.update(bytes=len(data), nodes=[n.op_type for n in model.graph.node])
    write_pair(path, data, meta)
    report["sha256"] = meta["sha256"]
    report["seconds"] = round(time.perf_counter() - started, 2)
    return report


def _round(x: float) -> float:
    return float(f"{x:.3g}")


def _check(model: Any, log: io.StringIO) -> None:
    import onnx

    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as exc:
        raise ExportError(f"the exported model does not pass onnx.checker: {_reason(exc)}", log.getvalue()) from exc


def write_pair(path: str | Path, data: bytes, meta: dict[str, Any]) -> None:
    """Write the .onnx bytes and their sidecar, which records the bytes' SHA-256 (``meta`` gains
    ``sha256``). The .onnx goes first: a reader that finds a new .onnx next to an old sidecar
    refuses the pair (genfw.runtime, the web page) rather than trusting a stale spec."""
    meta["sha256"] = hashlib.sha256(data).hexdigest()
    atomic_write_bytes(path, data)
    atomic_write_json(sidecar_path(path), meta)


def relabel_export(path: str | Path, categories: dict[str, Any]) -> bool:
    """Label the categories of an existing export (and its sidecar) with what they came to mean
    (:func:`category_meanings`), e.g. after ``genfw eval``; the weights are untouched. False when
    the file is not a genfw export or nothing changed."""
    import onnx

    path = Path(path)
    try:
        model = onnx.load(str(path))
        props = {p.key: p.value for p in model.metadata_props}
        spec = json.loads(props[META_LATENT])
        sidecar = json.loads(sidecar_path(path).read_text(encoding="utf-8"))
    except Exception:
        return False
    changed = False
    for code in spec.get("codes", []):
        if code.get("name") in categories and "k" in code:
            before = json.dumps(code)
            changed |= label_categories(code, categories[code["name"]]) and json.dumps(code) != before
    if not changed:
        return False
    sidecar["latent"] = spec
    sidecar.pop("sha256", None)
    for p in model.metadata_props:
        if p.key == META_LATENT:
            p.value = json.dumps(spec)
    write_pair(path, model.SerializeToString(), sidecar)
    return True
