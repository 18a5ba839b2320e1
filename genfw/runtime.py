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
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import onnxruntime as ort

from genfw.atomic import atomic_write_bytes, atomic_write_via, check_space
from genfw.errors import GenfwUsageError  # torch-free (genfw/__init__ and genfw.errors import no torch)
from genfw.export.contract import (
    MAX_SIDECAR_BYTES,
    META_EXPORT,
    META_IMAGE,
    META_LATENT,
    META_SPEC_VERSION,
    META_VERSION,
    MODEL_FILE,
    OUTPUT_NAME,
    PAIRED_KEYS,
    SPEC_VERSION,
    input_names,
    sidecar_path,
    spec_version_problem,
)
from genfw.export.seeds import check_seed, draw_prior

PRIOR_KINDS = ("normal", "uniform", "categorical", "bernoulli")
#: The pixel types :meth:`Generator.generate` returns.
IMAGE_DTYPES = {"float32": np.float32, "uint8": np.uint8}
#: How far from 1 a probability vector given for a categorical code may sum (typed by hand: 0.333 x 3).
PROBABILITY_SUM_TOLERANCE = 0.01


class RuntimeUsageError(GenfwUsageError, ValueError):
    """A bad argument or file given to the runtime: one line, and a ValueError for plain Python callers."""


class GeneratorFileError(RuntimeUsageError):
    """The file is missing, not ONNX, or an ONNX model that is not a genfw generator."""


class CodeError(RuntimeUsageError):
    """A code name, value, category or shape that does not fit the generator's latent spec."""


class MemoryNeedError(RuntimeUsageError):
    """A request for more images than the memory this process has left can hold."""


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


def verify_fix(unverified: str = "load it with verify=False") -> str:
    """What to do about a file that cannot be verified; ``unverified`` says how to run it anyway
    (``genfw sample`` says --no-verify)."""
    return f"keep the .json exported with it next to it, or re-export both with `genfw export`; to run it unverified, {unverified}"


class UnverifiedError(GeneratorFileError):
    """The file cannot be checked against its sidecar (none, unreadable, or without a SHA-256)."""


#: Where a model's sidecar is (kept under its old name for callers of genfw.runtime).
sidecar_of = sidecar_path


def _read_sidecar(path: Path) -> tuple[dict[str, Any] | None, str]:
    """The genfw sidecar next to ``path``, or None and what is wrong with it (``"is missing"``,
    ``"is not valid JSON (...)"``, ...): an app may keep its own ``model.json`` next to ``model.onnx``."""
    sidecar = sidecar_of(path)
    if not sidecar.is_file():
        return None, "is missing"
    try:
        if sidecar.stat().st_size > MAX_SIDECAR_BYTES:
            return None, f"is {sidecar.stat().st_size / 1e6:.0f} MB, too large for a sidecar"
        doc = json.loads(sidecar.read_text(encoding="utf-8"))
    except OSError as exc:
        return None, f"cannot be read ({exc.strerror})"
    except UnicodeDecodeError:
        return None, "is not UTF-8 text"
    except json.JSONDecodeError as exc:
        return None, f"is not valid JSON ({exc.msg} at char {exc.pos})"
    if not isinstance(doc, dict) or not {"latent", "image"} <= set(doc):
        return None, "is not a genfw sidecar (it has no latent and image)"
    return doc, ""


def _read_metadata(session: ort.InferenceSession, path: Path) -> dict[str, Any] | None:
    """The spec the model states in its metadata_props, or None when it states none (then the
    sidecar is all there is: what onnxruntime-web apps use)."""
    meta = session.get_modelmeta().custom_metadata_map
    if META_LATENT not in meta and META_IMAGE not in meta:
        return None
    # The file claims to be a genfw generator: say exactly what is wrong with its metadata.
    doc = {}
    for key in (META_LATENT, META_IMAGE):
        if key not in meta:
            raise GeneratorFileError(
                f"it has no {key} metadata (a genfw generator has both {META_LATENT} and {META_IMAGE})",
                where=str(path),
                fix="re-export it with `genfw export`",
            )
        try:
            doc[key] = json.loads(meta[key])
        except json.JSONDecodeError as exc:
            raise GeneratorFileError(
                f"its {key} metadata is not valid JSON ({exc.msg} at char {exc.pos})",
                where=str(path),
                fix="re-export it with `genfw export`",
            ) from None
    try:
        export = json.loads(meta[META_EXPORT]) if META_EXPORT in meta else None
    except json.JSONDecodeError:
        export = meta[META_EXPORT]  # kept as text: it must still equal the sidecar's
    return {
        "latent": doc[META_LATENT],
        "image": doc[META_IMAGE],
        "version": parse_version(meta.get(META_VERSION)),
        "export": export,
        "spec_version": parse_version(meta.get(META_SPEC_VERSION)),
    }


