"""The :class:`Encoder`: an exported genfw encoder (``genfw export --encoder``) loaded into an
onnxruntime session, which turns images into the codes that draw them, and :func:`reconstruct`,
which runs such codes through a :class:`~genfw.runtime.generator.Generator`.

    >>> encoder = Encoder.load("runs/mnist/encoder.onnx")
    >>> codes = encoder.encode(digits)                     # {"digit": [n, 10], "c1": [n, 1], ...}
    >>> images, codes = reconstruct(digits, generator, encoder)
    >>> images, _ = reconstruct(digits, generator, encoder, fixed={"digit": 3})   # their style, another digit
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from genfw.export.contract import ENCODER_FILE, ENCODER_INPUT, KIND_ENCODER
from genfw.export.prior_center import prior_center
from genfw.runtime.codes import _positive_int, _shape_text
from genfw.runtime.errors import CodeError, GeneratorFileError
from genfw.runtime.file_contract import ExportedFile, _verify_pair, open_model_file
from genfw.runtime.generator import Batch, Generator
from genfw.runtime.resources import check_threads


class Encoder(ExportedFile):
    """An exported genfw encoder, loaded into an onnxruntime session.

    ``outputs`` names the codes it gives (each named as the generator's input for that code);
    ``codes`` is the full latent spec of the model (the codes it does not give are filled by the
    caller, e.g. from the prior: :func:`reconstruct`); ``image_shape`` is ``(C, H, W)``;
    ``sha256`` the file's hash once it was verified against its sidecar (None with ``verify=False``).
    """

    def __init__(self, session: ort.InferenceSession, spec: dict[str, Any], path: Path, source: str = "metadata"):
        super().__init__(session, spec, path)
        try:
            self.codes: list[dict[str, Any]] = list(spec["latent"]["codes"])
            self.image_shape = tuple(_positive_int(spec["image"][key]) for key in ("channels", "height", "width"))
            self.outputs: list[str] = [str(name) for name in spec["outputs"]]
            dims = {c["name"]: _positive_int(c["dim"]) for c in self.codes}
        except (KeyError, TypeError, ValueError):
            raise GeneratorFileError(
                f"its genfw {source} is incomplete", where=str(path), fix="re-export it with `genfw export --encoder`"
            ) from None
        inputs = {i.name: i.shape for i in session.get_inputs()}
        given = {o.name: o.shape for o in session.get_outputs()}
        problem = None
        if list(inputs) != [ENCODER_INPUT] or len(inputs[ENCODER_INPUT]) != 4:
            problem = f"its inputs {sorted(inputs)} are not one {ENCODER_INPUT!r} [batch, C, H, W]"
        elif set(given) != set(self.outputs) or not set(self.outputs) <= set(dims):
            problem = (
                f"its outputs {sorted(given)} do not match the codes its {source} names ({', '.join(self.outputs)})"
            )
        else:
            wrong = [n for n in self.outputs if len(given[n]) != 2 or given[n][1] not in (dims[n], None)]
            if wrong:
                problem = (
                    f"its output {wrong[0]!r} has shape {_shape_text(given[wrong[0]])}, not [batch, {dims[wrong[0]]}]"
                )
        if problem:
            raise GeneratorFileError(problem, where=str(path), fix="re-export it with `genfw export --encoder`")

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        *,
        threads: int | None = None,
        verify: bool = True,
        providers: Iterable[str] = ("CPUExecutionProvider",),
    ) -> Encoder:
        """Open an exported encoder (an .onnx file, or a folder holding ``encoder.onnx``).

        Read and verified like :meth:`Generator.load <genfw.runtime.generator.Generator.load>`:
        with ``verify=True`` (the default) its sidecar (``encoder.json``) must be there, record the
        file's SHA-256, match it and say what the model's own metadata says. A generator file is
        refused in one line (and :meth:`Generator.load` refuses an encoder)."""
        path = Path(path)
        if path.is_dir():
            path = path / ENCODER_FILE
        threads = check_threads(threads)
        opened = open_model_file(
            path,
            kind=KIND_ENCODER,
            fix="pass an encoder.onnx written by `genfw export --encoder`",
            threads=threads,
            providers=providers,
        )
        encoder = cls(opened.session, opened.spec, path, opened.source)
        if verify:
            names = {"kind": KIND_ENCODER, "inputs": [ENCODER_INPUT], "outputs": encoder.outputs}
            encoder.sha256 = _verify_pair(path, opened.spec, opened.sidecar, opened.why, names)
        return encoder

    # -- encoding --------------------------------------------------------------------------------
    def pixels(self, images: Any) -> np.ndarray:
        """``images`` as the model's input, float32 ``[n, C, H, W]`` in [0, 1]: uint8 0..255 or
        floats in [0, 1], ``[n, C, H, W]`` (or ``[n, H, W]`` for one channel). Anything else is a
        :class:`CodeError`."""
        c, h, w = self.image_shape
        arr = np.asarray(images)
        shapes = f"[n, {c}, {h}, {w}]" + (f" or [n, {h}, {w}]" if c == 1 else "")
        if arr.ndim == 3 and c == 1 and arr.shape[1:] == (h, w):
            arr = arr[:, None]
        if arr.ndim != 4 or arr.shape[1:] != (c, h, w) or arr.shape[0] < 1:
            raise CodeError(f"images must be {shapes} for this encoder, not shape {list(np.shape(images))}")
        if arr.dtype == np.uint8:
            return arr.astype(np.float32) / np.float32(255.0)
        if arr.dtype.kind != "f":
            raise CodeError(
                f"images must be uint8 (0..255) or floats in [0, 1], not {arr.dtype}", fix="convert them first"
            )
        pixels = arr.astype(np.float32)
        if not np.all(np.isfinite(pixels)) or pixels.min() < 0.0 or pixels.max() > 1.0:
            raise CodeError(
                f"float images must be finite and in [0, 1] (these span {float(np.nanmin(pixels)):g} .. "
                f"{float(np.nanmax(pixels)):g})",
                fix="divide 0..255 pixels by 255, or pass them as uint8",
            )
        return np.ascontiguousarray(pixels)

    def encode(self, images: Any, batch_size: int = 256) -> dict[str, np.ndarray]:
        """The codes of ``images`` (see :meth:`pixels`): ``{name: float32 [n, dim]}`` for every
        code the encoder gives, each what the generator's input of that name takes (a
        categorical's one-hot, a continuous code's mean, an angle in radians)."""
        x = self.pixels(images)
        step = max(1, int(batch_size))
        chunks = [self.session.run(self.outputs, {ENCODER_INPUT: x[i : i + step]}) for i in range(0, len(x), step)]
        return {name: np.concatenate([chunk[j] for chunk in chunks]) for j, name in enumerate(self.outputs)}

    def __repr__(self) -> str:
        return f"Encoder({str(self.path)!r}, outputs=({', '.join(self.outputs)}), image_shape={self.image_shape})"


def reconstruct(images: Any, generator: Generator, encoder: Encoder, fixed: Mapping[str, Any] | None = None) -> Batch:
    """``generator(encoder(images))``: the images and the codes that drew them.

    The codes the encoder gives are used as they are; ``fixed`` sets any code by value (any form
    :meth:`Generator.sample_codes` accepts), also one the encoder gives (keep a digit's style,
    draw another digit); every other code is its prior's center (a normal's mean, the middle of a
    uniform, a categorical's probabilities), so the result is deterministic."""
    theirs = {c["name"]: c["dim"] for c in encoder.codes}
    ours = {c["name"]: c["dim"] for c in generator.codes}
    if theirs != ours:
        raise CodeError(
            f"the encoder was exported for codes {theirs} but the generator takes {ours}",
            where=str(encoder.path),
            fix="use the encoder.onnx and generator.onnx exported together from one run",
        )
    fixed = dict(fixed or {})
    for name in fixed:
        generator.code(name)  # an unknown name: one line naming the valid ones
    encoded = encoder.encode(images)
    n = len(next(iter(encoded.values())))
    codes: dict[str, Any] = {}
    for spec in generator.codes:
        name = spec["name"]
        if name in fixed:
            codes[name] = generator.code_values(name, fixed[name], n)
        elif name in encoded:
            codes[name] = encoded[name]
        else:
            center = prior_center(spec.get("prior") or {}, spec["dim"])
            if center is None:
                raise CodeError(
                    f"code {name!r} (prior {(spec.get('prior') or {}).get('kind')!r}) is not given by the encoder "
                    "and its prior has no center genfw.runtime knows",
                    fix=f"pass fixed={{{name!r}: <value>}}",
                )
            codes[name] = np.repeat(center[None], n, axis=0)
    return generator.generate(codes=codes)
