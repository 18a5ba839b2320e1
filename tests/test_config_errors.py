"""Broken configs, each through `genfw validate` (the CLI's own entry point and error handling, in
this process): exit code 2, exactly one line on stderr, no traceback, naming the file and the JSON
path. Plus: a failed `genfw run` writes nothing, and a resolved config round-trips. The exit code of
a real process is test_cli_basics.py's."""

from __future__ import annotations

import json
from typing import Callable

import pytest

import genfw
from genfw_testing import base_config, cli_in_process, error_line, require_mnist, write_json


def edit(fn: Callable[[dict], None]) -> Callable[[], dict]:
    def make() -> dict:
        doc = base_config()
        fn(doc)
        return doc

    return make


def _del(path: list) -> Callable[[dict], None]:
    def fn(doc: dict) -> None:
        node = doc
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return fn


def _set(path: list, value) -> Callable[[dict], None]:
    def fn(doc: dict) -> None:
        node = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return fn


# id -> (config maker, JSON path the message must name (None: only the file), further substrings it must contain)
CASES = {
    "unknown top-level key": (edit(_set(["trian"], {"epochs": 1})), "trian", ["unknown key", "did you mean 'train'?"]),
    "unknown key in a section": (edit(_set(["train", "max_stepz"], 5)), "train.max_stepz", ["unknown key", "did you mean 'max_steps'?"]),
    "unknown key in a component": (edit(_set(["latent", 1, "kk"], 10)), "latent[1].kk", ["unknown key", "did you mean 'k'?", "allowed keys: from_labels, k, labelled_count, labelled_fraction, labels"]),
    "unknown key in a model": (edit(_set(["model", "ema_decy"], 0.1)), "model.ema_decy",
                               ["unknown key", "did you mean 'ema_decay'?", "allowed keys: ema_decay, info_decay_factor, info_decay_factor_continuous, info_decay_factors, info_decay_step, info_decay_step_continuous, info_updates_trunk"]),
    "unknown key in a component with no settings": (edit(_set(["losses", "adversarial", "margin"], 2)), "losses.adversarial.margin",
                                                     ["unknown key", "it takes no other keys: remove this one"]),
    "a model param that moved elsewhere": (edit(_set(["model", "translate_px"], 2)), "model.translate_px", ["unknown key"]),
    "wrong type": (edit(_set(["train", "batch_size"], "big")), "train.batch_size", ["valid integer", '"big"']),
    "wrong type in a component": (edit(_set(["latent", 0, "dim"], "sixty")), "latent[0].dim", ["valid integer"]),
    "wrong container type": (edit(_set(["latent"], {"z": {"type": "noise"}})), "latent", ["valid array", "(got dict)"]),
    "unknown dataset": (edit(_set(["dataset", "type"], "mnsit")), "dataset.type", ["unknown dataset 'mnsit'", "did you mean 'mnist'?"]),
    "unknown code type": (edit(_set(["latent", 2, "type"], "gausian")), "latent[2].type",
                          ["unknown latent code type 'gausian'", "did you mean 'gaussian'?",
                           f"latent code types by plugin: genfw.builtins (genfw {genfw.__version__}): ", "categorical, gaussian"]),
    "unknown network": (edit(_set(["networks", "generator", "type"], "infogan_mnist_generatr")), "networks.generator.type",
                        ["unknown network", "did you mean 'infogan_mnist_generator'"]),
    "unknown model": (edit(_set(["model", "type"], "infogann")), "model.type", ["unknown model 'infogann'", "did you mean 'infogan'?"]),
    "unknown loss": (edit(_set(["losses", "info", "type"], "mutual_info")), "losses.info.type",
                     ["unknown loss 'mutual_info'", "did you mean 'mutual_information'?"]),
    "negative dim": (edit(_set(["latent", 0, "dim"], -5)), "latent[0].dim", ["greater than 0", "got -5"]),
    "k too small": (edit(_set(["latent", 1, "k"], 1)), "latent[1].k", ["greater than or equal to 2"]),
    "bad literal": (edit(_set(["latent", 2, "prior"], "cauchy")), "latent[2].prior", ["'uniform' or 'normal'", '"cauchy"']),
    "bad precision": (edit(_set(["train", "precision"], "fp8")), "train.precision", ["'fp32', 'bf16' or 'fp16'"]),
    "duplicate code names": (edit(_set(["latent", 3, "name"], "c1")), "latent[3].name",
                             ["duplicate latent code name 'c1' (also latent[2])"]),
    "missing required section": (edit(_del(["networks"])), "networks", ["required key is missing"]),
    "missing required param": (edit(_del(["latent", 0, "dim"])), "latent[0].dim", ["required key is missing"]),
    "categorical without k or labels": (edit(_del(["latent", 1, "k"])), "latent[1]", ["k is required", "from_labels"]),
    "missing component type": (edit(_del(["dataset", "type"])), "dataset.type", ["required key is missing"]),
    "model missing a network role": (edit(_del(["networks", "discriminator"])), "networks",
                                     ["model 'infogan' needs networks roles 'discriminator'"]),
    "model missing a loss role": (edit(_set(["losses"], {})), "losses", ["model 'infogan' needs losses roles 'info'"]),
    "loss role the model does not use": (edit(_set(["losses", "invariant"], {"type": "invariant_clustering"})), "losses.invariant",
                                         ["model 'infogan' has no loss role 'invariant'", "did you mean 'invariance'?"]),
    "invariance without a categorical code": (
        edit(lambda d: (d["losses"].__setitem__("invariance", {"type": "invariant_clustering"}),
                        d.__setitem__("latent", [c for c in d["latent"] if c["type"] != "categorical"]),
                        # the shipped projection needs the category too; without it that error would come first
                        d["model"].pop("projection_step", None))),
        "losses.invariance", ["categorical"]),
    "categorical labels mismatch": (edit(_set(["latent", 1, "labels"], ["zero", "one"])), "latent[1]",
                                    ["labels has 2 names but k is 10"]),
    "invalid code name": (edit(_set(["latent", 0, "name"], "my code")), "latent[0].name",
                          ["not a valid name", '"my code"', "use 1 to 64 letters, digits"]),
    "too long a code name": (edit(_set(["latent", 0, "name"], "z" * 65)), "latent[0].name", ["not a valid name", "use 1 to 64 letters"]),
    "invalid run name": (edit(_set(["name"], "9lives")), "name", ["not a valid name", '"9lives"']),
    "empty latent list": (edit(_set(["latent"], [])), "latent", ["at least 1 item"]),
    "non-string plugins_dirs item": (edit(_set(["plugins_dirs"], [5])), "plugins_dirs[0]", ["valid string"]),
    "negative seed": (edit(_set(["seed"], -1)), "seed", ["greater than or equal to 0"]),
    # Out-of-range numbers are refused as the file is read; the error still names their JSON path.
    "seed past 64 bits": (edit(_set(["seed"], 2**70)), "seed", ["the integer 1180591620717411303", "out of range (at most 2**63)"]),
    "a float beyond float32": (edit(_set(["optimizers", "generator", "lr"], 1e39)), "optimizers.generator.lr",
                               ["the number 1e+39 is out of range"]),
    "code named like the output": (edit(_set(["latent", 2, "name"], "image")), "latent[2].name", ["cannot be named 'image'"]),
    "duplicate category labels": (edit(_set(["latent", 1, "labels"], ["a"] * 10)), "latent[1]", ["labels must be distinct", "'a'"]),
    "inverted log-variance clamp": (edit(_set(["latent", 2, "min_logvar"], 5.0)), "latent[2]", ["min_logvar (5.0) must be below max_logvar"]),
    "adam beta out of range": (edit(_set(["optimizers", "discriminator", "betas"], [1.5, 0.999])),
                               "optimizers.discriminator.betas[0]", ["less than 1"]),
    "too few betas": (edit(_set(["optimizers", "generator", "betas"], [0.5])), "optimizers.generator.betas[1]",
                      ["the list is too short"]),
    "unknown optimizer setting": (edit(_set(["optimizers", "generator", "lr_g"], 0.1)), "optimizers.generator.lr_g",
                                  ["unknown key", "did you mean 'lr'?"]),
    "optimizer role the model does not have": (edit(_set(["optimizers", "gen"], {"lr": 0.1})), "optimizers.gen",
                                               ["model 'infogan' has no optimizer role 'gen'", "roles it uses: discriminator, generator"]),
    "unknown augmentation": (edit(_set(["augmentations", "discriminator", "type"], "transalte")), "augmentations.discriminator.type",
                             ["unknown augmentation 'transalte'", "did you mean 'translate'?"]),
    "augmentation role the model does not use": (edit(_set(["augmentations", "generator"], {"type": "translate"})),
                                                 "augmentations.generator", ["model 'infogan' has no augmentation role 'generator'"]),
    "unknown logger": (edit(_set(["loggers"], [{"type": "consol"}])), "loggers[0].type",
                       ["unknown logger 'consol'", "did you mean 'console'?"]),
    "too few eval samples": (edit(lambda d: d.setdefault("eval", {}).__setitem__("samples", 5)), "eval.samples",
                             ["greater than or equal to 100"]),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_broken_config_is_one_line_naming_file_and_path(tmp_path, case):
    """In-process through the CLI's own entry point and error handling (a subprocess per case would
    add minutes and nothing else; test_cli_basics.py's real subprocess covers the exit code)."""
    make, path, expected = CASES[case]
    cfg = write_json(tmp_path / "broken.json", make())
    line = error_line(cli_in_process("validate", cfg))
    assert f"{cfg}: {path}: " in line if path else line.startswith(f"Error: {cfg}: ")
    for text in expected:
        assert text in line


def test_bad_json_names_line_and_column(tmp_path):
    cfg = tmp_path / "bad.json"
    cfg.write_text('{\n  "name": "x",\n  "seed": 0,,\n  "latent": []\n}\n')
    line = error_line(cli_in_process("validate", cfg))
    assert f"{cfg}: invalid JSON at line 3, column 13" in line


def test_top_level_must_be_an_object(tmp_path):
    cfg = tmp_path / "list.json"
    cfg.write_text("[1, 2]")
    assert f"{cfg}: the config must be a JSON object" in error_line(cli_in_process("validate", cfg))


def test_missing_file(tmp_path):
    cfg = tmp_path / "nope" / "missing.json"
    assert f"{cfg}: config file not found" in error_line(cli_in_process("validate", cfg))


@pytest.mark.parametrize(
    "override, expected",
    [
        ("latent[9].dim=3", "latent[9] is out of range (the list has 4 items)"),
        ("train..max_steps=3", "malformed path 'train..max_steps'"),
        ("seed.value=3", "seed is not an object"),
        ("train.max_steps", "is not of the form path=value"),
    ],
    ids=["index out of range", "malformed", "through a scalar", "no value"],
)
def test_bad_set_path(override, expected):
    line = error_line(cli_in_process("validate", "configs/infogan_mnist.json", "--set", override))
    assert "configs/infogan_mnist.json: --set " in line
    assert expected in line


def test_set_to_an_unknown_key_or_bad_value_is_a_config_error():
    line = error_line(cli_in_process("validate", "configs/infogan_mnist.json", "--set", "train.max_stepz=20"))
    assert "configs/infogan_mnist.json: train.max_stepz: unknown key (did you mean 'max_steps'?" in line
    line = error_line(cli_in_process("validate", "configs/infogan_mnist.json", "--set", "latent[0].dim=0"))
    assert "configs/infogan_mnist.json: latent[0].dim: Input should be greater than 0 (got 0)" in line


def test_set_overrides_apply_to_a_valid_config():
    proc = cli_in_process("validate", "configs/infogan_mnist.json", "--print", "--set", "train.max_steps=20",
                          "--set", "latent[1].k=5", "--set", 'latent[1].labels=["a","b","c","d","e"]')
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["train"]["max_steps"] == 20
    assert doc["latent"][1] == {"name": "digit", "type": "categorical", "k": 5, "labels": ["a", "b", "c", "d", "e"],
                                "from_labels": False, "labelled_count": None, "labelled_fraction": None}


def test_run_with_a_bad_config_writes_no_run_directory(tmp_path):
    doc = base_config()
    doc["latent"][0]["dim"] = -1
    cfg = write_json(tmp_path / "bad.json", doc)
    runs = tmp_path / "runs"
    line = error_line(cli_in_process("run", cfg, "--set", f"output.dir={runs}"))
    assert f"{cfg}: latent[0].dim" in line
    exact = tmp_path / "exact-run"
    error_line(cli_in_process("run", cfg, "--set", f"output.run_dir={exact}"))
    assert not runs.exists() and not exact.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.json"]


def test_run_whose_data_is_missing_writes_no_run_directory(tmp_path):
    empty = tmp_path / "no-data"
    empty.mkdir()
    runs = tmp_path / "runs"
    line = error_line(cli_in_process("run", "configs/infogan_mnist.json", "--set", f"dataset.root={empty}",
                                     "--set", "dataset.download=false", "--set", f"output.dir={runs}",
                                     "--set", "train.max_steps=1"))
    assert f"MNIST not found under {empty / 'MNIST' / 'raw'}" in line
    assert not runs.exists()


def test_run_into_a_folder_that_cannot_be_one_is_a_config_error(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    line = error_line(cli_in_process("run", "configs/infogan_mnist.json", "--set", f"dataset.root={require_mnist()}",
                                     "--set", "dataset.download=false", "--set", f"output.dir={blocker}",
                                     "--set", "train.max_steps=1"))
    assert "configs/infogan_mnist.json: output.dir: cannot create the run directory" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


def test_truncated_mnist_file_is_named(tmp_path):
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in sorted((require_mnist() / "MNIST" / "raw").iterdir()):
        (raw / f.name).write_bytes(f.read_bytes()[:5000] if f.name.startswith("train-images") else f.read_bytes())
    line = error_line(cli_in_process("run", "configs/infogan_mnist.json", "--set", f"dataset.root={tmp_path / 'data'}",
                                     "--set", "dataset.download=false", "--set", f"output.dir={tmp_path / 'runs'}",
                                     "--set", "train.max_steps=1"))
    assert "train-images-idx3-ubyte is truncated or damaged (5,000 bytes, expected 47,040,016)" in line
    assert not (tmp_path / "runs").exists()


def test_valid_config_round_trips_through_validate_print(tmp_path):
    first = cli_in_process("validate", "configs/infogan_mnist.json", "--print")
    assert first.returncode == 0, first.stderr
    resolved = json.loads(first.stdout)
    # Every default is written out.
    assert resolved["train"]["log_every"] == 50
    assert resolved["latent"][2] == {"name": "c1", "type": "gaussian", "dim": 1, "prior": "uniform", "traverse_range": 2.0,
                                     "fixed_std": False, "min_logvar": -5.0, "max_logvar": 5.0}
    assert resolved["dataset"]["download"] is True and resolved["plugins_dirs"] == []
    again = write_json(tmp_path / "resolved.json", resolved)
    second = cli_in_process("validate", again, "--print")
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout) == resolved
    assert second.stdout == first.stdout
    plain = cli_in_process("validate", again)
    assert plain.returncode == 0 and f"{again}: valid (model infogan, dataset mnist" in plain.stdout


def test_a_validators_own_message_is_not_padded(tmp_path):
    """A params validator's ValueError already says what is wrong: no '(got dict) (fix the value)'."""
    cfg = write_json(tmp_path / "labels.json", edit(_set(["latent", 1, "labels"], ["zero", "one"]))())
    line = error_line(cli_in_process("validate", cfg))
    assert line.endswith("latent[1]: labels has 2 names but k is 10"), line


def test_duplicate_keys_are_an_error(tmp_path):
    cfg = tmp_path / "dup.json"
    text = json.dumps(base_config())
    cfg.write_text(text[:-1] + ', "seed": 5}')
    line = error_line(cli_in_process("validate", cfg))
    assert f"{cfg}: the key 'seed' appears twice in one object" in line


def test_duplicate_keys_in_a_set_value_are_an_error(tmp_path):
    cfg = write_json(tmp_path / "c.json", base_config())
    line = error_line(cli_in_process("validate", cfg, "--set", 'optimizers.generator={"lr": 0.001, "lr": 0.1}'))
    assert f"{cfg}: --set 'optimizers.generator=" in line and "the key 'lr' appears twice in one object" in line, line
