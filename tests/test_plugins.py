"""Plugin loading, end to end: real (fake-installed) distributions, found by real `genfw`
subprocesses (a fresh interpreter reads PYTHONPATH and the entry points), local plugin folders and
the plugin environment variables through the CLI in this process, and the one-line errors for
broken plugins."""

from __future__ import annotations

import json
import re

import genfw
from genfw_testing import (
    base_config,
    cli_in_process,
    error_line,
    fake_distribution,
    latent_code_plugin_source,
    run_genfw,
    with_pythonpath,
    write_json,
)

GENFW_DIST = f"genfw {genfw.__version__}"


def components(proc) -> list[dict]:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["components"]


def component(proc, name: str) -> dict:
    found = [c for c in components(proc) if c["name"] == name]
    assert len(found) == 1, f"{name!r} listed {len(found)} times: {proc.stdout}"
    return found[0]


def config_with_code(code_type: str, **extra) -> dict:
    doc = base_config()
    doc["latent"].append({"name": "extra", "type": code_type, "dim": 3})
    doc.update(extra)
    return doc


# -- sources ---------------------------------------------------------------------------------------
def test_entry_point_plugin_in_an_installed_distribution(tmp_path):
    site = fake_distribution(tmp_path / "site", "genfw-fakebits", "1.2.3", {"fakebits": "fakebits_plugin"},
                             {"fakebits_plugin": latent_code_plugin_source("fake_bits", doc="Fake bits for tests.")})
    listing = run_genfw("plugins", "--json", env=with_pythonpath(site))  # a new interpreter finds it on PYTHONPATH
    entry = component(listing, "fake_bits")
    assert entry["kind"] == "latent code type"
    assert entry["plugin"] == "fakebits"
    assert entry["distribution"] == "genfw-fakebits 1.2.3"
    assert entry["origin"] == "entrypoint"
    assert entry["description"] == "Fake bits for tests."  # the factory's docstring, as no description was given
    assert entry["params"]["dim"]["description"] == "Width of the code"
    rows = {r["name"]: r for r in json.loads(listing.stdout)["plugins"]}
    assert rows["fakebits"] == {"name": "fakebits", "origin": "entrypoint", "distribution": "genfw-fakebits 1.2.3",
                                "hooks": ["register_latent_codes"]}

    text = cli_in_process("plugins", pythonpath=[site])
    assert text.returncode == 0, text.stderr
    assert re.search(r"latent code type\s+fake_bits\s+fakebits\s+genfw-fakebits 1\.2\.3\s+Fake bits for tests\.", text.stdout)

    cfg = write_json(tmp_path / "cfg.json", config_with_code("fake_bits"))
    proc = cli_in_process("validate", cfg, pythonpath=[site])
    assert proc.returncode == 0, proc.stderr
    assert "extra:fake_bits" in proc.stdout


def test_local_plugin_folder_with_plugins_dir_option(tmp_path):
    folder = tmp_path / "myplugins"
    folder.mkdir()
    (folder / "localbits.py").write_text(latent_code_plugin_source("local_bits"))
    (folder / "_helper.py").write_text("raise RuntimeError('files starting with _ are not plugins')\n")
    (folder / "notes.txt").write_text("not a plugin\n")

    entry = component(cli_in_process("plugins", "--json", "--plugins-dir", folder), "local_bits")
    assert entry["plugin"] == "localbits"
    assert entry["distribution"] is None
    assert entry["origin"] == f"local {folder / 'localbits.py'}"

    cfg = write_json(tmp_path / "cfg.json", config_with_code("local_bits"))
    proc = cli_in_process("validate", cfg, "--plugins-dir", folder)
    assert proc.returncode == 0, proc.stderr
    assert "extra:local_bits" in proc.stdout
    # Without the folder the type is unknown, and the message says so with the JSON path.
    line = error_line(cli_in_process("validate", cfg))
    assert f"{cfg}: latent[4].type: unknown latent code type 'local_bits'" in line


