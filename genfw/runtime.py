"""Run an exported genfw generator with numpy and onnxruntime only (no torch).

This is the app side of the ONNX contract (docs/onnx.md): it reads the latent spec that the
export stored in the model (metadata_props ``genfw.latent`` / ``genfw.image``, or the sidecar
``generator.json``), draws codes from their priors, lets you fix any code by value, and runs
the model. It must never import torch, so apps and ``genfw sample`` on an .onnx file start
fast and ship small; a test checks that. PIL (PNG) and h5py (.h5) are imported only when used.

    >>> g = Generator.load("runs/mnist/generator.onnx")
    >>> images, codes = g.generate(16, seed=0, digit=3, c1=0.5)   # [16, 1, 28, 28] in [0, 1]
    >>> sweep = g.traverse("c1", steps=9, seed=0, digit=7)         # c1 from -1 to 1, rest fixed
    >>> save_grid(sweep.images, "c1.png", nrow=9)
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, NamedTuple

import numpy as np
import onnxruntime as ort

from genfw.atomic import atomic_write_bytes, atomic_write_via, check_space
from genfw.errors import GenfwUsageError  # torch-free (genfw/__init__ and genfw.errors import no torch)

META_LATENT = "genfw.latent"
META_IMAGE = "genfw.image"
META_VERSION = "genfw.version"
META_EXPORT = "genfw.export"
OUTPUT_NAME = "image"
PRIOR_KINDS = ("normal", "uniform", "categorical", "bernoulli")


class RuntimeUsageError(GenfwUsageError, ValueError):
    """A bad argument or file given to the runtime: one line, and a ValueError for plain Python callers."""


class GeneratorFileError(RuntimeUsageError):
    """The file is missing, not ONNX, or an ONNX model that is not a genfw generator."""


class CodeError(RuntimeUsageError):
    """A code name, value, category or shape that does not fit the generator's latent spec."""


class Batch(NamedTuple):
    """What :meth:`Generator.generate` returns; unpacks as ``images, codes``."""

    images: np.ndarray  # [n, C, H, W], float32 in [0, 1] or uint8
    codes: dict[str, np.ndarray]  # {name: float32 [n, dim]}, exactly what the model was fed


def _atomic_write(path: Path, write: Any) -> None:
    """Write via a temp file in the same folder and rename, so readers never see half a file."""
    atomic_write_via(path, write)


