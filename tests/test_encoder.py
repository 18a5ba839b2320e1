"""The encoder (``Model.encoder``: images -> codes): the hook for InfoGAN's Q and the β-VAE's
encoder, its ONNX export beside the generator, ``genfw export --encoder``, the runtime's
``Encoder`` and ``reconstruct``, and ``eval.json``'s ``reconstruction`` section."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from genfw.building import build_latent, build_model
from genfw.config.resolution import validate_config
from genfw.errors import PluginError
from genfw.model import Batch, DataSpec, Model
from genfw.plugin.loading import load_plugins
from genfw_testing import INFOGAN_CONFIG, REPO, TINY_RUN, cli_in_process, error_line, ok, require_mnist, run_genfw, sets

BETAVAE_CONFIG = REPO / "configs" / "betavae_mnist.json"


@pytest.fixture(scope="module")
def registries():
    return load_plugins().registries


def trained_a_step(registries, config_path, overrides: dict | None = None) -> Model:
    """The config's model after one train step on random images (BatchNorm statistics that are not
    the initial ones), in train mode."""
    config = json.loads(config_path.read_text())
    for key, value in (overrides or {}).items():
        config["networks"]["discriminator"][key] = value
    resolved = validate_config(config, registries)
    torch.manual_seed(0)
    model = build_model(resolved, build_latent(resolved), DataSpec((1, 28, 28)))
    model.train_step(Batch(torch.rand(16, 1, 28, 28)), torch.Generator().manual_seed(0))
    return model


def mnist_test_images(n: int) -> np.ndarray:
    """The first ``n`` MNIST test digits, float32 ``[n, 1, 28, 28]`` in [0, 1], read from the IDX file."""
    raw = require_mnist() / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    pixels = np.frombuffer(raw.read_bytes(), np.uint8, count=n * 28 * 28, offset=16)
    return (pixels.reshape(n, 1, 28, 28) / 255.0).astype(np.float32)


# -- Model.encoder ---------------------------------------------------------------------------------
@pytest.mark.parametrize("minibatch_std", [0, 4])
def test_infogan_encoder_is_q_per_image(registries, minibatch_std):
    model = trained_a_step(registries, INFOGAN_CONFIG, {"minibatch_std": minibatch_std})
    x = torch.rand(7, 1, 28, 28)
    encoder = model.encoder
    assert encoder is not None and encoder.training  # in the network's own mode
    with torch.no_grad():
        model.D.eval()
        q = model.parts.aux(model.parts.trunk(x))  # what Q computes in training, batch statistic and all
        got = encoder(x)
        alone = torch.cat([encoder(x[i : i + 1]) for i in range(len(x))])
    assert got.shape == (7, model.latent.prediction_dim)
    torch.testing.assert_close(got, q, rtol=0, atol=1e-6)
    torch.testing.assert_close(alone, got, rtol=0, atol=1e-6)
    model.D.train()
    predicted = model.predict_codes(x)
    assert model.D.training  # predict_codes restores the network's mode
    slices = model.latent.prediction_slices()
    assert predicted is not None and set(predicted) == set(slices) == {"digit", "c1", "c2"}
    for name, s in slices.items():
        torch.testing.assert_close(predicted[name], q[:, s], rtol=0, atol=1e-6)


def test_betavae_encoder_is_its_network_and_checkpoints_keep_their_keys(registries):
    model = trained_a_step(registries, BETAVAE_CONFIG)
    assert model.encoder is model._modules["encoder"]
    assert any(key.startswith("encoder.") for key in model.state_dict())
    x = torch.rand(5, 1, 28, 28)
    with torch.no_grad():
        model.encoder.eval()
        expected = model.encoder(x)
        model.encoder.train()
    predicted = model.predict_codes(x)
    assert predicted is not None
    torch.testing.assert_close(predicted["z"], expected)


def test_a_model_without_an_encoder_cannot_name_a_network_encoder(registries):
    dcgan = validate_config(json.loads((REPO / "configs" / "dcgan_mnist.json").read_text()), registries)
    model = build_model(dcgan, build_latent(dcgan), DataSpec((1, 28, 28)))
    assert model.encoder is None and model.predict_codes(torch.rand(2, 1, 28, 28)) is None
    with pytest.raises(PluginError, match=r"sets self.encoder, a name Model keeps .*self.encoder_net"):
        model.encoder = torch.nn.Linear(2, 2)


# -- the ONNX export -------------------------------------------------------------------------------
def run_onnx(path, feeds: dict, names=None):
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = names or [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds)))


@pytest.fixture(scope="module", params=["infogan", "betavae"])
def exported_pair(request, registries, tmp_path_factory):
    """A model one step from its init and its generator and encoder exported side by side."""
    from genfw.export import export_encoder, export_generator

    config = INFOGAN_CONFIG if request.param == "infogan" else BETAVAE_CONFIG
    model = trained_a_step(registries, config)
    folder = tmp_path_factory.mktemp(request.param)
    export_generator(model.generator, model.latent, (1, 28, 28), folder / "generator.onnx")
    report = export_encoder(model.encoder, model.generator, model.latent, (1, 28, 28), folder / "encoder.onnx")
    return model, folder, report


def test_encoder_export_agrees_with_torch_and_feeds_the_generator(exported_pair):
    import onnx

    model, folder, report = exported_pair
    latent = model.latent
    predictable = [c.name for c in latent if c.predictable]
    assert report["outputs"] == predictable and report["verified_batches"] == [1, 7, 64]
    assert report["max_abs_diff"] <= 1e-4
    onnx_model = onnx.load(str(folder / "encoder.onnx"))
    assert [i.name for i in onnx_model.graph.input] == ["image"]
    assert [o.name for o in onnx_model.graph.output] == predictable
    generator_inputs = [i.name for i in onnx.load(str(folder / "generator.onnx")).graph.input]
    assert set(predictable) <= set(generator_inputs)
    meta = {p.key: json.loads(p.value) for p in onnx_model.metadata_props}
    sidecar = json.loads((folder / "encoder.json").read_text())
    assert meta["genfw.kind"] == sidecar["kind"] == "encoder"
    assert meta["genfw.outputs"] == sidecar["outputs"] == predictable
    assert sidecar["$schema"] == "urn:genfw:encoder-sidecar:1" and sidecar["spec_version"] == meta["genfw.spec_version"]
    assert sidecar["latent"] == meta["genfw.latent"] == json.loads(json.dumps(latent.spec()))
    assert sidecar["image"] == {"channels": 1, "height": 28, "width": 28, "range": [0, 1]}
    assert sidecar["inputs"] == ["image"]

    # Real digits in, codes out (as torch computes them), and the generator runs on them in onnxruntime.
    images = mnist_test_images(9)
    codes = run_onnx(folder / "encoder.onnx", {"image": images})
    with torch.no_grad():
        model.encoder.eval()
        prediction = model.encoder(torch.from_numpy(images))
    for name, s in latent.prediction_slices().items():
        expected = latent[name].predict(prediction[:, s]).numpy()
        assert codes[name].shape == expected.shape == (9, latent[name].dim)
        assert np.abs(codes[name] - expected).max() <= 1e-4, name
    feeds = {c.name: codes.get(c.name, np.zeros((9, c.dim), np.float32)) for c in latent}
    rebuilt = run_onnx(folder / "generator.onnx", feeds)["image"]
    assert rebuilt.shape == images.shape and np.isfinite(rebuilt).all()


def test_encoding_one_image_alone_gives_its_codes_in_a_batch(exported_pair):
    _, folder, _ = exported_pair
    images = mnist_test_images(6)
    batch = run_onnx(folder / "encoder.onnx", {"image": images})
    for i in range(len(images)):
        alone = run_onnx(folder / "encoder.onnx", {"image": images[i : i + 1]})
        for name, value in alone.items():
            assert np.abs(value[0] - batch[name][i]).max() <= 1e-5, (name, i)


# -- genfw export --encoder -------------------------------------------------------------------------
def tiny_run(root, config: str, *overrides: str):
    """A real MNIST run of two steps (no eval, no export) in ``root``."""
    run_dir = root / Path(config).stem
    proc = cli_in_process(
        "run", config, *sets(*TINY_RUN, "train.max_steps=2", "train.sample_every_epoch=false",
                             f"output.run_dir={run_dir}", *overrides), "-q",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return run_dir


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    require_mnist()
    root = tmp_path_factory.mktemp("encoder-runs")
    return {
        "infogan": tiny_run(root, "configs/infogan_mnist.json"),
        "betavae": tiny_run(root, "configs/betavae_mnist.json", "networks.encoder.width=8",
                            "networks.encoder.hidden=32", "networks.decoder.width=8", "networks.decoder.hidden=32"),
    }


@pytest.fixture(scope="module")
def exported_runs(runs):
    """Each tiny run exported with ``genfw export --encoder``: ``{name: (run_dir, stdout)}``."""
    return {name: (run_dir, ok(cli_in_process("export", run_dir, "--encoder"))) for name, run_dir in runs.items()}


@pytest.mark.parametrize("name", ["infogan", "betavae"])
def test_export_encoder_writes_both_files_and_reports_the_encoder(exported_runs, name):
    run_dir, out = exported_runs[name]
    lines = out.strip().splitlines()
    assert len(lines) == 2 and "generator.onnx" in lines[0], out
    assert lines[1].startswith(f"wrote {run_dir / 'encoder.onnx'} (") and "encoder.json" in lines[1], out
    sidecar = json.loads((run_dir / "encoder.json").read_text())
    generator = json.loads((run_dir / "generator.json").read_text())
    assert sidecar["kind"] == "encoder" and set(sidecar["outputs"]) <= set(generator["inputs"])
    assert sidecar["latent"] == generator["latent"]  # the same spec, category labels included
    assert f"outputs {', '.join(sidecar['outputs'])}" in lines[1]


def test_export_encoder_of_a_model_without_one_is_a_usage_error(tmp_path):
    require_mnist()
    run_dir = tiny_run(tmp_path, "configs/dcgan_mnist.json")
    line = error_line(run_genfw("export", run_dir, "--encoder"))
    assert line == "Error: model dcgan has no encoder (Model.encoder is None); export without --encoder"
    assert not (run_dir / "generator.onnx").exists() and not (run_dir / "encoder.onnx").exists()


# -- genfw.runtime: Encoder and reconstruct --------------------------------------------------------
def mnist_test_bytes(n: int) -> np.ndarray:
    raw = require_mnist() / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    return np.frombuffer(raw.read_bytes(), np.uint8, count=n * 28 * 28, offset=16).reshape(n, 28, 28)


@pytest.mark.parametrize("name", ["infogan", "betavae"])
def test_runtime_encodes_and_reconstructs_without_torch(exported_runs, name):
    run_dir, _ = exported_runs[name]
    script = f"""