def test_local_plugin_folder_from_config_plugins_dirs_relative_to_the_config(tmp_path):
    project = tmp_path / "project"
    (project / "myplugins").mkdir(parents=True)
    (project / "myplugins" / "localbits.py").write_text(latent_code_plugin_source("local_bits"))
    cfg = write_json(project / "run.json", config_with_code("local_bits", plugins_dirs=["myplugins"]))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    proc = cli_in_process("validate", cfg, cwd=elsewhere)  # relative to the config file, not the cwd
    assert proc.returncode == 0, proc.stderr
    assert "extra:local_bits" in proc.stdout

    missing = write_json(project / "missing.json", config_with_code("local_bits", plugins_dirs=["nope"]))
    line = error_line(cli_in_process("validate", missing, cwd=elsewhere))
    assert "plugin folder" in line and str(project / "nope") in line and "does not exist" in line


def test_local_plugin_package_with_relative_imports(tmp_path):
    pkg = tmp_path / "plugins" / "pkgplug"
    pkg.mkdir(parents=True)
    (pkg / "codes.py").write_text(latent_code_plugin_source("pkg_bits"))
    (pkg / "__init__.py").write_text("from .codes import register_latent_codes\n")
    entry = component(cli_in_process("plugins", "--json", "--plugins-dir", tmp_path / "plugins"), "pkg_bits")
    assert entry["plugin"] == "pkgplug"
    assert entry["origin"] == f"local {pkg}"


# -- broken plugins --------------------------------------------------------------------------------
def test_plugin_that_raises_on_import_is_one_line_and_can_be_disabled(tmp_path):
    broken = latent_code_plugin_source("broken_bits", preamble="raise RuntimeError('the license server is gone')")
    site = fake_distribution(tmp_path / "site", "genfw-broken", "0.3.1", {"broken": "broken_plugin"},
                             {"broken_plugin": broken})
    for args in (("plugins",), ("validate", "configs/infogan_mnist.json")):
        line = error_line(cli_in_process(*args, pythonpath=[site]))
        assert "broken (genfw-broken 0.3.1) failed to load" in line  # the plugin and its distribution + version
        assert "RuntimeError: the license server is gone" in line  # the original error
        assert "broken_plugin.py:2" in line  # and where it was raised
        assert "GENFW_DISABLE_PLUGINS=broken" in line  # how to get past it

    ok = cli_in_process("plugins", "--json", env={"GENFW_DISABLE_PLUGINS": "broken"}, pythonpath=[site])
    names = {c["name"] for c in components(ok)}
    assert "infogan" in names and "broken_bits" not in names
    ok = cli_in_process("validate", "configs/infogan_mnist.json", env={"GENFW_LOAD_PLUGINS": "infogan"}, pythonpath=[site])
    assert ok.returncode == 0, ok.stderr


def test_local_plugin_that_raises_on_import(tmp_path):
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "needsdep.py").write_text("import a_dependency_that_is_not_installed\n")
    line = error_line(cli_in_process("plugins", "--plugins-dir", folder))
    assert f"local plugin {folder / 'needsdep.py'} failed to load" in line
    assert "ModuleNotFoundError: No module named 'a_dependency_that_is_not_installed'" in line
    assert "GENFW_DISABLE_PLUGINS=needsdep" in line
    ok = cli_in_process("plugins", "--plugins-dir", folder, env={"GENFW_DISABLE_PLUGINS": "needsdep"})
    assert ok.returncode == 0, ok.stderr


def test_misspelled_hook_name_is_reported(tmp_path):
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "typo.py").write_text(latent_code_plugin_source("typo_bits", hook="register_latent_code"))
    line = error_line(cli_in_process("plugins", "--plugins-dir", folder))
    assert "typo (local" in line
    assert "unknown hook" in line
    assert "register_latent_code" in line
    assert "register_latent_codes" in line  # the list of real hook names, to spot the typo


def test_misspelled_hook_in_an_installed_distribution_names_the_distribution(tmp_path):
    site = fake_distribution(tmp_path / "site", "genfw-typo", "2.0.0", {"typo": "typo_plugin"},
                             {"typo_plugin": latent_code_plugin_source("typo_bits", hook="register_latentcodes")})
    line = error_line(cli_in_process("plugins", pythonpath=[site]))
    assert "typo (genfw-typo 2.0.0)" in line and "register_latentcodes" in line and "unknown hook" in line


