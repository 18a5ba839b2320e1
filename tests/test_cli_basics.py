"""The CLI's basics: --version, --help, schema, and `run`'s argument checks. In this process
(click's runner) where only the output matters; --version (exit 0) and `genfw run` with no config
(exit 2, one line) run as real processes, so the exit codes a shell sees stay tested."""

from __future__ import annotations

import json
import re

import genfw
from genfw_testing import base_config, cli_in_process, error_line, latent_code_plugin_source, run_genfw


def test_version():
    proc = run_genfw("--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"genfw, version {genfw.__version__}"


def test_help_lists_the_commands():
    proc = cli_in_process("--help")
    assert proc.returncode == 0, proc.stderr
    for command in ("run", "validate", "plugins", "schema"):
        assert f"  {command} " in proc.stdout


def _titles(component_schema: dict) -> set[str]:
    return {variant["title"] for variant in component_schema["oneOf"]}


def _variant(component_schema: dict, name: str) -> dict:
    (variant,) = [v for v in component_schema["oneOf"] if v["title"] == name]
    return variant


def test_schema_is_json_with_a_oneof_per_component_section():
    proc = cli_in_process("schema")
    assert proc.returncode == 0, proc.stderr
    schema = json.loads(proc.stdout)
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert schema["additionalProperties"] is False
    props = schema["properties"]
    assert {"name", "seed", "dataset", "latent", "model", "networks", "losses", "augmentations", "optimizers",
            "loggers", "train", "output", "export", "eval", "plugins_dirs"} <= set(props)
    assert {"categorical", "gaussian", "noise"} <= _titles(props["latent"]["items"])
    assert "mnist" in _titles(props["dataset"])
    assert "infogan" in _titles(props["model"])
    assert {"infogan_mnist_generator", "infogan_mnist_discriminator"} <= _titles(props["networks"]["additionalProperties"])
    assert {"mutual_information", "non_saturating", "hinge", "wgan_gp"} <= _titles(props["losses"]["additionalProperties"])
    assert {"translate", "affine"} <= _titles(props["augmentations"]["additionalProperties"])
    assert {"console", "tensorboard"} <= _titles(props["loggers"]["items"])
    # Every reference points at a definition the schema has (no dangling "$ref").
    refs = set(re.findall(r'"\$ref": "#/\$defs/([^"]+)"', proc.stdout))
    assert refs <= set(schema.get("$defs", {})), refs - set(schema.get("$defs", {}))

    categorical = _variant(props["latent"]["items"], "categorical")
    assert categorical["properties"]["type"]["const"] == "categorical"
    assert categorical["required"] == ["type", "name"]  # k may come from the dataset's classes (from_labels)
    assert categorical["additionalProperties"] is False
    assert categorical["properties"]["k"]["description"] == "Number of categories"
    assert "from_labels" in categorical["properties"]
    assert "name" not in _variant(props["model"], "infogan")["properties"]


def test_the_shipped_config_fits_the_schema():
    """A small structural check (no jsonschema dependency): every component of the shipped config
    matches the variant its type selects: required keys present, no keys the variant lacks."""
    props = json.loads(cli_in_process("schema").stdout)["properties"]
    doc = base_config()
    sections = [(props["dataset"], doc["dataset"]), (props["model"], doc["model"])]
    sections += [(props["latent"]["items"], c) for c in doc["latent"]]
    sections += [(props["networks"]["additionalProperties"], c) for c in doc["networks"].values()]
    sections += [(props["losses"]["additionalProperties"], c) for c in doc["losses"].values()]
    sections += [(props["augmentations"]["additionalProperties"], c) for c in doc["augmentations"].values()]
    sections += [(props["loggers"]["items"], c) for c in doc.get("loggers", [{"type": "console"}])]
    assert doc["augmentations"]  # the shipped config has one, so the check above is not empty
    for component_schema, value in sections:
        variant = _variant(component_schema, value["type"])
        assert set(variant["required"]) <= set(value), value
        assert set(value) <= set(variant["properties"]), value
    assert set(doc) <= set(props)


def test_schema_includes_local_plugins(tmp_path):
    (tmp_path / "localbits.py").write_text(latent_code_plugin_source("local_bits"))
    proc = cli_in_process("schema", "--plugins-dir", tmp_path)
    assert proc.returncode == 0, proc.stderr
    latent_items = json.loads(proc.stdout)["properties"]["latent"]["items"]
    assert _variant(latent_items, "local_bits")["properties"]["dim"]["default"] == 1


def test_run_needs_a_config_or_resume():
    line = error_line(run_genfw("run"))
    assert "give a CONFIG to start a run, or --resume RUN_DIR to continue one" in line


def test_run_refuses_a_config_and_resume_together(tmp_path):
    line = error_line(cli_in_process("run", "configs/infogan_mnist.json", "--resume", tmp_path))
    assert "give a CONFIG to start a run, or --resume RUN_DIR to continue one" in line
    assert list(tmp_path.iterdir()) == []


def test_resume_of_a_folder_that_is_not_a_run(tmp_path):
    line = error_line(cli_in_process("run", "--resume", tmp_path))
    assert f"{tmp_path}: not a run directory" in line


def test_control_characters_in_a_name_are_printed_escaped(tmp_path):
    # A file name can hold terminal escape sequences (clear screen, set title, colours) and bidi
    # overrides; the one error line shows them escaped, so a name cannot drive the terminal.
    name = tmp_path / "no\x1b[2Jsuch\x1b]0;title\x07\u202e.json"
    proc = cli_in_process("validate", name)
    assert proc.returncode == 2
    assert "\\x1b[2Jsuch\\x1b]0;title\\x07\\u202e.json: config file not found" in proc.stderr
    assert not any(ch in proc.stderr for ch in "\x1b\x07\u202e")