import json, sys
import numpy as np
from genfw.runtime import Encoder, Generator, reconstruct
raw = np.frombuffer(open({str(require_mnist() / "MNIST" / "raw" / "t10k-images-idx3-ubyte")!r}, "rb").read(),
                    np.uint8, count=5 * 784, offset=16).reshape(5, 28, 28)
encoder, generator = Encoder.load({str(run_dir)!r}), Generator.load({str(run_dir)!r})
codes = encoder.encode(raw)
same = encoder.encode((raw / 255.0).astype(np.float32)[:, None])
images, used = reconstruct(raw, generator, encoder)
print(json.dumps({{
    "verified": encoder.verified, "outputs": encoder.outputs,
    "shapes": {{k: list(v.shape) for k, v in codes.items()}},
    "same": max(float(np.abs(codes[k] - same[k]).max()) for k in codes),
    "image": list(images.shape), "finite": bool(np.isfinite(images).all()),
    "from_encoder": all(np.array_equal(used[k], codes[k]) for k in codes),
    "filled": {{k: v[0].tolist() for k, v in used.items() if k not in codes}},
    "torch": "torch" in sys.modules,
}}))
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["torch"] is False and out["verified"] is True
    sidecar = json.loads((run_dir / "encoder.json").read_text())
    assert out["outputs"] == sidecar["outputs"]
    dims = {c["name"]: c["dim"] for c in sidecar["latent"]["codes"]}
    assert out["shapes"] == {k: [5, dims[k]] for k in sidecar["outputs"]}
    assert out["same"] <= 1e-6  # uint8 [n, H, W] and float [n, 1, H, W] are the same images
    assert out["image"] == [5, 1, 28, 28] and out["finite"] and out["from_encoder"]
    if name == "infogan":  # z is not predicted: held at its prior's center
        assert out["filled"] == {"z": [0.0] * 62}
    else:
        assert out["filled"] == {}