def parse_version(value: Any) -> str | None:
    """The genfw version a file records: ``genfw.version`` is JSON (a string, ``"0.2.0"``) since
    genfw 0.2; files written before hold the plain text (``0.2.0``). Both read the same."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            return value  # an old plain-text version
        return parsed if isinstance(parsed, str) else value  # plain "1.0" parses as a number: keep the text
    return str(value)


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, hex (what a sidecar's ``sha256`` holds for its .onnx file)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _read_sidecar(path: Path) -> dict[str, Any] | None:
    """The sidecar next to ``path`` if it is a genfw sidecar; None if there is none or it is
    another kind of JSON file (an app may keep its own ``model.json`` next to ``model.onnx``)."""
    sidecar = path.with_suffix(".json")
    if not sidecar.is_file():
        return None
    try:
        doc = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return doc if isinstance(doc, dict) and {"latent", "image"} <= set(doc) else None


def _check_pair(path: Path, sidecar: dict[str, Any] | None) -> str | None:
    """The .onnx file's SHA-256 when its sidecar records one; refuses a sidecar that was written
    for other bytes (a re-exported .onnx next to an old .json, or the other way round)."""
    if sidecar is None or "sha256" not in sidecar:
        return None  # no sidecar, or one written before genfw 0.2 recorded hashes
    digest = file_sha256(path)
    if str(sidecar["sha256"]).lower() != digest:
        raise GeneratorFileError(f"its sidecar {path.with_suffix('.json').name} was written for another file "
                                 f"(SHA-256 {str(sidecar['sha256'])[:12]}..., this file {digest[:12]}...)", where=str(path),
                                 fix="keep each .onnx with the .json exported with it, or re-export both with `genfw export`")
    return digest


def _read_spec(session: ort.InferenceSession, path: Path) -> dict[str, Any]:
    """The generator spec from metadata_props, else from the sidecar JSON next to the file; a
    sidecar that records the SHA-256 of other bytes is refused either way."""
    meta = session.get_modelmeta().custom_metadata_map
    sidecar = _read_sidecar(path)
    digest = _check_pair(path, sidecar)
    if META_LATENT in meta or META_IMAGE in meta:
        # The file claims to be a genfw generator: say exactly what is wrong with its metadata.
        doc = {}
        for key in (META_LATENT, META_IMAGE):
            if key not in meta:
                raise GeneratorFileError(f"it has no {key} metadata (a genfw generator has both {META_LATENT} and {META_IMAGE})",
                                         where=str(path), fix="re-export it with `genfw export`")
            try:
                doc[key] = json.loads(meta[key])
            except json.JSONDecodeError as exc:
                raise GeneratorFileError(f"its {key} metadata is not valid JSON ({exc.msg} at char {exc.pos})",
                                         where=str(path), fix="re-export it with `genfw export`") from None
        try:
            export = json.loads(meta[META_EXPORT]) if META_EXPORT in meta else None
        except json.JSONDecodeError:
            export = None  # informational only
        return {"latent": doc[META_LATENT], "image": doc[META_IMAGE], "version": parse_version(meta.get(META_VERSION)),
                "export": export, "sha256": digest}
    if path.with_suffix(".json").is_file():
        if sidecar is None:
            raise GeneratorFileError("its sidecar is not a genfw generator spec", where=str(path.with_suffix(".json")),
                                     fix="re-export it with `genfw export`")
        return {"latent": sidecar["latent"], "image": sidecar["image"], "version": parse_version(sidecar.get("version")),
                "export": sidecar.get("export"), "sha256": digest}
    raise GeneratorFileError(f"not a genfw generator (no {META_LATENT} metadata and no sidecar {path.with_suffix('.json').name})",
                             where=str(path), fix="export one with `genfw export RUN_DIR`")


class Generator:
    """An exported genfw generator, loaded into an onnxruntime session.

    ``codes`` lists the latent code specs (``name``, ``type``, ``dim``, ``role``, ``prior``,
    ``range``; categorical codes also ``k`` and ``labels``) in input order; ``image_shape`` is
    ``(C, H, W)``; ``export`` how the file was exported (weights format, verification tolerance;
    None for files from before genfw 0.2); ``sha256`` the file's hash when its sidecar records one.
    """

    def __init__(self, session: ort.InferenceSession, spec: dict[str, Any], path: Path):
        self.session = session
        self.path = path
        self.version = spec.get("version")
        self.export: dict[str, Any] | None = spec.get("export") if isinstance(spec.get("export"), dict) else None
        self.sha256: str | None = spec.get("sha256")
        try:
            self.codes: list[dict[str, Any]] = list(spec["latent"]["codes"])
            image = spec["image"]
            self.image_spec: dict[str, Any] = dict(image)
            self.image_shape = (int(image["channels"]), int(image["height"]), int(image["width"]))
            self._by_name = {c["name"]: c for c in self.codes}
            for c in self.codes:
                c["dim"] = int(c["dim"])
                if c["dim"] < 1:
                    raise ValueError
        except (KeyError, TypeError, ValueError):
            raise GeneratorFileError("its genfw metadata is incomplete", where=str(path), fix="re-export it with `genfw export`") from None
        for c in self.codes:
            problem = _prior_problem(c)
            if problem:
                raise GeneratorFileError(f"the prior of code {c['name']!r} in its metadata is damaged: {problem}",
                                         where=str(path), fix="re-export it with `genfw export`")
        inputs = {i.name for i in session.get_inputs()}
        outputs = {o.name for o in session.get_outputs()}
        if inputs != set(self._by_name) or OUTPUT_NAME not in outputs:
            raise GeneratorFileError(f"its inputs {sorted(inputs)} / outputs {sorted(outputs)} do not match its latent spec",
                                     where=str(path), fix="re-export it with `genfw export`")

    # -- loading ---------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike, *, threads: int | None = None, spin: bool = False,
             providers: Iterable[str] = ("CPUExecutionProvider",)) -> "Generator":
        """Open an exported generator (an .onnx file, or a folder holding ``generator.onnx``).

        ``threads`` sets onnxruntime's intra-op threads (default: its own choice). ``spin=False``
        lets idle worker threads sleep instead of busy-waiting: on a shared or busy machine
        spinning threads fight other processes for the cores and throughput drops sharply; on
        an idle machine ``spin=True`` can shave a little latency.
        Raises :class:`GeneratorFileError` for anything that is not a genfw generator.
        """
        path = Path(path)
        if path.is_dir():
            path = path / "generator.onnx"
        if not path.is_file():
            raise GeneratorFileError("file not found", where=str(path), fix="pass an .onnx file written by `genfw export`")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
        options.log_severity_level = 3  # errors only: warnings about unused initialisers are noise here
        try:
            session = ort.InferenceSession(str(path), options, providers=list(providers))
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [""])[0]
            raise GeneratorFileError(f"not a loadable ONNX model ({type(exc).__name__}: {first[:160]})", where=str(path),
                                     fix="pass an .onnx file written by `genfw export`") from None
        return cls(session, _read_spec(session, path), path)

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
            raise CodeError(f"no latent code named {name!r}", fix=f"{hint}valid codes: {', '.join(self.code_names)}") from None

    # -- codes -----------------------------------------------------------------------------------
    def sample_codes(self, n: int, seed: int | None = None, **fixed: Any) -> dict[str, np.ndarray]:
        """Draw ``n`` values of every code from its prior, ``{name: float32 [n, dim]}``.

        Draws use ``numpy.random.default_rng(seed)``, one code after another in input order,
        and a fixed code is still drawn (then overwritten), so fixing ``digit`` keeps the same
        ``z`` and ``c1`` for the same seed: that is what makes style grids line up. Fixed values
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
        rng = np.random.default_rng(seed)
        out = {}
        for spec in self.codes:
            name = spec["name"]
            kind = (spec.get("prior") or {}).get("kind")
            if kind not in PRIOR_KINDS:
                if name not in fixed:
                    raise CodeError(f"code {name!r} has a prior of kind {kind!r} that genfw.runtime cannot sample",
                                    fix=f"pass its values explicitly, e.g. {name}=<[n, {spec['dim']}] array>")
                drawn = None
            else:
                drawn = _draw(spec, n, rng)
            out[name] = self.code_values(name, fixed[name], n) if name in fixed else drawn
        return out

    def code_values(self, name: str, value: Any, n: int) -> np.ndarray:
        """``value`` for code ``name`` as the model input, float32 ``[n, dim]`` (see :meth:`sample_codes`)."""
        spec = self.code(name)
        if spec.get("prior", {}).get("kind") == "categorical" or spec.get("type") == "categorical" or "k" in spec:
            return _categorical_values(spec, value, n)
        return _continuous_values(spec, value, n)

    # -- images ----------------------------------------------------------------------------------
    def generate(self, n: int | None = None, seed: int | None = None, codes: Mapping[str, Any] | None = None,
                 dtype: str = "float32", batch_size: int = 256, **fixed: Any) -> Batch:
        """Images ``[n, C, H, W]`` and the codes that made them.

        ``codes`` gives values for some or all codes (e.g. from :meth:`sample_codes`), the
        keyword arguments fix codes by value (they win over ``codes``), and the rest are drawn
        with ``seed``. ``n`` defaults to the batch size of ``codes``, else 1. ``dtype="uint8"``
        returns 0..255 pixels. Runs in chunks of ``batch_size`` to bound memory.
        """
        given = dict(codes or {})
        for name in given:
            self.code(name)
        if n is None:
            sizes = {np.asarray(v).shape[0] for v in given.values() if np.ndim(v) == 2}
            if len(sizes) > 1:
                raise CodeError(f"the given codes have different batch sizes {sorted(sizes)}", fix="give every code the same first dimension")
            n = sizes.pop() if sizes else 1
        values = self._sample(n, seed, {**given, **fixed})
        images = self.run(values, batch_size=batch_size)
        if dtype == "uint8":
            images = to_uint8(images)
        elif dtype != "float32":
            raise CodeError(f"dtype must be 'float32' or 'uint8', not {dtype!r}")
        return Batch(images, values)

    def traverse(self, code_name: str, steps: int | None = None, seed: int | None = None, values: Iterable[Any] | None = None,
                 dtype: str = "float32", **fixed: Any) -> Batch:
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

    def run(self, codes: Mapping[str, np.ndarray], batch_size: int = 256) -> np.ndarray:
        """Run the model on complete codes ``{name: float32 [n, dim]}``: float32 images ``[n, C, H, W]``."""
        feed = {c["name"]: np.ascontiguousarray(codes[c["name"]], dtype=np.float32) for c in self.codes}
        n = next(iter(feed.values())).shape[0]
        chunks = [self.session.run([OUTPUT_NAME], {k: v[i:i + batch_size] for k, v in feed.items()})[0]
                  for i in range(0, n, max(1, int(batch_size)))]
        return np.concatenate(chunks, axis=0) if chunks else np.zeros((0, *self.image_shape), np.float32)

    # -- helpers ---------------------------------------------------------------------------------
    def _default_sweep(self, spec: dict[str, Any], steps: int | None) -> list[Any]:
        if "k" in spec or spec.get("prior", {}).get("kind") == "categorical":
            k = int(spec.get("k", spec["dim"]))
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
            raise CodeError(f"code {spec['name']!r} (prior {prior.get('kind')!r}) has no default sweep", fix="pass values=[...]")
        return [low + (high - low) * t for t in np.linspace(0.0, 1.0, steps)]

    @staticmethod
    def _check_n(n: Any, what: str = "the number of samples") -> int:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise CodeError(f"{what} must be a positive integer, not {n!r}")
        return int(n)

    def __repr__(self) -> str:
        codes = ", ".join(f"{c['name']}[{c['dim']}]" for c in self.codes)
        return f"Generator({str(self.path)!r}, codes=({codes}), image_shape={self.image_shape})"


