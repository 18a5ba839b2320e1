"""The :class:`Generator`: an exported genfw generator loaded into an onnxruntime session, which
draws or takes codes and runs the model into images (:class:`Batch`)."""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import onnxruntime as ort

from genfw.export.contract import KIND_GENERATOR, MODEL_FILE, OUTPUT_NAME
from genfw.export.seeds import check_seed
from genfw.runtime.codes import (
    CODE_CHECKS,
    _categorical_values,
    _continuous_values,
    _draw,
    _is_categorical,
    _is_range,
    _positive_int,
    _shape_text,
)
from genfw.runtime.errors import CodeError, GeneratorFileError
from genfw.runtime.file_contract import ExportedFile, _verify_pair, open_model_file
from genfw.runtime.images import save_grid, to_uint8
from genfw.runtime.resources import available_memory, check_memory, check_threads

#: The pixel types :meth:`Generator.generate` returns.
IMAGE_DTYPES = {"float32": np.float32, "uint8": np.uint8}


class Batch(NamedTuple):
    """What :meth:`Generator.generate` returns; unpacks as ``images, codes``."""

    images: np.ndarray  # [n, C, H, W], float32 in [0, 1] or uint8
    codes: dict[str, np.ndarray]  # {name: float32 [n, dim]}, exactly what the model was fed


