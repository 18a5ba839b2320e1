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

import io
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from genfw.errors import GenfwUsageError
from genfw.eval_mode import eval_mode
from genfw.export.category_labels import describe_code
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
from genfw.export.errors import ExportError, _quiet, _reason
from genfw.export.inference_rewrites import optimize_for_inference
from genfw.export.pair import _check_destination, write_model
from genfw.export.subpixel import rewrite_upsampling_chains
from genfw.export.verification import VERIFY_BATCHES, _check, compare_onnx, float32_on_cpu
from genfw.export.weight_formats import (
    CALIBRATION_BATCH,
    CALIBRATION_BATCHES,
    TOLERANCES,
    WEIGHT_FORMATS,
    convert_weights,
)
from genfw.export.wrapper import CodesToImage, sample_inputs
from genfw.latent import LatentSpec
from genfw.version import __version__

MIN_OPSET = 18


def onnx_metadata(
    latent: LatentSpec,
    image_shape: Sequence[int],
    categories: dict[str, Any] | None = None,
    export: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The sidecar document (less its ``sha256``); its parts are also the ONNX metadata_props.

    ``categories`` (from :func:`code_meanings`) describes codes with what they came to mean: the
    categories of categorical codes, the property each continuous control code moves; ``export`` says how the file was exported (``genfw.export``).
    """
    c, h, w = (int(x) for x in image_shape)
    spec = latent.spec()
    for code in spec["codes"]:
        if categories and code["name"] in categories:
            describe_code(code, categories[code["name"]])
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


def calibration_feeds(latent: LatentSpec) -> list[dict[str, Any]]:
    """What int8's activation scales are calibrated on, as the model's input feeds: codes drawn
    from the priors (seeded, so an export is reproducible), and as many batches again in which
    every code with a slider range (the spec's ``range``, often wider than the prior: the paper's
    c1 is U(-1, 1) and swept over [-2, 2]) is drawn uniformly over that range, so the scales cover
    every value an app's slider sends; calibrated on prior draws alone, int8 clips them."""
    feeds = []
    for i in range(CALIBRATION_BATCHES):
        values = sample_inputs(latent, CALIBRATION_BATCH, seed=1000 + i)
        feeds.append({c.name: x.numpy() for c, x in zip(latent, values)})
        gen = torch.Generator().manual_seed(2000 + i)
        wide = {}
        for c, x in zip(latent, values):
            r = c.traversal_range()
            if r is not None and not c.periodic:
                x = torch.rand(x.shape, generator=gen) * (r[1] - r[0]) + r[0]
            wide[c.name] = x.numpy()
        feeds.append(wide)
    return feeds


def min_ir_version(opset: int) -> int:
    """The lowest ONNX IR version whose release supports ``opset`` (8 for opset 18): older
    runtimes load a file only up to the IR version they know, so writing the lowest one the
    operators allow lets the most runtimes read the file."""
    import onnx

    irs = [ir for _, ir, ai_onnx, *_ in onnx.helper.VERSION_TABLE if ai_onnx >= opset]
    return min(irs) if irs else onnx.IR_VERSION


# -- export -------------------------------------------------------------------------------------
def _to_onnx(module: nn.Module, latent: LatentSpec, opset: int, exporter_optimize: bool, log: io.StringIO):
    names = [c.name for c in latent]
    batch = torch.export.Dim("batch", min=1)
    return dynamo_export(
        CodesToImage(module, latent),
        tuple(sample_inputs(latent, 2)),
        input_names=names,
        output_names=[OUTPUT_NAME],
        dynamic_shapes={"values": tuple({0: batch} for _ in names)},
        opset=opset,
        optimize=exporter_optimize,
        log=log,
    )


def dynamo_export(
    module: nn.Module,
    example: tuple[torch.Tensor, ...],
    *,
    input_names: list[str],
    output_names: list[str],
    dynamic_shapes: dict[str, Any],
    opset: int,
    optimize: bool,
    log: io.StringIO,
) -> Any:
    """``module`` (in eval mode) as an ``onnx.ModelProto``, by torch's dynamo exporter, in memory
    (no external data), its chatter kept in ``log`` for an :class:`ExportError`."""
    with _quiet(log):
        program = torch.onnx.export(
            module.eval(),
            example,
            None,
            dynamo=True,
            external_data=False,
            input_names=input_names,
            output_names=output_names,
            opset_version=opset,
            dynamic_shapes=dynamic_shapes,
            optimize=optimize,
            verbose=False,
            report=False,
        )
    if program is None:  # the dynamo exporter returns a program unless told not to
        raise ExportError("torch.onnx.export returned no program", log.getvalue())
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


def export_records(
    path: Path, opset: int, ir_version: int, weights: str, tolerance: dict[str, float]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The two records every export starts from: the metadata's ``export`` block (how the file
    was made) and the report returned to the caller (that, and where it was written)."""
    export_info: dict[str, Any] = {"weights": weights, "tolerance": tolerance, "opset": opset, "ir_version": ir_version}
    report: dict[str, Any] = {
        "path": str(path),
        "sidecar": str(sidecar_path(path)),
        "opset": opset,
        "ir_version": ir_version,
        "weights": weights,
        "tolerance": tolerance,
    }
    return export_info, report


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
    (generator,) = float32_on_cpu(generator)
    with eval_mode(generator):
        module: nn.Module = generator
        rewrites: list[str] = []
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
    export_info, report = export_records(path, opset, model.ir_version, weights, TOLERANCES[weights])
    report.update(optimized=optimize, rewrites=rewrites, inputs=[c.name for c in latent], output=OUTPUT_NAME)
    try:  # before writing: a model that fails verification never replaces a good file
        if verify:
            fp32 = compare_onnx(model.SerializeToString(), generator, latent, tolerance=TOLERANCES["fp32"])
            report["fp32_max_abs_diff"] = fp32["max_abs"]
        if weights != "fp32":
            model = convert_weights(model, weights, log, calibration_feeds(latent))
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
    report["nodes"] = [n.op_type for n in model.graph.node]
    write_model(path, model, meta, report, started)
    return report


def _round(x: float) -> float:
    return float(f"{x:.3g}")