def test_register_hook_that_fails_or_misuses_register(tmp_path):
    folder = tmp_path / "plugins"
    folder.mkdir()
    # The old keyword (register(..., params=...)) is gone: the hook fails, naming the plugin.
    (folder / "noparams.py").write_text(
        "import genfw\n\n@genfw.hookimpl\ndef register_latent_codes(register):\n"
        "    register('no_params', object, params=dict)\n"
    )
    line = error_line(cli_in_process("plugins", "--plugins-dir", folder))
    assert "noparams (local" in line and "failed in register_latent_codes" in line and "TypeError" in line
    # A factory whose first parameter names no pydantic model (or none at all) is refused.
    for factory in ("object", "make"):
        (folder / "noparams.py").write_text(
            "import genfw\n\n\ndef make(params: dict, ctx):\n    return None\n\n\n"
            "@genfw.hookimpl\ndef register_latent_codes(register):\n"
            f"    register('no_params', {factory})\n"
        )
        line = error_line(cli_in_process("plugins", "--plugins-dir", folder))
        assert "noparams (local" in line and "'no_params' without a pydantic params model" in line, factory
        assert "def factory(params: MyParams, ctx)" in line  # how to fix it


def test_two_plugins_registering_the_same_name(tmp_path):
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "first_codes.py").write_text(latent_code_plugin_source("same_bits"))
    (folder / "second_codes.py").write_text(latent_code_plugin_source("same_bits"))
    line = error_line(cli_in_process("plugins", "--plugins-dir", folder))
    assert ("latent code type 'same_bits' is registered by two plugins: "
            f"first_codes (local {folder / 'first_codes.py'}) and second_codes (local {folder / 'second_codes.py'})") in line


def test_plugin_registering_a_builtin_name_names_both(tmp_path):
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "mygauss.py").write_text(latent_code_plugin_source("gaussian"))
    line = error_line(cli_in_process("validate", "configs/infogan_mnist.json", "--plugins-dir", folder))
    assert f"'gaussian' is registered by two plugins: genfw.builtins ({GENFW_DIST}) and mygauss (local" in line


def test_installed_and_local_plugin_registering_the_same_name(tmp_path):
    site = fake_distribution(tmp_path / "site", "genfw-dupe", "0.0.1", {"dupe": "dupe_plugin"},
                             {"dupe_plugin": latent_code_plugin_source("dup_bits")})
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "mine.py").write_text(latent_code_plugin_source("dup_bits"))
    line = error_line(cli_in_process("plugins", "--plugins-dir", folder, pythonpath=[site]))
    assert "'dup_bits' is registered by two plugins: dupe (genfw-dupe 0.0.1) and mine (local" in line

    # A local plugin whose *plugin* name is taken by an installed one is refused too.
    (folder / "mine.py").unlink()
    (folder / "dupe.py").write_text(latent_code_plugin_source("other_bits"))
    line = error_line(cli_in_process("plugins", "--plugins-dir", folder, pythonpath=[site]))
    assert "two plugins are named 'dupe'" in line and "genfw-dupe 0.0.1" in line


# -- listing and selecting ---------------------------------------------------------------------------
BUILTIN = {("dataset", "mnist"), ("latent code type", "categorical"), ("latent code type", "gaussian"),
           ("latent code type", "noise")}
INFOGAN = {("model", "infogan"), ("network", "infogan_mnist_generator"), ("network", "infogan_mnist_discriminator"),
           ("loss", "mutual_information")}


def test_plugins_json_lists_builtins_and_infogan_with_sources():
    proc = cli_in_process("plugins", "--json")
    doc = json.loads(proc.stdout)
    by_key = {(c["kind"], c["name"]): c for c in doc["components"]}
    for key in BUILTIN:
        assert (by_key[key]["plugin"], by_key[key]["origin"], by_key[key]["distribution"]) == ("genfw.builtins", "builtin", GENFW_DIST)
    for key in INFOGAN:
        assert (by_key[key]["plugin"], by_key[key]["origin"], by_key[key]["distribution"]) == ("infogan", "entrypoint", GENFW_DIST)
    assert all(c["description"] for c in doc["components"])
    assert by_key[("latent code type", "categorical")]["params"]["k"]["description"] == "Number of categories"
    rows = {r["name"]: r for r in doc["plugins"]}
    assert {"register_datasets", "register_latent_codes"} <= set(rows["genfw.builtins"]["hooks"])
    assert {"register_losses", "register_models", "register_networks"} <= set(rows["infogan"]["hooks"])
    assert rows["infogan"]["origin"] == "entrypoint"