def test_reconstruct_takes_fixed_values_and_refuses_bad_images(exported_runs):
    from genfw.runtime import CodeError, Encoder, Generator, reconstruct

    run_dir, _ = exported_runs["infogan"]
    encoder, generator = Encoder.load(run_dir), Generator.load(run_dir)
    digits = mnist_test_bytes(4)
    images, codes = reconstruct(digits, generator, encoder, fixed={"digit": 3, "z": 0.5})
    assert images.shape == (4, 1, 28, 28)
    assert (codes["digit"].argmax(1) == 3).all() and (codes["z"] == 0.5).all()
    np.testing.assert_array_equal(codes["c1"], encoder.encode(digits)["c1"])
    bad = {
        "shape [4, 28]": digits[:, 0],
        "shape [4, 3, 28, 28]": np.repeat(digits[:, None], 3, axis=1),
        "not int64": digits.astype(np.int64),
        "in [0, 1] (these span 0 .. 255)": digits.astype(np.float32),
    }
    for what, images in bad.items():
        with pytest.raises(CodeError, match=re.escape(what)) as caught:
            encoder.encode(images)
        assert "\n" not in str(caught.value)
    with pytest.raises(CodeError, match="no latent code named 'digits'"):
        reconstruct(digits, generator, encoder, fixed={"digits": 3})