# -- priors and values -----------------------------------------------------------------------------
FLOAT32_MAX = float(np.finfo(np.float32).max)


def _finite(x: Any) -> bool:
    try:
        return bool(np.all(np.isfinite(np.asarray(x, np.float64))))
    except (TypeError, ValueError):
        return False


def _prior_problem(spec: dict[str, Any]) -> str | None:
    """What is wrong with a code's prior as metadata states it, or None (unknown kinds are left
    to the caller: their values must be given)."""
    prior, dim = spec.get("prior"), spec["dim"]
    if not isinstance(prior, dict):
        return "it is not an object"
    kind = prior.get("kind")
    if kind == "categorical":
        probs = prior.get("probs")
        if probs is not None:
            if not isinstance(probs, list) or len(probs) != dim or not _finite(probs) or min(probs) < 0 or sum(probs) <= 0:
                return f"probs must be {dim} non-negative numbers with a positive sum"
    elif kind == "normal":
        if not (_finite(prior.get("mean", 0.0)) and _finite(prior.get("std", 1.0)) and np.all(np.asarray(prior.get("std", 1.0), float) >= 0)):
            return "mean and std must be finite, std >= 0"
    elif kind == "uniform":
        low, high = prior.get("low", -1.0), prior.get("high", 1.0)
        if not (_finite(low) and _finite(high) and np.all(np.asarray(low, float) <= np.asarray(high, float))):
            return "low and high must be finite, low <= high"
    elif kind == "bernoulli":
        p = prior.get("p", 0.5)
        if not (_finite(p) and np.all((np.asarray(p, float) >= 0) & (np.asarray(p, float) <= 1))):
            return "p must be in [0, 1]"
    return None


