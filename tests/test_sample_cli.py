"""`genfw export` and `genfw sample` through the command line: in this process (click's runner: the
same parsing, output and one-line errors with their exit codes), and as real processes where a fresh
interpreter matters (no torch imported) or a process limit (``ulimit -v``) does."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest
from genfw_testing import REPO, cli_in_process, error_line, ok, small_generator
from PIL import Image


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A run directory as training leaves it (generator.pt + config.json), without training."""
    from genfw.artifacts import atomic_torch_save, generator_payload
    from genfw.data.spec import DataSpec

    rc, latent, g = small_generator()
    run = tmp_path_factory.mktemp("run")
    atomic_torch_save(generator_payload(g, latent, DataSpec((1, 28, 28)), rc.to_json()), run / "generator.pt")
    (run / "config.json").write_text(json.dumps(rc.to_json()))
    return run


@pytest.fixture(scope="module")
def sampled_png(run_dir) -> tuple[Path, subprocess.CompletedProcess]:
    """`genfw sample RUN_DIR`: exports generator.onnx first, then writes the grid."""
    out = run_dir / "threes.png"
    proc = cli_in_process("sample", run_dir, "--n", 12, "--code", "digit=3", "--seed", 0, "--nrow", 6, "-o", out)
    return out, proc


def test_sample_png_from_a_run_dir_exports_first(run_dir, sampled_png):
    out, proc = sampled_png
    ok(proc)
    assert (run_dir / "generator.onnx").is_file() and (run_dir / "generator.json").is_file()
    with Image.open(out) as im:
        assert im.size == (6 * 30 + 2, 2 * 30 + 2)


def test_sample_h5_round_trip(run_dir, sampled_png, tmp_path):
    ok(sampled_png[1])
    out = tmp_path / "s.h5"
    ok(cli_in_process("sample", run_dir / "generator.onnx", "--n", 9, "--code", "digit=7", "--code", "c1=0.5", "--seed", 1, "-o", out))
    with h5py.File(out, "r") as f:
        images = f["images"][()]
        codes = {k: f["codes"][k][()] for k in f["codes"]}
        spec = json.loads(f.attrs["genfw.latent"])
        image_spec = json.loads(f.attrs["genfw.image"])
        version = f.attrs["genfw.version"]
    assert image_spec == {"channels": 1, "height": 28, "width": 28, "range": [0, 1]} and version
    assert images.dtype == np.uint8 and images.shape == (9, 1, 28, 28)
    assert sorted(codes) == ["c1", "c2", "digit", "z"] and codes["z"].shape == (9, 62)
    assert (codes["digit"].argmax(1) == 7).all() and (codes["c1"] == 0.5).all()
    assert [c["name"] for c in spec["codes"]] == ["z", "digit", "c1", "c2"]
    # the same seed and codes give the same images through the Python API
    from genfw.runtime import Generator

    again = Generator.load(run_dir / "generator.onnx").generate(9, seed=1, digit=7, c1=0.5, dtype="uint8")
    assert np.array_equal(again.images, images)


@pytest.mark.parametrize("code, needle", [("digit=12", "0..9"), ("digt=1", "valid codes: z, digit, c1, c2"),
                                          ("digit", "NAME=VALUE"), ("z=[1, 2]", "dim 62"),
                                          ("digit=3.5", "not 3.5"), ("digit=true", "not True"),
                                          ("c1=inf", "not a finite float32 number"), ("c1=wide", "needs a number")])
def test_bad_code_exits_2_with_one_line(run_dir, sampled_png, tmp_path, code, needle):
    ok(sampled_png[1])
    line = error_line(cli_in_process("sample", run_dir / "generator.onnx", "--code", code, "-o", tmp_path / "x.png"))
    assert needle in line
    assert not (tmp_path / "x.png").exists()


def test_sample_to_an_unwritable_place_exits_2(run_dir, sampled_png, tmp_path):
    ok(sampled_png[1])
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    line = error_line(cli_in_process("sample", run_dir / "generator.onnx", "-o", blocker / "x.png"))
    assert str(blocker / "x.png") in line and "cannot write here" in line