def test_plugins_table_lists_builtins_and_infogan():
    proc = cli_in_process("plugins", "--params")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.splitlines()[0].split() == ["KIND", "NAME", "PLUGIN", "SOURCE", "DESCRIPTION"]
    for kind, name in BUILTIN:
        assert re.search(rf"^{kind}\s+{name}\s+genfw\.builtins\s+{re.escape(GENFW_DIST)}\s+\S", out, re.M), name
    for kind, name in INFOGAN:
        assert re.search(rf"^{kind}\s+{name}\s+infogan\s+{re.escape(GENFW_DIST)}\s+\S", out, re.M), name
    assert re.search(r"^\s+k = null\s+Number of categories", out, re.M)  # --params (from_labels may set k)


def test_empty_load_list_hides_infogan_and_validate_names_the_provider():
    env = {"GENFW_LOAD_PLUGINS": ""}
    names = {(c["kind"], c["name"]) for c in components(cli_in_process("plugins", "--json", env=env))}
    assert BUILTIN <= names
    assert not names & INFOGAN

    line = error_line(cli_in_process("validate", "configs/infogan_mnist.json", env=env))
    assert "configs/infogan_mnist.json: model.type: unknown model 'infogan'" in line
    assert "models by plugin: none" in line  # no model plugin is loaded at all
    # The installed plugins that were not loaded are named, with how to load them.
    assert "installed but not loaded: " in line and f"infogan ({GENFW_DIST})" in line
    assert "GENFW_LOAD_PLUGINS" in line


def test_disabling_infogan_by_name():
    line = error_line(cli_in_process("validate", "configs/infogan_mnist.json", env={"GENFW_DISABLE_PLUGINS": "infogan"}))
    assert "unknown model 'infogan'" in line
    # The models that are there, by plugin, and the one installed but skipped.
    assert f"dcgan ({GENFW_DIST}): dcgan" in line
    assert f"installed but not loaded: infogan ({GENFW_DIST})" in line
    assert "GENFW_DISABLE_PLUGINS" in line


def test_local_plugin_that_exits_on_import(tmp_path):
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "exiter.py").write_text("import sys\nsys.exit(3)\n")
    line = error_line(cli_in_process("plugins", "--plugins-dir", folder))
    assert "local plugin" in line and "exiter.py failed to load: SystemExit: 3" in line


def test_a_factory_that_raises_something_else_names_the_plugin_not_a_traceback(tmp_path):
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "boom.py").write_text(
        "import genfw\nfrom pydantic import BaseModel\n\n\nclass P(BaseModel):\n    pass\n\n\n"
        "def make(params: P, ctx):\n    raise KeyError('boom from factory')\n\n\n"
        "@genfw.hookimpl\ndef register_losses(register):\n    register('boomloss', make)\n"
    )
    doc = base_config()
    doc["losses"]["info"] = {"type": "boomloss"}
    cfg = write_json(tmp_path / "cfg.json", doc)
    line = error_line(cli_in_process("validate", cfg, "--plugins-dir", folder))
    assert f"{cfg}: losses.info: loss 'boomloss' from plugin boom" in line
    assert "KeyError: 'boom from factory' at boom.py:10" in line and "bug in that plugin" in line


def test_missing_plugin_folders_are_named(tmp_path):
    line = error_line(cli_in_process("plugins", "--plugins-dir", tmp_path / "nope"))
    assert "--plugins-dir" in line and "does not exist" in line
    cfg = write_json(tmp_path / "cfg.json", {**base_config(), "plugins_dirs": ["nope"]})
    line = error_line(cli_in_process("validate", cfg))
    assert f"{cfg}: plugins_dirs[0]: plugin folder {tmp_path / 'nope'} does not exist" in line
