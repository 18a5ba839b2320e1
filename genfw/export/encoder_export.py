"""Export a model's encoder (``Model.encoder``: images -> codes) to one ONNX file beside the
generator, so apps can go from an image to the codes that draw it (docs/onnx.md, "Encoder").

The contract: one input ``image``, float32 ``[batch, C, H, W]`` in [0, 1] (what the generator
outputs); one output per code the encoder predicts, named as the generator's input for that code
and holding what the generator takes there (``code.predict``: a categorical code's one-hot, a
continuous code's mean, an angle's angle), so ``generator(encoder(x))`` reconstructs ``x``. Codes
it does not predict (e.g. a GAN's noise) are not outputs: the sidecar's full latent spec says which
ones an app fills from the prior. fp32 only, dynamic batch; verified against torch on images the
generator draws from seeded prior samples before anything is written.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from genfw.errors import GenfwUsageError
from genfw.eval_mode import eval_mode
from genfw.export.contract import (
    ENCODER_INPUT,
    ENCODER_SCHEMA_ID,
    KIND_ENCODER,
    META_KIND,
    META_OUTPUTS,
)
from genfw.export.errors import ExportError, _reason
from genfw.export.onnx_export import (
    MIN_OPSET,
    _add_metadata,
    dynamo_export,
    export_records,
    min_ir_version,
    onnx_metadata,
)
from genfw.export.pair import _check_destination, write_model
from genfw.export.verification import TOLERANCE, _check, float32_on_cpu
from genfw.export.wrapper import sample_inputs
from genfw.latent import LatentSpec

#: The batch sizes the encoder is verified at (images the generator draws from seeded prior samples).
VERIFY_BATCHES = (1, 7, 64)
#: Rows of a one-hot output whose two largest logits (torch's) are closer than this are not
#: compared: a tie that float rounding in another runtime may break the other way.
TIE_MARGIN = 1e-4


class ImageToCodes(nn.Module):
    """What is exported: ``image [n, C, H, W]`` -> one tensor per predictable code (config order),
    ``code.predict`` of its slice of the encoder's prediction: the code's parameters, as the
    generator takes them."""

    def __init__(self, encoder: nn.Module, latent: LatentSpec):
        super().__init__()
        self.encoder = encoder
        self.slices = latent.prediction_slices()
        self.codes = [latent[name] for name in self.slices]

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        prediction = self.encoder(image).float()
        return tuple(code.predict(prediction[:, self.slices[code.name]]) for code in self.codes)


def output_names(latent: LatentSpec) -> list[str]:
    """The encoder's outputs: the codes it predicts, in config order (each named as the generator's input)."""
    return list(latent.prediction_slices())


def encoder_metadata(
    latent: LatentSpec,
    image_shape: Sequence[int],
    categories: dict[str, Any] | None = None,
    export: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The encoder's sidecar document (less its ``sha256``): the generator's (the full latent
    spec, the image, versions; :func:`~genfw.export.onnx_export.onnx_metadata`) with its own
    ``$schema``, ``kind``, input and outputs."""
    doc = onnx_metadata(latent, image_shape, categories, export)
    del doc["output"]
    doc.update(
        {"$schema": ENCODER_SCHEMA_ID, "kind": KIND_ENCODER, "inputs": [ENCODER_INPUT], "outputs": output_names(latent)}
    )
    return doc


def _to_onnx(module: ImageToCodes, example: torch.Tensor, names: list[str], opset: int, log: io.StringIO) -> Any:
    return dynamo_export(
        module,
        (example,),
        input_names=[ENCODER_INPUT],
        output_names=names,
        dynamic_shapes={"image": {0: torch.export.Dim("batch", min=1)}},
        opset=opset,
        optimize=True,
        log=log,
    )


def verification_images(generator: nn.Module, latent: LatentSpec, n: int, seed: int) -> torch.Tensor:
    """``n`` images the generator draws (eval mode) from seeded prior samples: what the encoder is checked on."""
    values = sample_inputs(latent, n, seed)
    with eval_mode(generator), torch.no_grad():
        return generator(latent.encode({c.name: v for c, v in zip(latent, values)})).float()


