"""The built-in ``angle`` code: parameters (theta) vs network input (cos, sin), its von Mises
likelihood, and what apps see of it: an ONNX input of width 1, drawn from its prior by
genfw.runtime, ``genfw sample --code rot=0.5`` meaning theta = 0.5, wrong widths refused."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from genfw_testing import REPO, SMALL_GENERATOR, base_config, cli_in_process, error_line, require_mnist

from genfw.codes.angle import AngleCode, AngleParams
from genfw.latent import CodeContext
from genfw.metrics.circular import circular_linear_correlation
from genfw.model import Batch, DataSpec

ANGLE = {"name": "rot", "type": "angle"}


def angle(**params) -> AngleCode:
    return AngleCode(AngleParams(**params), CodeContext("rot"))


def test_parameters_encoding_and_spec():
    code = angle()
    theta = code.sample(10000, torch.Generator().manual_seed(0))
    assert theta.shape == (10000, 1) and theta.dtype == torch.float32
    assert theta.min() >= -math.pi and theta.max() <= math.pi and abs(float(theta.mean())) < 0.1
    assert code.dim == 1 and code.input_dim == 2 and code.continuous and code.periodic and code.role == "control"
    x = torch.tensor([[0.0], [math.pi / 2], [math.pi], [-math.pi]])
    assert torch.allclose(code.encode(x), torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [-1.0, 0.0]]), atol=1e-6)
    assert code.entropy() == pytest.approx(math.log(2 * math.pi))
    spec = code.spec()
    assert spec == {"name": "rot", "type": "angle", "dim": 1, "role": "control", "encoding": "cos-sin", "periodic": True,
                    "prior": {"kind": "uniform", "low": -math.pi, "high": math.pi}, "range": [-math.pi, math.pi]}
    trav = code.traversal(8)  # one full turn, -pi (= pi) not shown twice
    sweep = trav.values[0, :, 0]
    assert trav.values.shape == (1, 8, 1) and sweep[-1] == pytest.approx(math.pi) and sweep[0] == pytest.approx(-3 * math.pi / 4)
    assert len(set(trav.column_labels)) == 8


def test_von_mises_likelihood():
    from scipy.stats import vonmises

    code = angle(min_concentration=0.01)
    theta = torch.tensor([[0.3], [-2.0], [3.0], [1.0]])
    mu = torch.tensor([0.1, -2.5, -3.0, 1.0])
    softplus_inv = lambda k: math.log(math.expm1(k))  # noqa: E731
    for kappa in (0.5, 4.0, 300.0):
        raw = torch.full((4,), softplus_inv(kappa - 0.01))
        scale = torch.tensor([0.3, 2.0, 5.0, 1e-3])  # the mean direction comes from (x, y) at any length
        pred = torch.stack([scale * torch.cos(mu), scale * torch.sin(mu), raw], dim=1)
        nll = code.nll(pred, theta)
        expected = -vonmises.logpdf(theta[:, 0].numpy(), kappa, loc=mu.numpy())
        assert np.allclose(nll.numpy(), expected, rtol=1e-4, atol=1e-4), (kappa, nll, expected)
        assert torch.allclose(code.predict(pred)[:, 0], mu, atol=1e-5)
    # the floor: however negative the raw concentration, the NLL stays at most ln 2 pi + 2 kappa_min
    pred = torch.tensor([[1.0, 0.0, -1e4], [0.0, 0.0, -50.0]])
    nll = code.nll(pred, torch.tensor([[math.pi], [0.0]]))
    assert torch.isfinite(nll).all() and (nll <= math.log(2 * math.pi) + 0.03).all()
    # finite values and gradients for extreme predictions, including a zero direction vector
    pred = torch.tensor([[0.0, 0.0, 80.0], [1e6, -1e6, 1e4], [1e-20, 1e-20, 0.0]], requires_grad=True)
    loss = code.nll(pred, torch.tensor([[1.0], [2.0], [-3.0]])).sum()
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(pred.grad).all()


def test_an_infogan_with_an_angle_code_trains_and_predicts_it():
    from genfw.building import build_latent, build_model
    from genfw.config.resolution import validate_config
    from genfw.plugin.loading import load_plugins

    config = base_config()
    config["latent"][2] = ANGLE
    resolved = validate_config(config, load_plugins().registries)
    latent = build_latent(resolved)
    assert latent.input_dim == 62 + 10 + 2 + 1 and latent.param_dim == 62 + 10 + 1 + 1
    assert latent.prediction_dim == 10 + 3 + 2
    torch.manual_seed(0)
    model = build_model(resolved, latent, DataSpec((1, 28, 28)))
    out = model.train_step(Batch(torch.rand(8, 1, 28, 28)), torch.Generator().manual_seed(0))
    assert torch.isfinite(out["info_rot"]) and all(torch.isfinite(v) for v in out.values())
    q = model.predict_codes(torch.rand(3, 1, 28, 28))
    assert q["rot"].shape == (3, 3) and latent["rot"].predict(q["rot"]).shape == (3, 1)


def test_circular_linear_correlation():
    rng = np.random.default_rng(0)
    a = rng.uniform(-math.pi, math.pi, 2000)
    bump = np.cos(a - 1.0)  # rises and falls over a turn: no rank trend in the raw angle
    r = circular_linear_correlation(a, bump)
    assert r["circular_linear"] == pytest.approx(1.0, abs=1e-6) and r["circular_linear_p"] < 1e-10 and r["n"] == 2000
    from scipy.stats import spearmanr

    assert abs(spearmanr(a, np.cos(a))[0]) < 0.1  # what Spearman on the raw angle would report
    cut = np.where(a < 0, a + 2 * math.pi, a)  # the same angles, the circle cut elsewhere
    assert circular_linear_correlation(cut, bump)["circular_linear"] == pytest.approx(r["circular_linear"])
    noise = circular_linear_correlation(a, rng.standard_normal(2000))
    assert noise["circular_linear"] < 0.1 and noise["circular_linear_p"] > 1e-3
    assert math.isnan(circular_linear_correlation([0.0, 1.0], [1.0, 2.0])["circular_linear"])
    assert math.isnan(circular_linear_correlation(a, np.ones(2000))["circular_linear"])


def test_continuous_effects_use_a_circular_statistic_for_periodic_codes():
    require_mnist()
    from genfw.building import build_dataset, build_latent, build_model
    from genfw.session import load_config_and_plugins
    from genfw.contexts import EvalContext
    from genfw_infogan.evaluation import continuous_effects, describe

    _, resolved = load_config_and_plugins(REPO / "configs" / "infogan_mnist.json",
                                          (f"latent[2]={json.dumps(ANGLE)}", "dataset.limit=256", *SMALL_GENERATOR))
    latent = build_latent(resolved)
    torch.manual_seed(0)
    model = build_model(resolved, latent, DataSpec((1, 28, 28)))
    ctx = EvalContext(model, latent, build_dataset(resolved, purpose="evaluate"), seed=0, samples=100)
    out = continuous_effects(ctx, n_styles=12, steps=6)
    rot, c2 = out["rot"], out["c2"]
    assert rot["statistic"] == "circular_linear" and c2["statistic"] == "spearman"
    for stat, e in rot["effects"].items():
        assert set(e) == {"circular_linear", "circular_linear_p", "n", "mean_range_over_sweep"} and e["n"] == 72
        assert 0.0 <= e["circular_linear"] <= 1.0, stat
    assert "spearman" in c2["effects"]["slant"]
    lines = describe({"continuous_codes": out})
    assert any("rot" in line and "circular-linear r" in line for line in lines)


@pytest.fixture(scope="module")
def angle_run(tmp_path_factory) -> Path:
    """A run directory with an angle code (its generator untrained), exported."""
    from genfw.artifacts import atomic_torch_save, generator_payload
    from genfw.building import build_latent, build_network
    from genfw.session import load_config_and_plugins
    from genfw.export import export_generator

    torch.manual_seed(0)
    _, rc = load_config_and_plugins(REPO / "configs" / "infogan_mnist.json", (f"latent[2]={json.dumps(ANGLE)}", *SMALL_GENERATOR))
    latent = build_latent(rc)
    g = build_network(rc, "generator", latent, DataSpec((1, 28, 28))).eval()
    run = tmp_path_factory.mktemp("angle_run")
    atomic_torch_save(generator_payload(g, latent, DataSpec((1, 28, 28)), rc.to_json()), run / "generator.pt")
    (run / "config.json").write_text(json.dumps(rc.to_json()))
    report = export_generator(g, latent, (1, 28, 28), run / "generator.onnx")
    assert report["max_abs_diff"] <= 1e-4
    return run


def test_the_onnx_input_is_the_angle_and_the_graph_encodes_it(angle_run):
    model = onnx.load(str(angle_run / "generator.onnx"))
    widths = {i.name: i.type.tensor_type.shape.dim[1].dim_value for i in model.graph.input}
    assert widths == {"z": 62, "digit": 10, "rot": 1, "c2": 1}
    ops = {n.op_type for n in model.graph.node}
    assert {"Cos", "Sin"} <= ops and model.ir_version == 8
    spec = json.loads({p.key: p.value for p in model.metadata_props}["genfw.latent"])
    assert spec["codes"][2]["periodic"] is True and spec["codes"][2]["prior"]["kind"] == "uniform"


def test_runtime_draws_fixes_and_sweeps_the_angle(angle_run):
    from genfw.rebuild import load_generator
    from genfw.runtime import CodeError, Generator

    g = Generator.load(angle_run, threads=1)
    batch = g.generate(16)  # nothing given: theta drawn from its prior
    assert batch.images.shape == (16, 1, 28, 28) and batch.codes["rot"].shape == (16, 1)
    assert (np.abs(batch.codes["rot"]) <= math.pi).all() and len(np.unique(batch.codes["rot"])) == 16
    # rot=0.5 means theta = 0.5: the ONNX model encodes it as the torch generator does
    fixed = g.generate(3, seed=1, rot=0.5)
    assert (fixed.codes["rot"] == 0.5).all()
    loaded = load_generator(angle_run)
    with torch.no_grad():
        torch_images = loaded.generator(loaded.latent.encode({k: torch.from_numpy(v) for k, v in fixed.codes.items()})).numpy()
    assert np.abs(torch_images - fixed.images).max() <= 1e-4
    assert not np.allclose(g.generate(3, seed=1, rot=0.5 + 2.0).images, fixed.images, atol=1e-4)
    assert np.allclose(g.generate(3, seed=1, rot=0.5 + 2 * math.pi).images, fixed.images, atol=1e-4)  # one turn later
    sweep = g.traverse("rot", steps=4, seed=0)  # (-pi, pi]: a full turn, no angle twice
    assert np.allclose(sweep.codes["rot"].ravel(), [-math.pi / 2, 0.0, math.pi / 2, math.pi], atol=1e-6)
    cont = g.traverse("c2", steps=3, seed=0)  # the spec's range, not the prior's
    assert cont.codes["c2"].ravel().tolist() == [-2.0, 0.0, 2.0]
    with pytest.raises(CodeError, match="got a vector of length 2; 'rot' is an angle in radians") as info:
        g.generate(4, rot=[math.cos(0.5), math.sin(0.5)])  # the encoding is the model's job
    assert "\n" not in str(info.value)


def test_sample_cli_takes_theta_and_refuses_other_widths(angle_run, tmp_path):
    import h5py

    out = tmp_path / "rot.h5"
    proc = cli_in_process("sample", angle_run / "generator.onnx", "--n", 5, "--code", "rot=0.5", "-o", out)
    assert proc.returncode == 0, proc.stderr
    with h5py.File(out, "r") as f:
        assert (f["codes"]["rot"][()] == 0.5).all() and f["codes"]["rot"].shape == (5, 1)
        assert json.loads(f.attrs["genfw.version"])  # JSON like the other attributes
    line = error_line(cli_in_process("sample", angle_run / "generator.onnx", "--n", 5, "--code", "rot=[0.87, 0.48]",
                                     "-o", tmp_path / "x.png"))
    assert "code 'rot' has dim 1: got a vector of length 2" in line and "5 numbers (one per sample)" in line
    assert not (tmp_path / "x.png").exists()
    proc = cli_in_process("plugins")
    assert "angle" in proc.stdout


def test_circular_p_value_formula_and_non_finite_pairs():
    """p = exp(-n r^2 / 2), with n counting only the finite pairs."""
    rng = np.random.default_rng(0)
    angles = rng.uniform(-math.pi, math.pi, 200)
    values = 0.3 * np.cos(angles - 1.0) + rng.normal(size=200)
    out = circular_linear_correlation(np.r_[angles, np.nan, 1.0], np.r_[values, 1.0, np.inf])
    assert out["n"] == 200
    assert out["circular_linear_p"] == pytest.approx(math.exp(-200 * out["circular_linear"] ** 2 / 2), rel=1e-12)
    assert out == circular_linear_correlation(angles, values)
