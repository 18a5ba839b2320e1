"""The file side of the ONNX contract: reading a generator's (or an encoder's) spec from the
model's own metadata or its sidecar (``generator.json``, ``encoder.json``), telling the two kinds
of file apart, and verifying the pair (the sidecar records the file's SHA-256 and says what the
metadata says) before a file is run."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnxruntime as ort

from genfw.export.contract import (
    KIND_ENCODER,
    KIND_GENERATOR,
    MAX_SIDECAR_BYTES,
    META_EXPORT,
    META_IMAGE,
    META_KIND,
    META_LATENT,
    META_OUTPUTS,
    META_SPEC_VERSION,
    META_VERSION,
    OUTPUT_NAME,
    PAIRED_KEYS,
    SPEC_VERSION,
    input_names,
    sidecar_path,
    spec_version_problem,
)
from genfw.runtime.errors import GeneratorFileError, UnverifiedError


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
    return {
        "latent": doc[META_LATENT],
        "image": doc[META_IMAGE],
        "version": parse_version(meta.get(META_VERSION)),
        "export": _json_or_text(meta, META_EXPORT),
        "spec_version": parse_version(meta.get(META_SPEC_VERSION)),
        "kind": _json_or_text(meta, META_KIND),  # None: a generator (files from before encoders)
        "outputs": _json_or_text(meta, META_OUTPUTS),
    }


def _json_or_text(meta: dict[str, str], key: str) -> Any:
    """A metadata value as JSON, kept as text when it is not JSON (it must still equal the sidecar's); None when absent."""
    if key not in meta:
        return None
    try:
        return json.loads(meta[key])
    except json.JSONDecodeError:
        return meta[key]


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
            "kind": sidecar.get("kind"),
            "outputs": sidecar.get("outputs"),
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


#: What to load each kind of file with, for the line that refuses the other kind.
LOADERS = {KIND_GENERATOR: "genfw.runtime.Generator.load", KIND_ENCODER: "genfw.runtime.Encoder.load"}


def check_kind(spec: dict[str, Any], path: Path, wanted: str) -> None:
    """Refuse a file of another kind than ``wanted`` (an encoder loaded as a generator, or the
    reverse) in one line; a spec that names no kind is a generator's."""
    kind = spec.get("kind") or KIND_GENERATOR
    if kind != wanted:
        loader = LOADERS.get(kind)
        raise GeneratorFileError(
            f"it is a genfw {kind if loader else _short(kind)}, not {_article(wanted)} {wanted}",
            where=str(path),
            fix=f"load it with {loader}" if loader else f"pass a {wanted} file written by `genfw export`",
        )


class ExportedFile:
    """What a loaded :class:`~genfw.runtime.generator.Generator` and
    :class:`~genfw.runtime.encoder.Encoder` share: the onnxruntime ``session``, the ``path`` it was
    read from, the genfw ``version`` and ``spec_version`` that wrote it (None for files from
    before versioning: legacy 1.x), how it was exported (``export``: weights format, tolerance;
    None before genfw 0.2), and its ``sha256`` once it was verified against its sidecar."""

    def __init__(self, session: ort.InferenceSession, spec: dict[str, Any], path: Path):
        self.session = session
        self.path = path
        self.version = spec.get("version")
        self.spec_version: str | None = spec.get("spec_version")
        self.export: dict[str, Any] | None = spec.get("export") if isinstance(spec.get("export"), dict) else None
        self.sha256: str | None = None  # set by load once the file is verified against its sidecar

    @property
    def verified(self) -> bool:
        """Whether the file was checked against its sidecar (hash and spec) when it was loaded."""
        return self.sha256 is not None


@dataclass(frozen=True)
class OpenedFile:
    """An exported file's onnxruntime session and what it says of itself: its ``spec`` (from its
    metadata or sidecar, ``source`` saying which), and the ``sidecar`` (None, ``why`` saying why)
    that :func:`_verify_pair` checks it against."""

    session: ort.InferenceSession
    spec: dict[str, Any]
    source: str
    sidecar: dict[str, Any] | None
    why: str


def open_model_file(
    path: Path,
    *,
    kind: str,
    fix: str,
    threads: int | None,
    providers: Iterable[str],
    spin: bool = False,
) -> OpenedFile:
    """Open ``path`` (an exported file of ``kind``) in an onnxruntime session and read its spec,
    shared by :class:`~genfw.runtime.generator.Generator` and :class:`~genfw.runtime.encoder.Encoder`.
    A missing or unloadable file, a spec version this genfw cannot read, and a file of another
    kind are each refused in one line, ``fix`` telling where a right file comes from."""
    if not path.is_file():
        raise GeneratorFileError("file not found", where=str(path), fix=fix)
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # Busy-waiting threads fight other processes for the cores on a shared machine (see Generator.load).
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    options.log_severity_level = 3  # errors only: warnings about unused initialisers are noise here
    try:
        session = ort.InferenceSession(str(path), options, providers=list(providers))
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        raise GeneratorFileError(
            f"not a loadable ONNX model ({type(exc).__name__}: {first[:160]})", where=str(path), fix=fix
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
    check_kind(spec, path, kind)  # an encoder.onnx passed as a generator (or the reverse): say so
    return OpenedFile(session, spec, source, sidecar, why)


def _verify_pair(
    path: Path,
    spec: dict[str, Any],
    sidecar: dict[str, Any] | None,
    why: str,
    names: dict[str, Any] | None = None,
) -> str:
    """The .onnx file's SHA-256, once it is the file its sidecar was written for and the sidecar
    says what ``spec`` (the model's own metadata, where it has some) says; a file that cannot be
    checked is refused. ``names``: the sidecar's fields that name the model's inputs and outputs,
    with their values (default: a generator's ``inputs`` and ``output``, which sidecars from
    before genfw 0.2 may lack)."""
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
    if names is None:
        names = {"inputs": input_names(spec["latent"]), "output": OUTPUT_NAME}
        named = {key: sidecar.get(key, value) for key, value in names.items()}
    else:
        named = {key: sidecar.get(key) for key in names}
    expected = {**{key: spec.get(key) for key in PAIRED_KEYS}, **names}
    given = {
        **{key: sidecar.get(key) for key in PAIRED_KEYS},
        "version": parse_version(sidecar.get("version")),
        **named,
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


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"