def test_runtime_refuses_a_generator_as_encoder_and_the_reverse(exported_runs):
    from genfw.runtime import Encoder, Generator, GeneratorFileError

    run_dir, _ = exported_runs["betavae"]
    with pytest.raises(GeneratorFileError) as caught:
        Encoder.load(run_dir / "generator.onnx")
    assert str(caught.value).count("\n") == 0
    assert "it is a genfw generator, not an encoder" in str(caught.value)
    assert "Generator.load" in str(caught.value)
    with pytest.raises(GeneratorFileError, match="it is a genfw encoder, not a generator.*Encoder.load"):
        Generator.load(run_dir / "encoder.onnx")
    with pytest.raises(GeneratorFileError, match="it is a genfw encoder, not a generator"):
        Generator.load(run_dir / "encoder.onnx", verify=False)


# -- eval.json's reconstruction section ------------------------------------------------------------
def test_reconstruction_section_measures_real_held_out_digits(runs):
    from genfw.building import build_dataset
    from genfw.contexts import EvalContext
    from genfw.evaluation import reconstruction as measure
    from genfw.training.checkpoint import load_trained_model

    resolved, latent, model = load_trained_model(runs["infogan"])
    data = build_dataset(resolved, purpose="evaluate")
    ctx = EvalContext(model, latent, data, seed=5)
    assert measure.has_encoder(ctx)
    section = measure.reconstruction(ctx)
    assert section["images"] == 1000 and section["seed"] == 45 and section["mean_image_from"] == 10000
    assert section["codes_from_encoder"] == ["digit", "c1", "c2"] and section["codes_at_prior_center"] == ["z"]
    numbers = [section["mae"], section["mse"]] + [v for b in section["baselines"].values() for v in b.values()]
    assert all(math.isfinite(x) and 0 < x < 1 for x in numbers)
    assert section["mse"] <= section["mae"]  # pixels in [0, 1]: squared errors are the smaller
    assert measure.reconstruction(ctx) == section  # seeded: the same images, the same numbers
    (line,) = measure.describe(section)
    assert line.startswith("  reconstruction generator(encoder(x)) of 1000 held-out images: MAE ")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["betavae", "infogan"])
def test_eval_json_has_the_reconstruction_section(exported_runs, name):
    run_dir, _ = exported_runs[name]
    out = ok(cli_in_process("eval", run_dir, "--samples", "200"))
    report = json.loads((run_dir / "eval.json").read_text())
    section = report["reconstruction"]
    assert section["codes_from_encoder"] == (["z"] if name == "betavae" else ["digit", "c1", "c2"])
    assert all(math.isfinite(section[k]) for k in ("mae", "mse"))
    assert all(math.isfinite(v) for b in section["baselines"].values() for v in b.values())
    assert "reconstruction generator(encoder(x)) of 1000 held-out images" in out
    # genfw eval labels the categories of both exports alike: their specs stay the same.
    encoder, generator = (json.loads((run_dir / f).read_text()) for f in ("encoder.json", "generator.json"))
    assert encoder["latent"] == generator["latent"]
    if name == "infogan":
        assert "classes" in generator["latent"]["codes"][1]
    from genfw.runtime import Encoder

    assert Encoder.load(run_dir).verified  # relabelled, still a verified pair


def test_the_encoder_sidecar_schema_is_printed_and_exported_sidecars_validate(exported_pair):
    from genfw.export.sidecar_schema import validate_encoder_sidecar, validate_sidecar
    from test_onnx_spec import problems, well_formed

    _, folder, _ = exported_pair
    schema = json.loads(ok(cli_in_process("schema", "--encoder-sidecar")))
    assert schema["$id"] == "urn:genfw:encoder-sidecar:1" and schema["$schema"].endswith("/draft/2020-12/schema")
    well_formed(schema, schema)
    sidecar = json.loads((folder / "encoder.json").read_text())
    assert problems(sidecar, schema, schema) == [] and validate_encoder_sidecar(sidecar) is None
    generator = json.loads((folder / "generator.json").read_text())
    assert validate_encoder_sidecar(generator).startswith("kind:")  # neither passes for the other
    assert validate_sidecar(sidecar).startswith("output:")
    for doc, where in [({**sidecar, "outputs": []}, "outputs"), ({**sidecar, "inputs": ["images"]}, "inputs[0]")]:
        assert problems(doc, schema, schema), where
        assert validate_encoder_sidecar(doc).startswith(where + ":"), validate_encoder_sidecar(doc)
    line = error_line(cli_in_process("schema", "--sidecar", "--encoder-sidecar"))
    assert "--sidecar and --encoder-sidecar" in line


