"""ONNX export: the contract apps rely on, parity with torch, and the inference rewrites."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from genfw.building import build_latent, build_network
from genfw.session import load_config_and_plugins
from genfw.errors import GenfwUsageError
from genfw.export import ExportError, export_generator
from genfw.export import category_labels, inference_rewrites, onnx_export, weight_formats
from genfw.model import DataSpec
from genfw_testing import INFOGAN_CONFIG, REPO, SMALL_GENERATOR, cli_in_process, small_generator

IMAGE = (1, 28, 28)


def build_generator(overrides=(), seed: int = 0):
    """The config's generator with non-trivial BatchNorm state (so folding is really tested)."""
    torch.manual_seed(seed)
    _, rc = load_config_and_plugins(INFOGAN_CONFIG, overrides)
    latent = build_latent(rc)
    g = build_network(rc, "generator", latent, DataSpec(IMAGE))
    with torch.no_grad():
        for m in g.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
        g.train()
        for _ in range(3):
            g(torch.rand(64, latent.input_dim) * 2 - 1)
    return g.eval(), latent, rc


def feeds(latent, n: int, seed: int):
    gen = torch.Generator().manual_seed(seed)
    values = [c.sample(n, gen) for c in latent]
    return values, {c.name: v.numpy() for c, v in zip(latent, values)}


@pytest.fixture(scope="module")
def paper():
    g, latent, _ = build_generator()
    return g, latent


@pytest.fixture(scope="module")
def exported(paper, tmp_path_factory):
    g, latent = paper
    path = tmp_path_factory.mktemp("export") / "generator.onnx"
    report = export_generator(g, latent, IMAGE, path)
    return path, report


def test_export_report_parity_and_rewrites(exported):
    path, report = exported
    assert report["max_abs_diff"] <= 1e-4
    assert report["verified_batches"] == [1, 7, 256]
    assert sum("folded" in r for r in report["rewrites"]) == 3, report["rewrites"]
    assert "BatchNormalization" not in report["nodes"]
    assert report["path"] == str(path) and report["inputs"] == ["z", "digit", "c1", "c2"]


@pytest.mark.parametrize("n", [1, 7, 256])
def test_parity_with_torch_eval(paper, exported, n):
    g, latent = paper
    session = ort.InferenceSession(str(exported[0]), providers=["CPUExecutionProvider"])
    values, feed = feeds(latent, n, seed=n)
    with torch.no_grad():
        expected = g(latent.encode({c.name: v for c, v in zip(latent, values)})).numpy()
    got = session.run(["image"], feed)[0]
    assert got.shape == (n, *IMAGE) and got.dtype == np.float32
    assert np.abs(got - expected).max() <= 1e-4
    assert got.min() >= 0.0 and got.max() <= 1.0


def test_dynamic_batch(paper, exported):
    session = ort.InferenceSession(str(exported[0]), providers=["CPUExecutionProvider"])
    for n in (2, 3, 33):
        assert session.run(["image"], feeds(paper[1], n, seed=0)[1])[0].shape == (n, *IMAGE)