def _is_range(r: Any) -> bool:
    """A spec's suggested range: two finite numbers, low < high."""
    return isinstance(r, (list, tuple)) and len(r) == 2 and _finite(r) and float(r[0]) < float(r[1])


def _draw(spec: dict[str, Any], n: int, rng: np.random.Generator) -> np.ndarray:
    prior, dim = spec["prior"], spec["dim"]
    kind = prior["kind"]
    if kind == "normal":
        x = np.asarray(prior.get("mean", 0.0)) + np.asarray(prior.get("std", 1.0)) * rng.standard_normal((n, dim))
    elif kind == "uniform":
        x = rng.uniform(np.asarray(prior.get("low", -1.0)), np.asarray(prior.get("high", 1.0)), (n, dim))
    elif kind == "bernoulli":
        x = rng.random((n, dim)) < np.asarray(prior.get("p", 0.5))
    elif kind == "categorical":  # one-hot
        probs = np.asarray(prior.get("probs") or [1.0 / dim] * dim, np.float64)
        x = np.eye(dim)[rng.choice(dim, size=n, p=probs / probs.sum())]
    else:  # never drawn as something else: a kind this runtime does not know needs explicit values
        raise CodeError(f"code {spec['name']!r} has a prior of kind {kind!r} that genfw.runtime cannot sample",
                        fix=f"pass its values explicitly, e.g. {spec['name']}=<[n, {dim}] array>")
    return np.asarray(x, np.float32)


