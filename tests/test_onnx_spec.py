"""The versioned generator spec (#23 point 3): spec_version in the model and its sidecar, the
published JSON Schema of the sidecar (`genfw schema --sidecar`), and readers that refuse a newer
MAJOR version in one line and read files without a version as the legacy 1.x."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import onnx
import pytest
from genfw_testing import REPO, export_small_generator

from genfw.export.contract import SIDECAR_SCHEMA_ID, SPEC_VERSION
from genfw.runtime import Generator, GeneratorFileError

WEB_LIBRARY = REPO / "web" / "genfw-web" / "genfw-web.js"


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    """A small InfoGAN MNIST generator, exported with its categories labelled (classes and all)."""
    meanings = {"digit": {str(v): {"class": (v + 1) % 10, "label": str((v + 1) % 10), "share": 0.9} for v in range(10)}}
    return export_small_generator(tmp_path_factory.mktemp("spec"), meanings)


@pytest.fixture(scope="module")
def printed_schema() -> dict:
    proc = subprocess.run([sys.executable, "-m", "genfw", "schema", "--sidecar"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


# -- a small JSON Schema validator: the keywords pydantic's schemas use (jsonschema is not a dependency) --
KEYWORDS = {"$schema", "$id", "$defs", "$ref", "title", "description", "default", "type", "properties", "required",
            "additionalProperties", "items", "minItems", "maxItems", "anyOf", "oneOf", "const", "enum", "minimum",
            "maximum", "minLength", "pattern"}
TYPES = {"object": dict, "array": list, "string": str, "integer": int, "number": (int, float), "boolean": bool,
         "null": type(None)}


def well_formed(schema: dict, root: dict, where: str = "#") -> None:
    """Every keyword known, every type a JSON type, every $ref resolvable, every pattern a regex."""
    assert set(schema) <= KEYWORDS, (where, set(schema) - KEYWORDS)
    if "$ref" in schema:
        assert schema["$ref"].startswith("#/$defs/") and schema["$ref"][8:] in root["$defs"], where
    if "type" in schema:
        assert schema["type"] in TYPES, where
    if "pattern" in schema:
        re.compile(schema["pattern"])
    assert set(schema.get("required", [])) <= set(schema.get("properties", {})), where
    for key in ("properties", "$defs"):
        for name, sub in schema.get(key, {}).items():
            well_formed(sub, root, f"{where}/{key}/{name}")
    for key in ("anyOf", "oneOf"):
        for i, sub in enumerate(schema.get(key, [])):
            well_formed(sub, root, f"{where}/{key}/{i}")
    if isinstance(schema.get("items"), dict):
        well_formed(schema["items"], root, f"{where}/items")


def problems(doc, schema: dict, root: dict, where: str = "$") -> list[str]:
    """Where ``doc`` breaks ``schema`` (empty: it validates)."""
    if "$ref" in schema:
        return problems(doc, root["$defs"][schema["$ref"][8:]], root, where)
    found = []
    kind = schema.get("type")
    if kind and (not isinstance(doc, TYPES[kind]) or isinstance(doc, bool) and kind in ("integer", "number")):
        return [f"{where}: not {kind}"]
    if "const" in schema and doc != schema["const"]:
        found.append(f"{where}: not {schema['const']!r}")
    if "enum" in schema and doc not in schema["enum"]:
        found.append(f"{where}: not one of {schema['enum']}")
    if "minimum" in schema and doc < schema["minimum"] or "maximum" in schema and doc > schema["maximum"]:
        found.append(f"{where}: out of range")
    if "minLength" in schema and len(doc) < schema["minLength"]:
        found.append(f"{where}: too short")
    if "pattern" in schema and not re.search(schema["pattern"], doc):
        found.append(f"{where}: does not match {schema['pattern']}")
    if isinstance(doc, list):
        if len(doc) < schema.get("minItems", 0) or len(doc) > schema.get("maxItems", len(doc)):
            found.append(f"{where}: wrong length")
        for i, item in enumerate(doc):
            found += problems(item, schema.get("items", {}), root, f"{where}[{i}]")
    if isinstance(doc, dict):
        found += [f"{where}: {key} is required" for key in schema.get("required", []) if key not in doc]
        for key, sub in schema.get("properties", {}).items():
            if key in doc:
                found += problems(doc[key], sub, root, f"{where}.{key}")
    if "anyOf" in schema and all(problems(doc, sub, root, where) for sub in schema["anyOf"]):
        found.append(f"{where}: matches none of anyOf")
    if "oneOf" in schema and sum(not problems(doc, sub, root, where) for sub in schema["oneOf"]) != 1:
        found.append(f"{where}: matches not exactly one of oneOf")
    return found


def test_the_printed_schema_is_json_schema_and_exported_sidecars_validate_against_it(exported, printed_schema):
    from genfw.export.sidecar_schema import validate_sidecar

    schema = printed_schema
    assert schema["$id"] == SIDECAR_SCHEMA_ID and schema["$schema"].endswith("/draft/2020-12/schema")
    well_formed(schema, schema)
    sidecar = json.loads(exported.with_suffix(".json").read_text())
    assert sidecar["$schema"] == SIDECAR_SCHEMA_ID and sidecar["spec_version"] == SPEC_VERSION
    assert sidecar["latent"]["codes"][1]["classes"][0] == {"class": 1, "label": "1", "share": 0.9}
    assert problems(sidecar, schema, schema) == [] and validate_sidecar(sidecar) is None
    # A sidecar from before versioning (no spec_version, no $schema) is valid too: the legacy 1.x.
    legacy = {k: v for k, v in sidecar.items() if k not in ("$schema", "spec_version")}
    assert problems(legacy, schema, schema) == [] and validate_sidecar(legacy) is None
    # And the schema says no where the sidecar is wrong, as the pydantic model (its source) does.
    broken = [
        ({**sidecar, "spec_version": "1.0"}, "spec_version"),
        ({**sidecar, "output": "images"}, "output"),
        ({**sidecar, "latent": {"codes": [{**sidecar["latent"]["codes"][0], "prior": {"kind": "uniform", "low": "a"}}]}},
         "latent.codes[0].prior.low"),
        ({**sidecar, "latent": {"codes": [{**sidecar["latent"]["codes"][0], "dim": 0}]}}, "latent.codes[0].dim"),
        ({**sidecar, "sha256": "not hex"}, "sha256"),
    ]
    for doc, where in broken:
        assert problems(doc, schema, schema), where
        assert validate_sidecar(doc).startswith(where + ":"), (where, validate_sidecar(doc))
    # A prior kind the spec does not name is valid (apps give its values); a named one is checked.
    other = {**sidecar, "latent": {"codes": [{**sidecar["latent"]["codes"][0], "prior": {"kind": "laplace", "b": 1}}]}}
    assert problems(other, schema, schema) == [] and validate_sidecar(other) is None


def with_spec_version(src: Path, dst: Path, version: str | None) -> Path:
    """A copy of the pair with ``spec_version`` set (or removed) in both the metadata and the sidecar."""
    from genfw.export.pair import write_pair

    model = onnx.load(str(src))
    props = {p.key: p.value for p in model.metadata_props if p.key != "genfw.spec_version"}
    if version is not None:
        props["genfw.spec_version"] = json.dumps(version)
    del model.metadata_props[:]
    model.metadata_props.extend(onnx.StringStringEntryProto(key=k, value=v) for k, v in props.items())
    sidecar = {k: v for k, v in json.loads(src.with_suffix(".json").read_text()).items() if k not in ("spec_version", "sha256")}
    if version is not None:
        sidecar["spec_version"] = version
    write_pair(dst, model.SerializeToString(), sidecar)
    return dst


def test_the_runtime_reads_its_major_version_and_legacy_files_and_refuses_a_newer_major(exported, tmp_path):
    g = Generator.load(exported)
    assert g.spec_version == SPEC_VERSION
    meta = onnx.load(str(exported)).metadata_props
    assert json.loads(next(p.value for p in meta if p.key == "genfw.spec_version")) == SPEC_VERSION
    assert Generator.load(with_spec_version(exported, tmp_path / "minor.onnx", "1.7.3")).spec_version == "1.7.3"
    legacy = Generator.load(with_spec_version(exported, tmp_path / "legacy.onnx", None))
    assert legacy.spec_version is None and legacy.verified
    newer = with_spec_version(exported, tmp_path / "newer.onnx", "2.0.0")
    for verify in (True, False):
        with pytest.raises(GeneratorFileError) as info:
            Generator.load(newer, verify=verify)
        line = str(info.value)
        assert "\n" not in line and line.startswith(f"{newer}: it follows generator spec 2.0.0, newer than the 1.x")


def test_genfw_sample_refuses_a_newer_major_in_one_line(exported, tmp_path):
    newer = with_spec_version(exported, tmp_path / "newer.onnx", "2.0.0")
    proc = subprocess.run([sys.executable, "-m", "genfw", "sample", str(newer), "--n", "2", "-o", str(tmp_path / "x.png")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "newer than the 1.x this genfw reads" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