def test_onnx_contract(paper, exported):
    _, latent = paper
    path, _ = exported
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 18
    inputs = [(i.name, i.type.tensor_type) for i in model.graph.input]
    assert [name for name, _ in inputs] == [c.name for c in latent]
    for (name, t), code in zip(inputs, latent):
        assert t.elem_type == onnx.TensorProto.FLOAT
        d0, d1 = t.shape.dim
        assert d0.dim_param and not d0.HasField("dim_value"), f"{name}: batch axis is not dynamic"
        assert d1.dim_value == code.dim
    (out,) = model.graph.output
    assert out.name == "image" and out.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    dims = out.type.tensor_type.shape.dim
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == list(IMAGE)
    # self-contained: weights inside the file, nothing else written but the sidecar
    assert all(t.data_location != onnx.TensorProto.EXTERNAL for t in model.graph.initializer)
    assert sorted(p.name for p in path.parent.iterdir()) == ["generator.json", "generator.onnx"]
    meta = {p.key: p.value for p in model.metadata_props}
    assert json.loads(meta["genfw.latent"]) == json.loads(json.dumps(latent.spec()))
    assert json.loads(meta["genfw.image"]) == {"channels": 1, "height": 28, "width": 28, "range": [0, 1]}
    assert meta["genfw.version"]
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert json.loads(meta["genfw.spec_version"]) == "1.0.0"
    assert sidecar == {"$schema": "urn:genfw:generator-sidecar:1", "spec_version": "1.0.0",
                       "latent": json.loads(meta["genfw.latent"]), "image": json.loads(meta["genfw.image"]),
                       "version": json.loads(meta["genfw.version"]), "export": json.loads(meta["genfw.export"]),
                       "sha256": __import__("hashlib").sha256(path.read_bytes()).hexdigest(),
                       "inputs": ["z", "digit", "c1", "c2"], "output": "image"}
    digit = sidecar["latent"]["codes"][1]
    assert digit["k"] == 10 and digit["encoding"] == "one-hot" and len(digit["labels"]) == 10


def test_export_is_quiet_and_straight_export_works(tmp_path, capfd):
    g, latent, _ = build_generator(SMALL_GENERATOR)
    report = export_generator(g, latent, IMAGE, tmp_path / "g.onnx", optimize=False)
    out, err = capfd.readouterr()
    assert out == "" and err == "", (out, err)
    assert report["max_abs_diff"] <= 1e-4 and report["rewrites"] == []
    assert (tmp_path / "g.json").is_file()
    assert g.training is False  # the caller's module is left as it was