def compare_encoder(
    model: str | Path | bytes,
    encoder: nn.Module,
    generator: nn.Module,
    latent: LatentSpec,
    batches: Sequence[int] = VERIFY_BATCHES,
    tolerance: float = TOLERANCE,
) -> dict[str, Any]:
    """The largest |onnxruntime - torch eval| over every output at each batch size, and how many
    one-hot rows were left out as ties (:data:`TIE_MARGIN`); raises :class:`ExportError` past
    ``tolerance`` or when a one-hot output picks another category."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only
    session = ort.InferenceSession(
        model if isinstance(model, bytes) else str(model), options, providers=["CPUExecutionProvider"]
    )
    slices, names = latent.prediction_slices(), output_names(latent)
    wrapper = ImageToCodes(encoder, latent)
    worst, ties = 0.0, 0
    with eval_mode(encoder):
        for i, n in enumerate(batches):
            images = verification_images(generator, latent, n, seed=2000 + i)
            with torch.no_grad():
                prediction = encoder(images).float()
                expected = [t.numpy() for t in wrapper(images)]
            got = session.run(names, {ENCODER_INPUT: images.numpy()})
            for name, want, have in zip(names, expected, got):
                if have.shape != want.shape:
                    raise ExportError(f"the encoder's output {name!r} has shape {have.shape}, torch {want.shape}")
                rows = np.ones(n, bool)
                if latent[name].one_hot:  # a near-tie of the logits may round either way
                    top2 = prediction[:, slices[name]].topk(2, dim=1).values
                    rows = (top2[:, 0] - top2[:, 1]).numpy() > TIE_MARGIN
                    ties += int((~rows).sum())
                diff = float(np.max(np.abs(have[rows].astype(np.float64) - want[rows]), initial=0.0))
                worst = max(worst, diff)
                if not diff <= tolerance:
                    raise ExportError(
                        f"the encoder's output {name!r} differs from torch by {diff:.3g} (> {tolerance:g}) at batch {n}"
                    )
    return {"max_abs": worst, "ties_skipped": ties}


def export_encoder(
    encoder: nn.Module,
    generator: nn.Module,
    latent: LatentSpec,
    image_shape: Sequence[int],
    path: str | Path,
    *,
    opset: int = MIN_OPSET,
    verify: bool = True,
    categories: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``path`` (.onnx, e.g. ``encoder.onnx``) and its sidecar (``encoder.json``); return a report.

    Nothing is written unless the model passes ``onnx.checker`` and (with ``verify``) its
    outputs match torch's (eval mode) within 1e-4 on images ``generator`` draws from seeded prior
    samples at batch sizes 1, 7 and 64. ``categories`` labels categorical codes as in the
    generator's export (the spec is the same). Weights are fp32, as trained.
    """
    if opset < MIN_OPSET:
        raise GenfwUsageError(f"opset {opset} is too old", fix=f"use --opset {MIN_OPSET} or newer")
    names = output_names(latent)
    if not names:
        raise GenfwUsageError(
            "the latent spec has no code an encoder can predict (every code's prediction_dim is 0)",
            fix="export without --encoder",
        )
    path = Path(path)
    _check_destination(path)
    started = time.perf_counter()
    log = io.StringIO()
    encoder, generator = float32_on_cpu(encoder, generator)
    example = verification_images(generator, latent, 2, seed=0)
    with eval_mode(encoder):
        try:
            model = _to_onnx(ImageToCodes(encoder, latent), example, names, opset, log)
        except Exception as exc:
            raise ExportError(f"ONNX export of the encoder failed: {_reason(exc)}", log.getvalue()) from exc
    model.ir_version = min_ir_version(opset)
    _check(model, log)
    export_info, report = export_records(path, opset, model.ir_version, "fp32", {"max_abs": TOLERANCE})
    report.update(inputs=[ENCODER_INPUT], outputs=names)
    if verify:
        try:  # before writing: a model that fails verification never replaces a good file
            diff = compare_encoder(model.SerializeToString(), encoder, generator, latent)
        except ExportError as exc:
            exc.log = log.getvalue()
            raise
        report.update(
            max_abs_diff=diff["max_abs"], ties_skipped=diff["ties_skipped"], verified_batches=list(VERIFY_BATCHES)
        )
        export_info.update(max_abs_diff=float(f"{diff['max_abs']:.3g}"), verified_batches=list(VERIFY_BATCHES))
    meta = encoder_metadata(latent, image_shape, categories, export_info)
    _add_encoder_metadata(model, meta)
    write_model(path, model, meta, report, started)
    return report


def _add_encoder_metadata(model: Any, meta: dict[str, Any]) -> None:
    """The generator's metadata_props (latent, image, versions, export) plus the encoder's own."""
    import onnx

    _add_metadata(model, meta)
    props = {META_KIND: json.dumps(meta["kind"]), META_OUTPUTS: json.dumps(meta["outputs"])}
    keep = [p for p in model.metadata_props if p.key not in props]
    del model.metadata_props[:]
    model.metadata_props.extend(keep)
    for key, value in props.items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))
    model.doc_string = (
        "genfw encoder: input 'image' [batch, C, H, W] in [0, 1], one output per code it predicts, "
        "named as the generator's input for that code"
    )