def _categorical_values(spec: dict[str, Any], value: Any, n: int) -> np.ndarray:
    name, k = spec["name"], int(spec.get("k", spec["dim"]))
    labels = [str(x) for x in spec.get("labels") or range(k)]
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        value = int(value)  # 3.0 is category 3
    if np.ndim(value) == 0 and not isinstance(value, (str, int, np.integer)) or isinstance(value, bool):
        i = min(3, k - 1)
        example = f"{name}={i}" + (f" or {name}={labels[i]}" if labels[i] != str(i) else "")
        raise CodeError(f"code {name!r} takes a category index 0..{k - 1}, a label or a length-{k} vector, not {value!r}",
                        fix=f"e.g. {example}")
    if isinstance(value, (str, int, np.integer)):
        if isinstance(value, str):
            if value in labels:
                index = labels.index(value)
            else:
                try:
                    index = int(value)
                except ValueError:
                    raise CodeError(f"code {name!r} has no category {value!r}",
                                    fix=f"use an index 0..{k - 1} or a label: {', '.join(labels)}") from None
        else:
            index = int(value)
        if not 0 <= index < k:
            raise CodeError(f"category {index} is out of range for code {name!r}", fix=f"valid range: 0..{k - 1}")
        return np.repeat(np.eye(k, dtype=np.float32)[index][None], n, axis=0)
    return _array_values(spec, value, n, what="a category index, a label, or a one-hot/probability vector")


def _continuous_values(spec: dict[str, Any], value: Any, n: int) -> np.ndarray:
    if np.ndim(value) == 0 and not isinstance(value, bool):
        try:
            value = float(value)  # also "0.5", "inf" as a command line gives them
        except (TypeError, ValueError):
            raise CodeError(f"code {spec['name']!r} needs a number, a vector or an array, not {value!r}"[:200],
                            fix=f"e.g. {spec['name']}=0.5") from None
        if not np.isfinite(value) or abs(value) > FLOAT32_MAX:
            raise CodeError(f"code {spec['name']!r} has a value {value:g} that is not a finite float32 number",
                            fix="give a finite number within +-3.4e38")
        return np.full((n, spec["dim"]), value, np.float32)
    if np.ndim(value) == 1 and not isinstance(value, str):
        # A vector's meaning depends on its length: 1 (a number for every dimension and sample),
        # dim (one sample's parameters, for every sample) or, for a dim-1 code, n (a value per
        # sample). Any other length is refused, never broadcast.
        length, dim = len(value), spec["dim"]
        if length == 1 and dim != 1:
            value = [value[0]] * dim
        elif dim == 1 and length == n:
            value = np.asarray(value).reshape(n, 1)
        elif length != dim:
            if dim == 1:
                fix = f"give a number, or {n} numbers (one per sample)" if n > 1 else "give a number"
            else:
                fix = f"give a number, a vector of length {dim} or an [n, {dim}] array"
            angle = (f"; {spec['name']!r} is an angle in radians, the model computes its cos and sin itself"
                     if spec.get("periodic") else "")
            raise CodeError(f"code {spec['name']!r} has dim {dim}: got a vector of length {length}{angle}", fix=fix)
    return _array_values(spec, value, n, what="a number (for every dimension), a vector or an array")


def _array_values(spec: dict[str, Any], value: Any, n: int, what: str) -> np.ndarray:
    name, dim = spec["name"], spec["dim"]
    try:
        arr = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        raise CodeError(f"code {name!r} needs {what}, not {value!r}"[:200]) from None
    if arr.shape == (dim,):
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != dim or arr.shape[0] not in (1, n):
        raise CodeError(f"code {name!r} has dim {dim}: got shape {list(arr.shape)}", fix=f"give {what}: [{dim}], [1, {dim}] or [{n}, {dim}]")
    if not np.all(np.isfinite(arr)):
        raise CodeError(f"code {name!r} has non-finite values (or values beyond the float32 range, +-3.4e38)",
                        fix="give finite numbers")
    return np.ascontiguousarray(np.broadcast_to(arr, (n, dim)), dtype=np.float32)