class DCGANLike(nn.Module):
    """A generator whose first layer is a ConvTranspose2d on a 1x1 input, and a Conv2d + BN."""

    def __init__(self, dim: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Unflatten(1, (dim, 1, 1)),
            nn.ConvTranspose2d(dim, 16, 4, stride=1, padding=0, bias=False),
            nn.BatchNorm2d(16), nn.ReLU(inplace=True),
            nn.Conv2d(16, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
            nn.ConvTranspose2d(8, 1, 4, stride=2, padding=1), nn.Sigmoid(),
        )

    def forward(self, z):
        return self.net(z)


def test_1x1_conv_becomes_matmul_and_bns_fold(tmp_path):
    _, latent, _ = build_generator(SMALL_GENERATOR)
    torch.manual_seed(1)
    g = DCGANLike(latent.input_dim)
    with torch.no_grad():
        g.train()
        for _ in range(3):
            g(torch.rand(32, latent.input_dim))
    g.eval()
    z = torch.rand(5, latent.input_dim)
    rewritten, notes = inference_rewrites.optimize_for_inference(g, z)
    assert any("MatMul" in n for n in notes) and sum("folded" in n for n in notes) == 2, notes
    assert not any(isinstance(m, nn.BatchNorm2d) for m in rewritten.modules())
    with torch.no_grad():
        assert torch.allclose(rewritten(z), g(z), atol=1e-5)
    report = export_generator(g, latent, (1, 8, 8), tmp_path / "dcgan.onnx")
    assert report["nodes"].count("ConvTranspose") == 1 and "BatchNormalization" not in report["nodes"]
    assert report["max_abs_diff"] <= 1e-4


def test_verification_catches_a_wrong_export(tmp_path, monkeypatch):
    g, latent, _ = build_generator(SMALL_GENERATOR)

    def broken(generator, z):
        return nn.Sequential(generator, nn.Hardtanh(0.0, 0.5)), []

    monkeypatch.setattr(onnx_export, "optimize_for_inference", broken)  # where export_generator looks it up
    with pytest.raises(ExportError, match="differs from torch"):
        export_generator(g, latent, IMAGE, tmp_path / "g.onnx")
    assert list(tmp_path.iterdir()) == []  # an unverified model is never written


def test_export_failure_is_one_line_with_the_log_kept(tmp_path):
    _, latent, _ = build_generator(SMALL_GENERATOR)

    class DataDependent(nn.Module):
        def forward(self, z):
            if z.sum() > 0:  # data-dependent control flow: torch.export refuses it
                return torch.sigmoid(z[:, :1, None, None].expand(-1, 1, 28, 28))
            return torch.zeros(z.shape[0], 1, 28, 28)

    with pytest.raises(ExportError) as info:
        export_generator(DataDependent(), latent, IMAGE, tmp_path / "bad.onnx", optimize=False)
    assert info.value.exit_code == 1 and "\n" not in str(info.value)
    assert "ONNX export failed" in str(info.value)
    assert not (tmp_path / "bad.onnx").exists()


def test_old_opset_is_a_usage_error(paper, tmp_path):
    with pytest.raises(GenfwUsageError, match="opset 17"):
        export_generator(paper[0], paper[1], IMAGE, tmp_path / "g.onnx", opset=17)


# -- issue #13: IR version, smaller weights, category labels -----------------------------------------
def test_ir_version_is_the_lowest_the_opset_allows(exported):
    path, report = exported
    model = onnx.load(str(path))
    assert model.ir_version == report["ir_version"] == 8  # opset 18 came with IR 8 (onnx 1.13)
    assert onnx_export.min_ir_version(18) == 8 and onnx_export.min_ir_version(21) == 10
    onnx.checker.check_model(model, full_check=True)
    ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    meta = {p.key: p.value for p in model.metadata_props}
    assert json.loads(meta["genfw.export"])["ir_version"] == 8 and json.loads(meta["genfw.version"])


@pytest.mark.parametrize("weights", ["fp16", "int8"])
def test_smaller_weights_are_verified_within_their_tolerance(paper, exported, weights, tmp_path):
    g, latent = paper
    path = tmp_path / f"g-{weights}.onnx"
    report = export_generator(g, latent, IMAGE, path, weights=weights)
    tolerance = weight_formats.TOLERANCES[weights]
    assert report["weights"] == weights and report["tolerance"] == tolerance
    assert report["max_abs_diff"] <= tolerance["max_abs"] and report["mean_abs_diff"] <= tolerance["mean_abs"]
    assert report["fp32_max_abs_diff"] <= 1e-4  # the fp32 graph it was made from was verified first
    fp32_bytes = exported[0].stat().st_size
    assert path.stat().st_size < fp32_bytes * (0.55 if weights == "fp16" else 0.35), (path.stat().st_size, fp32_bytes)
    model = onnx.load(str(path))
    assert model.ir_version == 8
    onnx.checker.check_model(model, full_check=True)
    ops = {n.op_type for n in model.graph.node}
    # int8: the products quantized with calibrated (static) scales, the convolutions left in float
    assert ({"QGemm", "QuantizeLinear"} <= ops and not ops & {"ConvInteger", "QLinearConv", "DynamicQuantizeLinear"}) \
        if weights == "int8" else ("Cast" in ops)
    assert [(i.name, i.type.tensor_type.elem_type) for i in model.graph.input] == [(c.name, onnx.TensorProto.FLOAT) for c in latent]
    assert model.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT  # the contract stays float32
    meta = {p.key: p.value for p in model.metadata_props}
    export = json.loads(meta["genfw.export"])
    assert export["weights"] == weights and export["tolerance"] == tolerance and export["verified_batches"] == [1, 7, 256]
    assert json.loads(path.with_suffix(".json").read_text())["export"] == export
    values, feed = feeds(latent, 16, seed=5)
    with torch.no_grad():
        expected = g(latent.encode({c.name: v for c, v in zip(latent, values)})).numpy()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(["image"], feed)[0]
    assert got.dtype == np.float32 and np.abs(got - expected).max() <= tolerance["max_abs"]
    # An image does not depend on the rest of its batch, in any format (int8's scales are fixed).
    alone = np.concatenate([session.run(["image"], {k: v[i : i + 1] for k, v in feed.items()})[0] for i in range(16)])
    assert np.array_equal(alone, got)
    # At the ends of every slider range (wider than the priors: c1 is U(-1, 1), swept over [-2, 2]).
    for code in latent:
        r = code.traversal_range()
        if r is None:
            continue
        for end in r:
            ends = [v.clone() for v in values]
            ends[list(latent).index(code)].fill_(end)
            with torch.no_grad():
                want = g(latent.encode({c.name: v for c, v in zip(latent, ends)})).numpy()
            have = session.run(["image"], {c.name: v.numpy() for c, v in zip(latent, ends)})[0]
            assert np.abs(have - want).max() <= tolerance["max_abs"], (code.name, end, np.abs(have - want).max())
            assert np.abs(have - want).mean() <= tolerance["mean_abs"], (code.name, end)


def test_a_variant_past_its_tolerance_is_never_written(paper, tmp_path, monkeypatch):
    monkeypatch.setitem(weight_formats.TOLERANCES, "int8", {"max_abs": 1e-9, "mean_abs": 1e-9})
    with pytest.raises(ExportError, match="the int8 export's output differs from torch"):
        export_generator(paper[0], paper[1], IMAGE, tmp_path / "g.onnx", weights="int8")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(GenfwUsageError, match="unknown weights format 'int4'"):
        export_generator(paper[0], paper[1], IMAGE, tmp_path / "g.onnx", weights="int4")


def test_categories_are_labelled_from_the_evaluation(paper, exported, tmp_path):
    """The model reads its own eval sections (Model.category_meanings); the core knows no section name."""
    from genfw.model import Model
    from genfw.runtime import Generator
    from genfw_infogan.model import InfoGAN

    run = tmp_path / "run"
    run.mkdir()
    per_value = {str(v): {"class": v % 9, "share": 0.995 if v else 0.5, "label": f"class{v % 9}"} for v in range(10)}
    (run / "eval.json").write_text(json.dumps({"model_sections": ["code_consistency"],
                                               "code_consistency": {"digit": {"accuracy": 0.9, "per_value": per_value}}}))
    meanings = category_labels.category_meanings(run, InfoGAN)
    assert meanings == {"digit": per_value} and category_labels.category_meanings(tmp_path / "nowhere", InfoGAN) == {}
    assert category_labels.category_meanings(run, Model) == {}  # a model that reads no meanings: unlabelled
    path = run / "generator.onnx"
    export_generator(paper[0], paper[1], IMAGE, path, verify=False, categories=meanings)
    digit = json.loads(path.with_suffix(".json").read_text())["latent"]["codes"][1]
    # categories 0 and 9 both draw class0: each of their labels carries its category index
    assert digit["labels"][:3] == ["class0 (50%, #0)", "class1 (100%)", "class2 (100%)"]
    assert digit["labels"][9] == "class0 (100%, #9)"
    assert digit["classes"][1] == {"class": 1, "label": "class1", "share": 0.995}
    twice = {str(v): {"class": 1, "share": 0.9} for v in range(10)}
    code = {"name": "digit", "k": 10, "labels": [str(i) for i in range(10)]}
    assert category_labels.label_categories(code, twice) and code["labels"][:2] == ["1 (90%, #0)", "1 (90%, #1)"]
    named = {"name": "digit", "k": 10, "labels": [f"d{i}" for i in range(10)]}  # labels the config gave are kept
    assert category_labels.label_categories(named, twice) and named["labels"][0] == "d0" and named["classes"][0]["class"] == 1
    assert not category_labels.label_categories({"name": "digit", "k": 10}, {"0": {"class": 1}})  # does not fit: unchanged
    # genfw eval relabels an existing export: metadata, sidecar and its hash change together
    plain = tmp_path / "plain" / "generator.onnx"
    plain.parent.mkdir()
    plain.write_bytes(exported[0].read_bytes())
    plain.with_suffix(".json").write_bytes(exported[0].with_suffix(".json").read_bytes())
    assert category_labels.relabel_export(plain, meanings) and not category_labels.relabel_export(plain, meanings)
    g = Generator.load(plain)
    assert g.code("digit")["labels"][1] == "class1 (100%)" and g.sha256 is not None
    assert (g.sample_codes(2, digit="class1 (100%)")["digit"].argmax(1) == 1).all()


def test_export_cli_weights_int8(tmp_path):

    from genfw.artifacts import atomic_torch_save, generator_payload

    rc, latent, g = small_generator()
    atomic_torch_save(generator_payload(g, latent, DataSpec(IMAGE), rc.to_json()), tmp_path / "generator.pt")
    proc = cli_in_process("export", tmp_path, "--weights", "int8", "-o", tmp_path / "g8.onnx")
    assert proc.returncode == 0, proc.stderr
    assert "int8, opset 18, IR 8" in proc.stdout and "tolerance max_abs 0.25, mean_abs 0.01" in proc.stdout, proc.stdout
    assert json.loads((tmp_path / "g8.json").read_text())["export"]["weights"] == "int8"


def dsprites_generator(tmp_path: Path):
    """configs/infogan_dsprites.json's 64x64 generator (431k parameters), untrained, saved as a
    run's generator.pt: ``(generator, latent, parameter bytes)``."""
    from genfw.artifacts import atomic_torch_save, generator_payload
    from genfw.building import build_model
    from genfw.data.dsprites import FACTOR_NAMES

    torch.manual_seed(0)
    _, rc = load_config_and_plugins(REPO / "configs" / "infogan_dsprites.json")
    data = DataSpec((1, 64, 64), factor_names=FACTOR_NAMES)
    latent = build_latent(rc, data)
    g = build_model(rc, latent, data).generator.eval()
    atomic_torch_save(generator_payload(g, latent, data, rc.to_json()), tmp_path / "generator.pt")
    return g, latent, 4 * sum(p.numel() for p in g.parameters())


@pytest.mark.parametrize("weights", ["fp32", "int8"])
def test_a_64x64_generator_exports_about_the_size_of_its_weights(tmp_path, weights):
    # issue #21: `genfw export` of this generator (1.7 MB of weights) wrote 35.7 MB (int8: 34.9 MB),
    # 5-8x slower than --no-optimize: the sub-pixel rewrite of its four ConvTransposes made a 16x16
    # phase grid with 20x the weights. Now the rewrite is skipped where the weights would grow.

    g, latent, param_bytes = dsprites_generator(tmp_path)
    out = tmp_path / f"g-{weights}.onnx"
    proc = cli_in_process("export", tmp_path, "--weights", weights, "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size <= 1.5 * param_bytes, (out.stat().st_size, param_bytes)
    model = onnx.load(str(out))
    assert "ConvTranspose" in [n.op_type for n in model.graph.node]
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    values, feed = feeds(latent, 5, seed=3)
    with torch.no_grad():
        expected = g(latent.encode({c.name: v for c, v in zip(latent, values)})).numpy()
    assert np.abs(session.run(["image"], feed)[0] - expected).max() <= weight_formats.TOLERANCES[weights]["max_abs"]


def test_the_mnist_generator_keeps_the_subpixel_rewrite_where_it_pays(paper, exported, tmp_path):
    # The 28x28 generator's two ConvTransposes (7x7 -> 28x28) are the case the rewrite pays in
    # (about 1.1x faster, docs/onnx.md): still rewritten, its weights barely grown, still exact.
    g, latent = paper
    _, report = exported
    subpixel = [r for r in report["rewrites"] if "sub-pixel" in r]
    assert len(subpixel) == 1 and subpixel[0].startswith("2 ConvTranspose layers -> Conv on a 4x4 sub-pixel grid"), report
    assert "ConvTranspose" not in report["nodes"] and report["nodes"].count("DepthToSpace") == 1
    plain = export_generator(g, latent, IMAGE, tmp_path / "plain.onnx", subpixel=False)
    assert plain["nodes"].count("ConvTranspose") == 2
    assert report["bytes"] <= 1.01 * plain["bytes"]
    assert report["max_abs_diff"] <= 1e-4 and report["verified_batches"] == [1, 7, 256]