def test_sample_rejects_a_non_genfw_file(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"nope")
    assert "not a loadable ONNX model" in error_line(cli_in_process("sample", bad, "-o", tmp_path / "x.png"))


def test_sample_on_onnx_does_not_import_torch(run_dir, sampled_png, tmp_path):
    ok(sampled_png[1])
    script = textwrap.dedent(f"""
        import sys
        from genfw.cli import main
        try:
            main(["sample", {str(run_dir / 'generator.onnx')!r}, "--n", "4", "-o", {str(tmp_path / 'a.png')!r}])
        except SystemExit as exc:
            assert not exc.code, exc.code
        print("TORCH" if "torch" in sys.modules else "CLEAN")
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=str(REPO))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "CLEAN", proc.stdout


def test_export_command(run_dir, tmp_path):
    out = tmp_path / "m.onnx"
    stdout = ok(cli_in_process("export", run_dir / "generator.pt", "-o", out, "--opset", 18))
    assert out.is_file() and (tmp_path / "m.json").is_file()
    assert "max abs diff" in stdout
    assert "opset" in error_line(cli_in_process("export", run_dir, "--opset", 17)).lower()
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not torch")
    assert "not a readable genfw file" in error_line(cli_in_process("export", junk))


def test_export_never_clobbers_or_misnames(run_dir, tmp_path):
    config = tmp_path / "my.json"
    config.write_text('{"name": "not a sidecar"}')
    line = error_line(cli_in_process("export", run_dir / "generator.pt", "-o", tmp_path / "my.onnx"))
    assert f"would overwrite {config}, which is not a genfw sidecar" in line
    assert config.read_text() == '{"name": "not a sidecar"}' and not (tmp_path / "my.onnx").exists()
    for bad in ("gen.json", "gen.txt", ""):
        assert "must be an .onnx file" in error_line(cli_in_process("export", run_dir / "generator.pt", "-o", tmp_path / bad if bad else ""))
    assert "wrote opset 18, not the 99" in error_line(cli_in_process("export", run_dir / "generator.pt", "-o", tmp_path / "a.onnx", "--opset", 99))
    assert not list(tmp_path.glob("*.onnx"))


def test_sample_cli_argument_errors_are_one_line(run_dir, sampled_png, tmp_path):
    ok(sampled_png[1])
    onnx_file = run_dir / "generator.onnx"
    assert "--seed" in error_line(cli_in_process("sample", onnx_file, "--seed", -1, "-o", tmp_path / "x.png"))
    assert "given twice" in error_line(cli_in_process("sample", onnx_file, "--code", "digit=3", "--code", "digit=4", "-o", tmp_path / "x.png"))
    assert "Missing argument 'MODEL'" in error_line(cli_in_process("sample"))
    assert not (tmp_path / "x.png").exists()


def test_export_default_output_is_in_the_run_dir(tmp_path):
    from genfw.run_export import default_output

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    assert default_output(run) == run / "generator.onnx"
    assert default_output(run / "generator.pt") == run / "generator.onnx"
    assert default_output(run / "checkpoints" / "last.pt") == run / "generator.onnx"


# -- issue #21: models that cannot be verified, requests that cannot be met --------------------------
NO_VERIFY_FIX = ("(keep the .json exported with it next to it, or re-export both with `genfw export`; "
                 "to run it unverified, pass --no-verify)")


@pytest.mark.parametrize("sidecar, why", [(None, "is missing"), ("{not json", "is not valid JSON"),
                                          ("hashless", "records no SHA-256")], ids=["deleted", "not_json", "no_sha256"])
def test_sample_refuses_a_model_it_cannot_verify_unless_no_verify(run_dir, sampled_png, tmp_path, sidecar, why):
    ok(sampled_png[1])
    model = tmp_path / "generator.onnx"
    model.write_bytes((run_dir / "generator.onnx").read_bytes())
    if sidecar == "hashless":
        doc = json.loads((run_dir / "generator.json").read_text())
        sidecar = json.dumps({k: v for k, v in doc.items() if k != "sha256"})
    if sidecar is not None:
        (tmp_path / "generator.json").write_text(sidecar)
    line = error_line(cli_in_process("sample", model, "-o", tmp_path / "x.png"))
    assert line.startswith(f"Error: {model}: cannot verify it: its sidecar generator.json {why}") and line.endswith(NO_VERIFY_FIX)
    assert not (tmp_path / "x.png").exists()
    assert "wrote 64 images" in ok(cli_in_process("sample", model, "--no-verify", "-o", tmp_path / "x.png"))


@pytest.mark.parametrize("args, needle", [
    (["--n", 2**62], "--n 4,611,686,018,427,387,904: images of 1x28x28 saved as PNG, would take 18,557.4 EB of memory"),
    (["--threads", 99999999999], "--threads must be an integer from 1 to "),
    (["--code", "digit=[-5, 0, 0, 0, 0, 0, 0, 0, 0, 6]"],
     "code 'digit' takes a probability vector (k = 10 numbers >= 0 that sum to 1): it has a negative value (-5)"),
    (["--code", "digit=[0.5, 0.2, 0, 0, 0, 0, 0, 0, 0, 0]"], "takes a probability vector (k = 10 numbers >= 0 that sum to 1): it sums to 0.7"),
], ids=["n_2_62", "threads", "negative_probability", "probabilities_not_summing_to_1"])
def test_sample_refuses_what_it_cannot_do_in_one_line(run_dir, sampled_png, tmp_path, args, needle):
    ok(sampled_png[1])
    assert needle in error_line(cli_in_process("sample", run_dir / "generator.onnx", *args, "-o", tmp_path / "x.png"))
    assert not (tmp_path / "x.png").exists()


def test_sample_n_beyond_a_memory_cap_is_refused_up_front(run_dir, sampled_png, tmp_path):
    """Under `ulimit -v` (1.5 GB), --n 600000 needs 2.4 GB: refused before any work, saying what
    it would take; a number that fits runs under the same cap."""
    import resource

    ok(sampled_png[1])
    cap = 1536 << 20

    def capped(*args) -> subprocess.CompletedProcess:
        # One onnxruntime thread: on a many-core machine each thread's malloc arena reserves address space too.
        return subprocess.run([sys.executable, "-m", "genfw", "sample", str(run_dir / "generator.onnx"), "--threads", "1",
                               *map(str, args)],
                              cwd=str(REPO), capture_output=True, text=True, timeout=600, check=False,
                              preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (cap, cap)))

    line = error_line(capped("--n", 600_000, "-o", tmp_path / "s.h5"))
    assert line.startswith("Error: --n 600,000: images of 1x28x28 saved as H5, would take 2.41 GB of memory, and ") and \
        "ask for at most" in line, line
    assert not (tmp_path / "s.h5").exists()
    ok(capped("--n", 2000, "-o", tmp_path / "s.h5"))
    with h5py.File(tmp_path / "s.h5", "r") as f:
        assert f["images"].shape == (2000, 1, 28, 28)


def test_sample_refuses_metadata_dims_that_do_not_match_the_model(run_dir, sampled_png, tmp_path):
    import onnx

    from genfw.export.pair import write_pair

    ok(sampled_png[1])
    model = onnx.load(str(run_dir / "generator.onnx"))
    sidecar = json.loads((run_dir / "generator.json").read_text())
    latent = sidecar["latent"]
    latent["codes"][2]["dim"] = 3  # c1: the model takes [batch, 1]
    for prop in model.metadata_props:
        if prop.key == "genfw.latent":
            prop.value = json.dumps(latent)
    write_pair(tmp_path / "g.onnx", model.SerializeToString(), sidecar)  # a pair that verifies
    line = error_line(cli_in_process("sample", tmp_path / "g.onnx", "-o", tmp_path / "x.png"))
    assert line == (f"Error: {tmp_path / 'g.onnx'}: the dim of code 'c1' in its metadata is wrong: it says 3 but the "
                    "model's input 'c1' is [batch, 1] (re-export it with `genfw export`)")