def test_the_docs_encoder_snippets_run_as_written(exported_runs, tmp_path):
    """docs/onnx.md's "Encoder" section: its Python blocks, run in a folder holding the exported
    files and a PNG of a real test digit, write their picture without importing torch."""
    from PIL import Image

    doc = (REPO / "docs" / "onnx.md").read_text(encoding="utf-8")
    section = doc[doc.index("## Encoder: from an image to its codes"):]
    section = section[: section.index("\n## ", 1)]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 2
    run_dir, _ = exported_runs["infogan"]
    for name in ("generator.onnx", "generator.json", "encoder.onnx", "encoder.json"):
        (tmp_path / name).write_bytes((run_dir / name).read_bytes())
    Image.fromarray(mnist_test_bytes(1)[0]).save(tmp_path / "digit.png")
    for block in blocks:
        script = block.replace("RUN_DIR/", "") + "\nimport sys\nassert 'torch' not in sys.modules\n"
        (tmp_path / "reconstructed.png").unlink(missing_ok=True)
        proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        assert Image.open(tmp_path / "reconstructed.png").size[1] >= 28


NODE_ENCODER = r"""
import * as ort from "onnxruntime-web";
import { loadEncoder, loadGenerator } from "genfw-web";
import { readFileSync } from "node:fs";
ort.env.wasm.numThreads = 1;
const [folder, pixelsFile] = process.argv.slice(2);
const encoder = await loadEncoder(ort, `${folder}/encoder.onnx`);
const generator = await loadGenerator(ort, `${folder}/generator.onnx`);
const pixels = new Uint8Array(readFileSync(pixelsFile));
const codes = await encoder.encode(pixels);
const rebuilt = await encoder.reconstruct(generator, pixels);
const out = { verified: encoder.verified, outputs: encoder.outputs,
  codes: Object.fromEntries(Object.entries(codes).map(([k, v]) => [k, Array.from(v)])),
  images: Array.from(rebuilt.images), errors: {} };
for (const [name, call] of [["generator_as_encoder", () => loadEncoder(ort, `${folder}/generator.onnx`)],
                            ["encoder_as_generator", () => loadGenerator(ort, `${folder}/encoder.onnx`)]]) {
  try { await call(); out.errors[name] = null; } catch (err) { out.errors[name] = err.message; }
}
console.log(JSON.stringify(out));
"""


@pytest.mark.slow
def test_genfw_web_encodes_and_reconstructs_as_python_does(exported_runs, tmp_path):
    """genfw-web.js's loadEncoder/encode/reconstruct in Node (onnxruntime-web) give genfw.runtime's codes and images."""
    from genfw_testing import web_node_modules

    from genfw.data.mnist import load_mnist
    from genfw.runtime import Encoder, Generator, reconstruct

    run_dir, _ = exported_runs["infogan"]
    digits = load_mnist(None, "test", download=False, limit=3).images.numpy()  # uint8 [3, 1, 28, 28]
    (tmp_path / "digits.bin").write_bytes(digits.tobytes())
    app = tmp_path / "app"
    (app / "node_modules").mkdir(parents=True)
    (app / "node_modules" / "genfw-web").symlink_to(REPO / "web" / "genfw-web")
    (app / "node_modules" / "onnxruntime-web").symlink_to(web_node_modules() / "onnxruntime-web")
    (app / "main.mjs").write_text(NODE_ENCODER)
    proc = subprocess.run(["node", "main.mjs", str(run_dir), str(tmp_path / "digits.bin")], cwd=app,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    encoder, generator = Encoder.load(run_dir), Generator.load(run_dir)
    ours = encoder.encode(digits)
    assert out["verified"] and out["outputs"] == encoder.outputs
    for name, values in out["codes"].items():
        assert np.allclose(np.asarray(values, np.float32).reshape(ours[name].shape), ours[name], atol=1e-5), name
    images = reconstruct(digits, generator, encoder).images
    assert np.abs(np.asarray(out["images"], np.float32).reshape(images.shape) - images).max() < 1e-4
    assert "not a genfw encoder" in out["errors"]["generator_as_encoder"]
    assert "this is an encoder" in out["errors"]["encoder_as_generator"]
