"""The weight formats an export can have (fp32, fp16, int8), how far each one's images may be
from the torch generator's, and the conversion of the verified fp32 model into them."""

from __future__ import annotations

import copy
import io
import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from genfw.errors import GenfwUsageError
from genfw.export.errors import _quiet
from genfw.export.verification import TOLERANCE

#: Weight formats of ``export_generator(weights=...)``: fp32 as trained; fp16 weights and
#: activations (onnxruntime's float16 converter, float32 inputs and output kept); int8 weights of
#: the matrix products with their inputs quantized with scales calibrated on prior draws
#: (``onnxruntime.quantization.quantize_static``).
WEIGHT_FORMATS = ("fp32", "fp16", "int8")
#: How far each format's images may be from the float32 torch generator's (pixels in [0, 1]) over
#: the verification draws: the largest and the mean absolute difference. fp32 differs only by
#: summation order; fp16 by rounding (2^-11 relative per op); int8 by 8-bit weights and inputs of
#: the products. The limits leave about 10x room over what the shipped generators measured
#: (docs/onnx.md has the measurements).
TOLERANCES: dict[str, dict[str, float]] = {
    "fp32": {"max_abs": TOLERANCE},
    "fp16": {"max_abs": 0.01, "mean_abs": 0.001},
    "int8": {"max_abs": 0.25, "mean_abs": 0.01},
}


#: Calibration for int8: draws from the priors, this many batches of this many codes (seeded).
CALIBRATION_BATCHES, CALIBRATION_BATCH = 8, 64


def convert_weights(
    model: Any, weights: str, log: io.StringIO, calibration: Sequence[dict[str, np.ndarray]] = ()
) -> Any:
    """The exported fp32 model with ``weights`` in another format, with onnxruntime's own tools:
    ``fp16``: ``onnxruntime.transformers.float16.convert_float_to_float16`` (the same converter
    as onnxconverter-common's, shipped inside onnxruntime, so no extra dependency), keeping the
    float32 inputs and output of the contract; ``int8``:
    ``onnxruntime.quantization.quantize_static`` of the matrix products (Gemm/MatMul: int8
    weights per output channel, uint8 activations whose scales were calibrated on
    ``calibration``, feeds of codes drawn from the priors), so an image never depends on the
    rest of its batch, as with fp32 (dynamic quantization computes the scales per batch: the same
    codes then give different images in different batches).

    Why only the products: they hold almost all the weights, so the file is nearly as small as
    with every conv quantized too, while onnxruntime's ConvInteger is slower than its float Conv
    and less accurate (docs/onnx.md has the numbers)."""
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
                from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
                from onnxruntime.quantization.shape_inference import quant_pre_process

                if not calibration:
                    raise ValueError("int8 weights need calibration feeds (codes drawn from the priors)")

                class Feeds(CalibrationDataReader):
                    def __init__(self) -> None:
                        self.left = list(calibration)

                    def get_next(self) -> dict[str, np.ndarray] | None:
                        return self.left.pop(0) if self.left else None

                with tempfile.TemporaryDirectory(prefix="genfw-int8-") as tmp:
                    src, pre, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "pre.onnx", Path(tmp) / "int8.onnx"
                    onnx.save(model, str(src))
                    quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)  # what quantize_static expects
                    quantize_static(
                        pre,
                        dst,
                        Feeds(),
                        quant_format=QuantFormat.QOperator,
                        op_types_to_quantize=["MatMul", "Gemm"],
                        per_channel=True,
                        weight_type=QuantType.QInt8,
                        activation_type=QuantType.QUInt8,
                    )
                    return onnx.load(str(dst))
        finally:
            root.setLevel(level)
    raise GenfwUsageError(f"unknown weights format {weights!r}", fix=f"use one of {', '.join(WEIGHT_FORMATS)}")