class Generator(ExportedFile):
    """An exported genfw generator, loaded into an onnxruntime session.

    ``codes`` lists the latent code specs (``name``, ``type``, ``dim``, ``role``, ``prior``,
    ``range``; categorical codes also ``k`` and ``labels``) in input order; ``image_shape`` is
    ``(C, H, W)``; ``export`` how the file was exported (weights format, verification tolerance;
    None for files from before genfw 0.2); ``sha256`` the file's hash once it was verified against
    its sidecar (None when loaded with ``verify=False``), ``verified`` whether it was.
    """

    def __init__(self, session: ort.InferenceSession, spec: dict[str, Any], path: Path, source: str = "metadata"):
        super().__init__(session, spec, path)
        try:
            self.codes: list[dict[str, Any]] = list(spec["latent"]["codes"])
            image = spec["image"]
            self.image_spec: dict[str, Any] = dict(image)
            self.image_shape = tuple(_positive_int(image[key]) for key in ("channels", "height", "width"))
            self._by_name = {c["name"]: c for c in self.codes}
            for c in self.codes:
                c["dim"] = _positive_int(c["dim"])
        except (KeyError, TypeError, ValueError):
            raise GeneratorFileError(
                f"its genfw {source} is incomplete", where=str(path), fix="re-export it with `genfw export`"
            ) from None
        inputs = {i.name: i.shape for i in session.get_inputs()}
        outputs = {o.name: o.shape for o in session.get_outputs()}
        if set(inputs) != set(self._by_name) or len(self.codes) != len(inputs) or OUTPUT_NAME not in outputs:
            raise GeneratorFileError(
                f"its inputs {sorted(inputs)} / outputs {sorted(outputs)} do not match its latent spec",
                where=str(path),
                fix="re-export it with `genfw export`",
            )
        for c in self.codes:
            for what, check in CODE_CHECKS:
                problem = check(c, inputs[c["name"]])
                if problem:
                    raise GeneratorFileError(
                        f"the {what} of code {c['name']!r} in its {source} is wrong: {problem}",
                        where=str(path),
                        fix="re-export it with `genfw export`",
                    )
        output = outputs[OUTPUT_NAME]
        if len(output) != 4 or any(isinstance(d, int) and d != s for d, s in zip(output[1:], self.image_shape)):
            raise GeneratorFileError(
                f"its {source} says images are {'x'.join(map(str, self.image_shape))} but the model's output "
                f"{OUTPUT_NAME!r} has shape {_shape_text(output)}",
                where=str(path),
                fix="re-export it with `genfw export`",
            )

    # -- loading ---------------------------------------------------------------------------------
    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        *,
        threads: int | None = None,
        spin: bool = False,
        verify: bool = True,
        providers: Iterable[str] = ("CPUExecutionProvider",),
    ) -> Generator:
        """Open an exported generator (an .onnx file, or a folder holding ``generator.onnx``).

        ``verify=True`` (the default) runs a file only once it is checked: its sidecar
        (``generator.json``) must be there, record the file's SHA-256, match it, and say what the
        model's own metadata says; anything else is a :class:`GeneratorFileError`.
        ``verify=False`` skips these checks (the spec must still fit the model). ``threads`` sets
        onnxruntime's intra-op threads (default: its own choice; at most the usable CPUs).
        ``spin=False`` lets idle worker threads sleep instead of busy-waiting: on a shared or busy
        machine spinning threads fight other processes for the cores and throughput drops
        sharply; on an idle machine ``spin=True`` can shave a little latency.
        """
        path = Path(path)
        if path.is_dir():
            path = path / MODEL_FILE
        threads = check_threads(threads)
        opened = open_model_file(
            path,
            kind=KIND_GENERATOR,
            fix="pass an .onnx file written by `genfw export`",
            threads=threads,
            providers=providers,
            spin=spin,
        )
        # A spec that does not fit the model is refused before the pair is verified.
        generator = cls(opened.session, opened.spec, path, opened.source)
        if verify:
            generator.sha256 = _verify_pair(path, opened.spec, opened.sidecar, opened.why)
        return generator

    @property
    def latent_spec(self) -> dict[str, Any]:
        """The ``genfw.latent`` document: ``{"codes": [...]}``."""
        return {"codes": self.codes}

    @property
    def code_names(self) -> list[str]:
        return [c["name"] for c in self.codes]

    def code(self, name: str) -> dict[str, Any]:
        """The spec of one code; a :class:`CodeError` naming the valid codes if there is none."""
        try:
            return self._by_name[name]
        except KeyError:
            close = difflib.get_close_matches(str(name), self.code_names, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise CodeError(
                f"no latent code named {name!r}", fix=f"{hint}valid codes: {', '.join(self.code_names)}"
            ) from None

    # -- codes -----------------------------------------------------------------------------------
    def sample_codes(self, n: int, seed: int | None = None, **fixed: Any) -> dict[str, np.ndarray]:
        """Draw ``n`` values of every code from its prior, ``{name: float32 [n, dim]}``.

        Draws use the portable generator of the contract (:mod:`genfw.export.seeds`: the same
        seed gives the same codes in genfw-web.js and any app that implements it), one stream
        per code, so fixing ``digit`` keeps the same ``z`` and ``c1`` for the same seed (that is
        what makes style grids line up), and sample ``i`` is the same whatever ``n`` is. A seed
        is an integer 0 .. 2^64 - 1; None draws a fresh one. Fixed values
        are code *parameters* (an angle code takes theta in radians; its encoding is inside the
        model): a categorical code takes an index, a label or a length-k (probability / blend)
        vector, or ``[n, k]``; a continuous code of dim d takes a number (every dimension of
        every sample), a vector of length 1 (the same) or of length d (every sample), for d = 1
        a vector of length n (one value per sample), or an array ``[1, d]`` or ``[n, d]``.
        Any other shape is a :class:`CodeError`, never broadcast. A prior kind the runtime does
        not know must be given this way.
        """
        return self._sample(n, seed, fixed)

    def _sample(self, n: int, seed: int | None, fixed: Mapping[str, Any]) -> dict[str, np.ndarray]:
        # Takes ``fixed`` as a dict so that codes named like parameters ("n", "seed") still work.
        n = self._check_n(n)
        for name in fixed:
            self.code(name)
        try:
            seed = check_seed(seed)
        except ValueError as exc:
            raise CodeError(str(exc), fix="e.g. seed=0") from None
        return {
            spec["name"]: self.code_values(spec["name"], fixed[spec["name"]], n)
            if spec["name"] in fixed
            else _draw(spec, n, seed, position)
            for position, spec in enumerate(self.codes)
        }

    def select(self, name: str, class_label: Any) -> int:
        """The category of code ``name`` that draws class ``class_label`` (e.g. ``select("digit",
        8)``: the category whose samples a classifier reads as an 8), from the spec's ``classes``;
        of several, the one that draws it most reliably. Pass the result as the code's value."""
        spec = self.code(name)
        classes = spec.get("classes")
        if not _is_categorical(spec) or not classes:
            raise CodeError(
                f"code {name!r} has no category meanings to select from",
                fix="give a category index or label instead; genfw export labels the categories of a run with an eval.json",
            )
        wanted = str(class_label)
        matches = [(c["share"], -i, i) for i, c in enumerate(classes) if str(c["label"]) == wanted]
        if not matches:
            drawn = sorted({str(c["label"]) for c in classes})
            raise CodeError(
                f"no category of code {name!r} draws {wanted!r}", fix=f"its categories draw: {', '.join(drawn)}"
            )
        return max(matches)[2]

    def code_values(self, name: str, value: Any, n: int) -> np.ndarray:
        """``value`` for code ``name`` as the model input, float32 ``[n, dim]`` (see :meth:`sample_codes`)."""
        spec = self.code(name)
        if _is_categorical(spec):
            return _categorical_values(spec, value, n)
        return _continuous_values(spec, value, n)

    # -- images ----------------------------------------------------------------------------------
    def generate(
        self,
        n: int | None = None,
        seed: int | None = None,
        codes: Mapping[str, Any] | None = None,
        dtype: str = "float32",
        batch_size: int = 256,
        **fixed: Any,
    ) -> Batch:
        """Images ``[n, C, H, W]`` and the codes that made them.

        ``codes`` gives values for some or all codes (e.g. from :meth:`sample_codes`), the
        keyword arguments fix codes by value (they win over ``codes``), and the rest are drawn
        with ``seed``. ``n`` defaults to the batch size of ``codes``, else 1. ``dtype="uint8"``
        returns 0..255 pixels. Runs in chunks of ``batch_size``, each written into the result;
        a batch that would not fit in the memory left is refused before any work
        (:class:`MemoryNeedError`).
        """
        if dtype not in IMAGE_DTYPES:
            raise CodeError(f"dtype must be 'float32' or 'uint8', not {dtype!r}")
        given = dict(codes or {})
        for name in given:
            self.code(name)
        if n is None:
            sizes = {np.asarray(v).shape[0] for v in given.values() if np.ndim(v) == 2}
            if len(sizes) > 1:
                raise CodeError(
                    f"the given codes have different batch sizes {sorted(sizes)}",
                    fix="give every code the same first dimension",
                )
            n = sizes.pop() if sizes else 1
        n = self._check_n(n)
        check_memory(
            self.memory_needed(n, np.dtype(dtype).itemsize),
            f"{n:,} images of {self.image_text} as {dtype},",
            fix=f"generate at most {self.max_images(np.dtype(dtype).itemsize):,} at once, in several calls",
        )
        values = self._sample(n, seed, {**given, **fixed})
        return Batch(self.run(values, batch_size=batch_size, dtype=dtype), values)

    def memory_needed(self, n: int, bytes_per_pixel: int) -> int:
        """Bytes that ``n`` images take at ``bytes_per_pixel``, with the codes drawn for them
        (numpy draws in float64, then keeps float32: 12 bytes a number at the peak)."""
        return n * self._bytes_per_image(bytes_per_pixel)

    def max_images(self, bytes_per_pixel: int) -> int:
        """How many images fit in the memory this process has left (:func:`available_memory`)."""
        available = available_memory()
        return max(1, (available if available is not None else 1 << 62) // self._bytes_per_image(bytes_per_pixel))

    def _bytes_per_image(self, bytes_per_pixel: int) -> int:
        return int(np.prod(self.image_shape)) * bytes_per_pixel + sum(c["dim"] for c in self.codes) * 12

    @property
    def image_text(self) -> str:
        """The image size as people write it: ``1x28x28``."""
        return "x".join(map(str, self.image_shape))

    def traverse(
        self,
        code_name: str,
        steps: int | None = None,
        seed: int | None = None,
        values: Iterable[Any] | None = None,
        dtype: str = "float32",
        **fixed: Any,
    ) -> Batch:
        """Sweep one code while every other code stays at one draw (from ``seed``, or fixed).

        ``values`` are the settings of ``code_name`` (any form :meth:`sample_codes` accepts). By
        default a categorical code steps through its categories (``steps`` of them, cycling;
        all k if ``steps`` is None) and a continuous one goes linearly over the spec's suggested
        ``range`` (without one, over its prior's: uniform low..high, normal mean +- 2 std) in
        ``steps`` (default 9) steps; a periodic code (an angle) sweeps one full turn without
        showing the same angle twice: (low, high].
        """
        spec = self.code(code_name)
        if values is None:
            values = self._default_sweep(spec, steps)
        rows = [self.code_values(code_name, v, 1) for v in values]
        if not rows:
            raise CodeError(f"nothing to traverse for code {code_name!r}", fix="give steps >= 1 or some values")
        base = self._sample(1, seed, {**fixed, code_name: rows[0]})  # the swept code need not be drawable
        codes = {name: np.repeat(v, len(rows), axis=0) for name, v in base.items()}
        codes[code_name] = np.concatenate(rows, axis=0)
        return self.generate(codes=codes, dtype=dtype)

    def run(self, codes: Mapping[str, np.ndarray], batch_size: int = 256, dtype: str = "float32") -> np.ndarray:
        """Run the model on complete codes ``{name: float32 [n, dim]}``: images ``[n, C, H, W]``,
        float32 in [0, 1] or (``dtype="uint8"``) 0..255, computed ``batch_size`` at a time."""
        feed = {c["name"]: np.ascontiguousarray(codes[c["name"]], dtype=np.float32) for c in self.codes}
        n = next(iter(feed.values())).shape[0]
        step = max(1, int(batch_size))
        out = np.empty((n, *self.image_shape), IMAGE_DTYPES[dtype])
        for i in range(0, n, step):  # each chunk goes straight into the result: no list of chunks to join
            chunk = self.session.run([OUTPUT_NAME], {k: v[i : i + step] for k, v in feed.items()})[0]
            out[i : i + step] = to_uint8(chunk) if dtype == "uint8" else chunk
        return out

    def sweep_values(self, code_name: str, steps: int | None = None) -> list[Any]:
        """The settings :meth:`traverse` sweeps ``code_name`` over by default (see there), each a
        value :meth:`code_values` accepts."""
        return self._default_sweep(self.code(code_name), steps)

    # -- helpers ---------------------------------------------------------------------------------
    def _default_sweep(self, spec: dict[str, Any], steps: int | None) -> list[Any]:
        if _is_categorical(spec):
            k = spec["dim"]  # k = dim: checked when the file was loaded
            return [i % k for i in range(k if steps is None else self._check_n(steps, "steps"))]
        steps = 9 if steps is None else self._check_n(steps, "steps")
        prior = spec.get("prior", {})
        if _is_range(spec.get("range")):
            low, high = (np.float64(x) for x in spec["range"])
            if spec.get("periodic"):  # low and high are the same angle: (low, high]
                return [low + (high - low) * t for t in np.linspace(0.0, 1.0, steps + 1)[1:]]
        elif prior.get("kind") == "uniform":
            low, high = np.asarray(prior.get("low", -1.0), np.float64), np.asarray(prior.get("high", 1.0), np.float64)
        elif prior.get("kind") == "normal":
            mean, std = np.asarray(prior.get("mean", 0.0), np.float64), np.asarray(prior.get("std", 1.0), np.float64)
            low, high = mean - 2 * std, mean + 2 * std
        else:
            raise CodeError(
                f"code {spec['name']!r} (prior {prior.get('kind')!r}) has no default sweep", fix="pass values=[...]"
            )
        return [low + (high - low) * t for t in np.linspace(0.0, 1.0, steps)]

    @staticmethod
    def _check_n(n: Any, what: str = "the number of samples") -> int:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise CodeError(f"{what} must be a positive integer, not {n!r}")
        return int(n)

    def __repr__(self) -> str:
        codes = ", ".join(f"{c['name']}[{c['dim']}]" for c in self.codes)
        return f"Generator({str(self.path)!r}, codes=({codes}), image_shape={self.image_shape})"


Generator.save_grid = staticmethod(save_grid)  # type: ignore[attr-defined]
