"""The sidecars ``generator.json`` and ``encoder.json`` as pydantic models: their JSON Schemas are
generated from them.

This is the single definition of the sidecars' shape (docs/onnx.md describes each field):
``genfw schema --sidecar`` prints :func:`sidecar_json_schema` and ``genfw schema
--encoder-sidecar`` :func:`encoder_sidecar_json_schema`; :func:`validate_sidecar` and
:func:`validate_encoder_sidecar` check a document against the same models. Torch-free.

Objects accept fields they do not name (``extra="allow"``): a MINOR version of the spec may add
fields, and readers of an older MINOR ignore them. A prior of a kind this spec does not name is
valid too (apps must then be given its values): :class:`OtherPrior` takes any kind but the four
named ones, so a named kind is always checked against its own fields.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, TypeAdapter, ValidationError

from genfw.export.contract import (
    ENCODER_INPUT,
    ENCODER_SCHEMA_ID,
    KIND_ENCODER,
    OUTPUT_NAME,
    SIDECAR_SCHEMA_ID,
    SPEC_VERSION,
)

Count = Annotated[int, Field(ge=1)]
Finite = Annotated[float, Field(allow_inf_nan=False)]
SEMVER = r"^[0-9]+\.[0-9]+\.[0-9]+$"


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class UniformPrior(_Open):
    """Uniform in [low, high) per dimension."""

    kind: Literal["uniform"]
    low: Finite = -1.0
    high: Finite = 1.0


class NormalPrior(_Open):
    """mean + std * N(0, 1) per dimension."""

    kind: Literal["normal"]
    mean: Finite = 0.0
    std: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 1.0


class CategoricalPrior(_Open):
    """An index drawn with these probabilities (k values), fed one-hot."""

    kind: Literal["categorical"]
    probs: list[Annotated[float, Field(ge=0, allow_inf_nan=False)]] | None = None


class BernoulliPrior(_Open):
    """1.0 with probability p, else 0.0, per dimension."""

    kind: Literal["bernoulli"]
    p: Annotated[float, Field(ge=0, le=1)] = 0.5


class OtherPrior(_Open):
    """A kind this spec does not name: an app must be given the code's values."""

    model_config = ConfigDict(extra="allow", regex_engine="python-re")
    kind: Annotated[str, Field(pattern=r"^(?!(uniform|normal|categorical|bernoulli)$).+$")]


NAMED_KINDS = ("uniform", "normal", "categorical", "bernoulli")


def _prior_tag(value: Any) -> str:
    """Which model checks a prior: its kind's own, or :class:`OtherPrior` (so a bad named prior's
    error is about its fields, not about every other kind it is not)."""
    kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
    return kind if kind in NAMED_KINDS else "other"


Prior = Annotated[
    Annotated[UniformPrior, Tag("uniform")]
    | Annotated[NormalPrior, Tag("normal")]
    | Annotated[CategoricalPrior, Tag("categorical")]
    | Annotated[BernoulliPrior, Tag("bernoulli")]
    | Annotated[OtherPrior, Tag("other")],
    Discriminator(_prior_tag),
]


class CategoryMeaning(_Open):
    """What a category came to mean: the class a reference classifier reads in its samples."""

    class_: int = Field(alias="class")
    label: str
    share: Annotated[float, Field(ge=0, le=1)]


class ControlMeaning(_Open):
    """What one dimension of a continuous control code came to do: the image property it moves
    most, measured by the run's evaluation, and how strongly."""

    property: Annotated[str, Field(min_length=1)]
    statistic: str
    correlation: Annotated[float, Field(ge=-1, le=1)]
    label: str


class Code(_Open):
    """One latent code: one model input ``[batch, dim]`` of its parameters."""

    name: Annotated[str, Field(min_length=1)]
    type: str
    dim: Count
    role: Literal["control", "noise"] | None = None
    prior: Prior
    range: Annotated[list[Finite], Field(min_length=2, max_length=2)] | None = None
    periodic: bool | None = None
    encoding: str | None = None
    k: Count | None = None
    labels: list[str] | None = None
    classes: list[CategoryMeaning] | None = None
    meaning: list[ControlMeaning] | None = None
    from_labels: bool | None = None


class Latent(_Open):
    codes: list[Code]


class Image(_Open):
    channels: Count
    height: Count
    width: Count
    range: Annotated[list[Finite], Field(min_length=2, max_length=2)] = [0, 1]


class Export(_Open):
    """How the file was made (``genfw.export``)."""

    weights: Literal["fp32", "fp16", "int8"]
    tolerance: dict[str, Finite]
    opset: Count
    ir_version: Count
    max_abs_diff: Finite | None = None
    mean_abs_diff: Finite | None = None
    verified_batches: list[Count] | None = None


class Sidecar(_Open):
    """``generator.json``: what the model's metadata_props say, for runtimes that cannot read them,
    plus the model's SHA-256. Files from before versioning lack ``spec_version`` and ``$schema``
    (legacy 1.x); ``export`` and ``sha256`` are missing only in files from before genfw 0.2."""

    schema_: str | None = Field(default=None, alias="$schema")
    spec_version: Annotated[str, Field(pattern=SEMVER)] | None = None
    latent: Latent
    image: Image
    version: str | None = None
    export: Export | None = None
    inputs: list[str]
    output: Literal[OUTPUT_NAME]  # type: ignore[valid-type]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None


class EncoderSidecar(_Open):
    """``encoder.json``: an encoder's metadata_props for runtimes that cannot read them, plus its
    SHA-256. The latent spec is the whole model's (the generator's), so an app knows which codes
    the encoder gives (``outputs``, each named as the generator's input) and which it must fill."""

    schema_: str | None = Field(default=None, alias="$schema")
    spec_version: Annotated[str, Field(pattern=SEMVER)]
    kind: Literal[KIND_ENCODER]  # type: ignore[valid-type]
    latent: Latent
    image: Image
    version: str | None = None
    export: Export | None = None
    inputs: Annotated[list[Literal[ENCODER_INPUT]], Field(min_length=1, max_length=1)]  # type: ignore[valid-type]
    outputs: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None


def _json_schema(model: type[BaseModel], schema_id: str, title: str) -> dict[str, Any]:
    schema = TypeAdapter(model).json_schema(by_alias=True)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": schema_id, **schema, "title": title}


def sidecar_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a generator's sidecar of this spec version."""
    return _json_schema(Sidecar, SIDECAR_SCHEMA_ID, f"genfw generator sidecar (spec {SPEC_VERSION})")


def encoder_sidecar_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of an encoder's sidecar of this spec version."""
    return _json_schema(EncoderSidecar, ENCODER_SCHEMA_ID, f"genfw encoder sidecar (spec {SPEC_VERSION})")


def _first_error(model: type[BaseModel], doc: Any) -> str | None:
    """The first way ``doc`` breaks ``model``, as ``where: what`` (a JSON path), or None."""
    try:
        model.model_validate(doc)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = [
            p for i, p in enumerate(error["loc"]) if not (i and error["loc"][i - 1] == "prior")
        ]  # less the union's tag
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
        return f"{where or '(top)'}: {error['msg']}"
    return None


def validate_sidecar(doc: Any) -> str | None:
    """The first way ``doc`` breaks the generator sidecar's schema, as ``where: what`` (a JSON path), or None."""
    return _first_error(Sidecar, doc)


def validate_encoder_sidecar(doc: Any) -> str | None:
    """The first way ``doc`` breaks the encoder sidecar's schema, as ``where: what``, or None."""
    return _first_error(EncoderSidecar, doc)