# -- saving ----------------------------------------------------------------------------------------
def to_uint8(images: np.ndarray) -> np.ndarray:
    """[0, 1] floats to 0..255 bytes (rounded, clipped)."""
    if images.dtype == np.uint8:
        return images
    return (np.clip(images, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def grid(images: np.ndarray, nrow: int = 8, padding: int = 2) -> np.ndarray:
    """Tile ``[n, C, H, W]`` images into one ``[H', W', C]`` uint8 array, ``nrow`` per row."""
    if isinstance(nrow, bool) or not isinstance(nrow, (int, np.integer)) or nrow < 1 or padding < 0:
        raise CodeError(f"nrow must be a positive integer and padding >= 0, not nrow={nrow!r}, padding={padding!r}")
    images = to_uint8(np.asarray(images))
    if images.ndim != 4 or images.shape[1] not in (1, 3, 4):
        raise CodeError(f"images must be [n, C, H, W] with C in 1, 3, 4: got shape {list(images.shape)}")
    n, c, h, w = images.shape
    cols = max(1, min(int(nrow), n))
    rows = -(-n // cols)
    out = np.zeros((rows * (h + padding) + padding, cols * (w + padding) + padding, c), np.uint8)
    for i in range(n):
        y, x = padding + (i // cols) * (h + padding), padding + (i % cols) * (w + padding)
        out[y:y + h, x:x + w] = images[i].transpose(1, 2, 0)
    return out


def save_grid(images: np.ndarray, path: str | os.PathLike, nrow: int = 8, padding: int = 2) -> Path:
    """Save images ``[n, C, H, W]`` (float [0, 1] or uint8) as one PNG grid, ``nrow`` per row."""
    from PIL import Image

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise CodeError(f"a grid is saved as PNG, not {path.suffix or '(no suffix)'!r}", where=str(path), fix="name the file *.png")
    tiles = grid(images, nrow, padding)
    image = Image.fromarray(tiles[..., 0] if tiles.shape[2] == 1 else tiles)
    _atomic_write(path, lambda tmp: image.save(tmp, format="PNG"))
    return path


def save_h5(images: np.ndarray, codes: Mapping[str, np.ndarray], path: str | os.PathLike,
            latent_spec: Mapping[str, Any] | None = None, image_spec: Mapping[str, Any] | None = None,
            version: str | None = None) -> Path:
    """Save ``images`` as uint8 ``[n, C, H, W]`` and each code as float32 ``codes/<name>`` ``[n, dim]`` to HDF5.

    The specs, when given, are stored as file attributes under the same keys as the ONNX
    metadata, all JSON text: ``genfw.latent``, ``genfw.image`` and ``genfw.version`` (files
    from before genfw 0.2 hold the version as plain text; :func:`parse_version` reads both).

    The file is built in memory (HDF5's in-memory driver) and written with one atomic write:
    the HDF5 library never touches the disk, so a full disk is one clear error, never a crash
    inside it, and never a half-written file.
    """
    import h5py

    path = Path(path)
    pixels = to_uint8(np.asarray(images))
    arrays = {name: np.asarray(value, np.float32) for name, value in codes.items()}
    check_space(path, pixels.nbytes + sum(a.nbytes for a in arrays.values()) + (1 << 20))  # before any work
    attrs = {META_LATENT: latent_spec, META_IMAGE: image_spec}
    with h5py.File(f"genfw-{id(pixels)}.h5", "w", driver="core", backing_store=False) as f:
        f.create_dataset("images", data=pixels, compression="gzip")
        group = f.create_group("codes")
        for name, value in arrays.items():
            group.create_dataset(name, data=value)
        for key, doc in attrs.items():
            if doc is not None:
                f.attrs[key] = json.dumps(doc)
        if version is not None:
            f.attrs[META_VERSION] = json.dumps(version)  # JSON like the other attributes; read with parse_version
        f.flush()
        data = f.id.get_file_image()
    atomic_write_bytes(path, data)
    return path


Generator.save_grid = staticmethod(save_grid)  # type: ignore[attr-defined]