def _spec_source(
    path: Path, meta: dict[str, Any] | None, sidecar: dict[str, Any] | None, why: str
) -> tuple[dict[str, Any], str]:
    """The spec to run the model with and where it comes from: the model's own metadata, else the sidecar."""
    if meta is not None:
        return meta, "metadata"
    if sidecar is not None:
        return {
            **{key: sidecar.get(key) for key in PAIRED_KEYS},
            "version": parse_version(sidecar.get("version")),
        }, f"sidecar {sidecar_of(path).name}"
    if why != "is missing":
        raise GeneratorFileError(
            f"not a genfw generator: it has no {META_LATENT} metadata and its sidecar {why}",
            where=str(sidecar_of(path)),
            fix="re-export it with `genfw export`",
        )
    raise GeneratorFileError(
        f"not a genfw generator (no {META_LATENT} metadata and no sidecar {sidecar_of(path).name})",
        where=str(path),
        fix="export one with `genfw export RUN_DIR`",
    )


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def first_difference(ours: Any, theirs: Any, where: str) -> str | None:
    """The JSON path of the first place two JSON documents differ (with both values), or None."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        for key in sorted(set(ours) | set(theirs), key=str):
            found = first_difference(ours.get(key), theirs.get(key), f"{where}.{key}")
            if found:
                return found
        return None
    if isinstance(ours, list) and isinstance(theirs, list) and len(ours) == len(theirs):
        return next(
            (found for i, (a, b) in enumerate(zip(ours, theirs)) if (found := first_difference(a, b, f"{where}[{i}]"))),
            None,
        )
    same = ours == theirs and (type(ours) is type(theirs) or {type(ours), type(theirs)} <= {int, float})
    return None if same else f"{where} ({_short(ours)} in the model, {_short(theirs)} in the sidecar)"


def _verify_pair(path: Path, spec: dict[str, Any], sidecar: dict[str, Any] | None, why: str) -> str:
    """The .onnx file's SHA-256, once it is the file its sidecar was written for and the sidecar
    says what ``spec`` (the model's own metadata, where it has some) says; a file that cannot be
    checked is refused."""
    name = sidecar_of(path).name
    if sidecar is None:
        raise UnverifiedError(f"cannot verify it: its sidecar {name} {why}", where=str(path), fix=verify_fix())
    recorded = sidecar.get("sha256")
    if not isinstance(recorded, str) or not recorded:
        raise UnverifiedError(
            f"cannot verify it: its sidecar {name} records no SHA-256 (written before genfw 0.2, or edited)",
            where=str(path),
            fix=verify_fix(),
        )
    digest = file_sha256(path)
    if recorded.lower() != digest:
        raise GeneratorFileError(
            f"its sidecar {name} was written for another file (SHA-256 {recorded[:12]}..., this file {digest[:12]}...)",
            where=str(path),
            fix="keep each .onnx with the .json exported with it, or re-export both with `genfw export`",
        )
    expected = {
        **{key: spec.get(key) for key in PAIRED_KEYS},
        "inputs": input_names(spec["latent"]),
        "output": OUTPUT_NAME,
    }
    given = {
        **{key: sidecar.get(key) for key in PAIRED_KEYS},
        "version": parse_version(sidecar.get("version")),
        "inputs": sidecar.get("inputs", expected["inputs"]),
        "output": sidecar.get("output", OUTPUT_NAME),
    }
    difference = first_difference(expected, given, "")
    if difference:
        raise GeneratorFileError(
            f"its sidecar does not match the model's own metadata at {difference.lstrip('.')}",
            where=str(sidecar_of(path)),
            fix=f"a sidecar is never edited by hand: copy the {name} exported with {path.name}, "
            "or re-export both with `genfw export`",
        )
    return digest


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def check_threads(threads: Any, option: str = "threads") -> int | None:
    """``threads`` as onnxruntime takes it: None (its choice) or 1..the usable CPUs (more only
    makes threads wait for each other, and onnxruntime fails on numbers beyond a C int)."""
    if threads is None:
        return None
    top = usable_cpus()
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or not 1 <= threads <= top:
        raise RuntimeUsageError(
            f"{option} must be an integer from 1 to {top} (the CPUs this process may use), not {threads!r}",
            fix=f"e.g. {option}{'=' if option == 'threads' else ' '}{top}",
        )
    return int(threads)


class Generator:
    """An exported genfw generator, loaded into an onnxruntime session.

    ``codes`` lists the latent code specs (``name``, ``type``, ``dim``, ``role``, ``prior``,
    ``range``; categorical codes also ``k`` and ``labels``) in input order; ``image_shape`` is
    ``(C, H, W)``; ``export`` how the file was exported (weights format, verification tolerance;
    None for files from before genfw 0.2); ``sha256`` the file's hash once it was verified against
    its sidecar (None when loaded with ``verify=False``), ``verified`` whether it was.
    """

    def __init__(self, session: ort.InferenceSession, spec: dict[str, Any], path: Path, source: str = "metadata"):
        self.session = session
        self.path = path
        self.version = spec.get("version")
        #: The generator spec the file follows (``"1.0.0"``); None for files from before versioning (legacy 1.x).
        self.spec_version: str | None = spec.get("spec_version")
        self.export: dict[str, Any] | None = spec.get("export") if isinstance(spec.get("export"), dict) else None
        self.sha256: str | None = None  # set by load once the file is verified against its sidecar
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

    @property
    def verified(self) -> bool:
        """Whether the file was checked against its sidecar (hash and spec) when it was loaded."""
        return self.sha256 is not None

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
        if not path.is_file():
            raise GeneratorFileError(
                "file not found", where=str(path), fix="pass an .onnx file written by `genfw export`"
            )
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
        options.log_severity_level = 3  # errors only: warnings about unused initialisers are noise here
        try:
            session = ort.InferenceSession(str(path), options, providers=list(providers))
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [""])[0]
            raise GeneratorFileError(
                f"not a loadable ONNX model ({type(exc).__name__}: {first[:160]})",
                where=str(path),
                fix="pass an .onnx file written by `genfw export`",
            ) from None
        meta = _read_metadata(session, path)
        sidecar, why = _read_sidecar(path)
        spec, source = _spec_source(path, meta, sidecar, why)
        problem = spec_version_problem(spec.get("spec_version"))  # before anything else of a spec it may not understand
        if problem:
            raise GeneratorFileError(
                problem,
                where=str(path),
                fix=f"upgrade genfw to read it, or export it with a genfw that writes spec {SPEC_VERSION}",
            )
        generator = cls(session, spec, path, source)  # a spec that does not fit the model is refused first
        if verify:
            generator.sha256 = _verify_pair(path, spec, sidecar, why)
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


# -- memory ----------------------------------------------------------------------------------------
def _read_kib(path: str, field: str) -> int | None:
    """A ``Field:  123 kB`` value of a /proc file, in bytes."""
    try:
        with open(path, encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None  # also "max": no limit


def _cgroup_free() -> int | None:
    """What the process's cgroup (v2) may still use: memory.max less memory.current."""
    try:
        line = next(x for x in Path("/proc/self/cgroup").read_text().splitlines() if x.startswith("0::"))
    except (OSError, StopIteration):
        return None
    folder = Path("/sys/fs/cgroup") / line[3:].lstrip("/")
    limit, used = _read_int(folder / "memory.max"), _read_int(folder / "memory.current")
    return None if limit is None or used is None else max(0, limit - used)


def _address_space_free() -> int | None:
    """What ``ulimit -v`` (RLIMIT_AS) leaves of the address space this process has mapped."""
    try:
        import resource
    except ImportError:  # not on Unix
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    mapped = _read_kib("/proc/self/status", "VmSize")
    if soft == resource.RLIM_INFINITY or mapped is None:
        return None
    return max(0, soft - mapped)


def available_memory() -> int | None:
    """Bytes this process can still allocate as far as the system says: the least of the
    memory available (/proc/meminfo), what its cgroup's limit leaves and what its address-space
    limit leaves; None where none of them is known (not Linux)."""
    known = [
        x for x in (_read_kib("/proc/meminfo", "MemAvailable"), _cgroup_free(), _address_space_free()) if x is not None
    ]
    return min(known) if known else None


def size_text(n: int) -> str:
    """Bytes as people read them: 1.9 GB, 14.6 EB."""
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if n < 1000:
            return f"{n:.3g} {unit}" if unit != "B" else f"{n} B"
        n /= 1000
    return f"{n:,.1f} EB"


def check_memory(needed: int, what: str, fix: str) -> None:
    """Refuse, before any work, something that would need more memory than is left."""
    available = available_memory()
    if available is not None and needed > available:
        raise MemoryNeedError(
            f"{what} would take {size_text(needed)} of memory, and {size_text(available)} is available", fix=fix
        )


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
    if kind in PRIOR_KINDS and any(np.ndim(prior.get(field, 0.0)) for field in ("low", "high", "mean", "std", "p")):
        return "low, high, mean, std and p are numbers (the same for every dimension)"
    if kind == "categorical":
        probs = prior.get("probs")
        if probs is not None and (
            not isinstance(probs, list) or len(probs) != dim or not _finite(probs) or min(probs) < 0 or sum(probs) <= 0
        ):
            return f"probs must be {dim} non-negative numbers with a positive sum"
    elif kind == "normal":
        if not (
            _finite(prior.get("mean", 0.0))
            and _finite(prior.get("std", 1.0))
            and np.all(np.asarray(prior.get("std", 1.0), float) >= 0)
        ):
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


def _positive_int(value: Any) -> int:
    """A size a spec states: a whole number >= 1 (JSON may write it as 10 or 10.0)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value < 1:
        raise ValueError(value)
    return int(value)


def _shape_text(shape: list[Any]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def _is_categorical(spec: dict[str, Any]) -> bool:
    """Whether a code takes categories (an index, a label, a probability vector)."""
    prior = spec.get("prior")
    return (
        (isinstance(prior, dict) and prior.get("kind") == "categorical")
        or spec.get("type") == "categorical"
        or "k" in spec
    )


def _dim_problem(spec: dict[str, Any], shape: list[Any]) -> str | None:
    """The code's width against the model's input ``[batch, dim]``."""
    if len(shape) != 2:
        return f"the model's input {spec['name']!r} has shape {_shape_text(shape)}, not [batch, dim]"
    if isinstance(shape[1], int) and shape[1] != spec["dim"]:
        return f"it says {spec['dim']} but the model's input {spec['name']!r} is [batch, {shape[1]}]"
    return None


def _k_problem(spec: dict[str, Any], shape: list[Any]) -> str | None:
    """A categorical code has one input per category: k = dim."""
    if not _is_categorical(spec):
        return None
    k = spec.get("k", spec["dim"])
    if isinstance(k, bool) or not isinstance(k, (int, float)) or k != spec["dim"]:
        return f"k = {_short(k)} but the model takes {spec['dim']} numbers for it (one per category)"
    return None


def _labels_problem(spec: dict[str, Any], shape: list[Any]) -> str | None:
    """One label (and one ``classes`` entry) per category: they become the page's buttons."""
    if not _is_categorical(spec):
        return None
    for key in ("labels", "classes"):
        value = spec.get(key)
        if value is not None and (not isinstance(value, list) or len(value) != spec["dim"]):
            count = f"{len(value)} entries" if isinstance(value, list) else _short(value)
            return f"{key} has {count} for {spec['dim']} categories"
    if not all(isinstance(label, str) for label in spec.get("labels") or []):
        return "labels must be text"
    return None


def _range_problem(spec: dict[str, Any], shape: list[Any]) -> str | None:
    """A slider's range: two finite numbers, low < high."""
    if "range" not in spec or _is_range(spec["range"]):
        return None
    return f"{_short(spec['range'])} is not [low, high] with finite low < high"


#: What each code of a spec must satisfy to fit the model it came with, in the order reported.
CODE_CHECKS = (
    ("dim", _dim_problem),
    ("prior", lambda spec, shape: _prior_problem(spec)),
    ("k", _k_problem),
    ("label list", _labels_problem),
    ("range", _range_problem),
)


def _draw(spec: dict[str, Any], n: int, seed: int, position: int) -> np.ndarray:
    """``n`` draws of a code from its prior with the portable generator (genfw.export.seeds)."""
    if (spec.get("prior") or {}).get("kind") not in PRIOR_KINDS:  # never drawn as something else: give its values
        raise CodeError(
            f"code {spec['name']!r} has a prior of kind {(spec.get('prior') or {}).get('kind')!r} that "
            "genfw.runtime cannot sample",
            fix=f"pass its values explicitly, e.g. {spec['name']}=<[n, {spec['dim']}] array>",
        )
    return draw_prior(spec["prior"], spec["dim"], n, seed, position)


def _categorical_values(spec: dict[str, Any], value: Any, n: int) -> np.ndarray:
    name, k = spec["name"], int(spec.get("k", spec["dim"]))
    labels = [str(x) for x in spec.get("labels") or range(k)]
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        value = int(value)  # 3.0 is category 3
    if (np.ndim(value) == 0 and not isinstance(value, (str, int, np.integer))) or isinstance(value, bool):
        i = min(3, k - 1)
        example = f"{name}={i}" + (f" or {name}={labels[i]}" if labels[i] != str(i) else "")
        raise CodeError(
            f"code {name!r} takes a category index 0..{k - 1}, a label or a length-{k} vector, not {value!r}",
            fix=f"e.g. {example}",
        )
    if isinstance(value, (str, int, np.integer)):
        if isinstance(value, str):
            if value in labels:
                index = labels.index(value)
            else:
                try:
                    index = int(value)
                except ValueError:
                    raise CodeError(
                        f"code {name!r} has no category {value!r}",
                        fix=f"use an index 0..{k - 1} or a label: {', '.join(labels)}",
                    ) from None
        else:
            index = int(value)
        if not 0 <= index < k:
            raise CodeError(f"category {index} is out of range for code {name!r}", fix=f"valid range: 0..{k - 1}")
        return np.repeat(np.eye(k, dtype=np.float32)[index][None], n, axis=0)
    probs = _array_values(spec, value, n, what="a category index, a label, or a one-hot/probability vector")
    problem = _probability_problem(probs, per_sample=np.ndim(value) == 2 and n > 1)
    if problem:
        raise CodeError(
            f"code {name!r} takes a probability vector (k = {k} numbers >= 0 that sum to 1): {problem}",
            fix=f"e.g. {name}=3 for one category, or [0.5, 0.5, 0, ...] to blend two",
        )
    return probs


def _probability_problem(rows: np.ndarray, per_sample: bool) -> str | None:
    """What makes rows of a categorical code's values not probability vectors (finite is checked already)."""
    if (rows < 0).any():
        return f"it has a negative value ({float(rows.min()):g})"
    sums = rows.sum(axis=1, dtype=np.float64)
    worst = int(np.argmax(np.abs(sums - 1.0)))
    if abs(sums[worst] - 1.0) > PROBABILITY_SUM_TOLERANCE:
        return f"it sums to {sums[worst]:g}" + (f" (row {worst})" if per_sample else "")
    return None


def _continuous_values(spec: dict[str, Any], value: Any, n: int) -> np.ndarray:
    if np.ndim(value) == 0 and not isinstance(value, bool):
        try:
            value = float(value)  # also "0.5", "inf" as a command line gives them
        except (TypeError, ValueError):
            raise CodeError(
                f"code {spec['name']!r} needs a number, a vector or an array, not {value!r}"[:200],
                fix=f"e.g. {spec['name']}=0.5",
            ) from None
        if not np.isfinite(value) or abs(value) > FLOAT32_MAX:
            raise CodeError(
                f"code {spec['name']!r} has a value {value:g} that is not a finite float32 number",
                fix="give a finite number within +-3.4e38",
            )
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
            angle = (
                f"; {spec['name']!r} is an angle in radians, the model computes its cos and sin itself"
                if spec.get("periodic")
                else ""
            )
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
        raise CodeError(
            f"code {name!r} has dim {dim}: got shape {list(arr.shape)}",
            fix=f"give {what}: [{dim}], [1, {dim}] or [{n}, {dim}]",
        )
    if not np.all(np.isfinite(arr)):
        raise CodeError(
            f"code {name!r} has non-finite values (or values beyond the float32 range, +-3.4e38)",
            fix="give finite numbers",
        )
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
        out[y : y + h, x : x + w] = images[i].transpose(1, 2, 0)
    return out


def save_grid(images: np.ndarray, path: str | os.PathLike, nrow: int = 8, padding: int = 2) -> Path:
    """Save images ``[n, C, H, W]`` (float [0, 1] or uint8) as one PNG grid, ``nrow`` per row."""
    from PIL import Image

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise CodeError(
            f"a grid is saved as PNG, not {path.suffix or '(no suffix)'!r}", where=str(path), fix="name the file *.png"
        )
    tiles = grid(images, nrow, padding)
    image = Image.fromarray(tiles[..., 0] if tiles.shape[2] == 1 else tiles)
    _atomic_write(path, lambda tmp: image.save(tmp, format="PNG"))
    return path


def save_h5(
    images: np.ndarray,
    codes: Mapping[str, np.ndarray],
    path: str | os.PathLike,
    latent_spec: Mapping[str, Any] | None = None,
    image_spec: Mapping[str, Any] | None = None,
    version: str | None = None,
) -> Path:
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
