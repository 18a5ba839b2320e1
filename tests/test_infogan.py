"""The InfoGAN model, networks and info loss, on real tensors (no data needed)."""

from __future__ import annotations

import copy
import json

import pytest
import torch

from genfw.building import build_latent, build_model
from genfw.config.resolution import validate_config
from genfw.errors import ConfigError
from genfw.gan import frozen
from genfw.plugin.loading import load_plugins
from genfw.batch import UNLABELLED
from genfw.model import Batch, DataSpec
from genfw_testing import REPO



@pytest.fixture(scope="module")
def registries():
    return load_plugins().registries


def base_config() -> dict:
    return json.loads((REPO / "configs" / "infogan_mnist.json").read_text())


def make_model(registries, config: dict | None = None, seed: int = 0):
    resolved = validate_config(config or base_config(), registries)
    latent = build_latent(resolved)
    torch.manual_seed(seed)
    return build_model(resolved, latent, DataSpec((1, 28, 28)))


def test_batch_size_one_trains_a_step(registries):
    model = make_model(registries)
    out = model.train_step(Batch(torch.rand(1, 1, 28, 28)), torch.Generator().manual_seed(0))
    assert all(torch.isfinite(v) for v in out.values())
    assert {"d_loss", "g_loss", "info_loss", "info_digit", "info_c1", "info_c2"} <= set(out)
    assert all(v.dim() == 0 for v in out.values())


def test_many_codes_of_each_kind_train_a_step(registries):
    config = base_config()
    config["latent"] = [
        {"name": "style", "type": "categorical", "k": 4},
        {"name": "z", "type": "noise", "dim": 16},
        {"name": "digit", "type": "categorical", "k": 10},
        {"name": "a", "type": "gaussian"},
        {"name": "b", "type": "gaussian", "dim": 2, "prior": "normal"},
        {"name": "c", "type": "gaussian", "fixed_std": True},
    ]
    model = make_model(registries, config)
    assert model.latent.input_dim == model.latent.param_dim == 4 + 16 + 10 + 1 + 2 + 1
    assert model.latent.prediction_dim == 4 + 10 + 2 + 4 + 1
    assert model.D.aux_head(model.D.trunk(torch.rand(2, 1, 28, 28))).shape == (2, model.latent.prediction_dim)
    out = model.train_step(Batch(torch.rand(8, 1, 28, 28)), torch.Generator().manual_seed(0))
    assert {"info_style", "info_digit", "info_a", "info_b", "info_c"} <= set(out)
    assert "info_z" not in out
    q = model.predict_codes(torch.rand(3, 1, 28, 28))
    assert {k: tuple(v.shape) for k, v in q.items()} == {"style": (3, 4), "digit": (3, 10), "a": (3, 2), "b": (3, 4), "c": (3, 1)}


def _grads(loss, params):
    grads = torch.autograd.grad(loss, list(params), allow_unused=True, retain_graph=True)
    return [g for g in grads if g is not None and g.abs().sum() > 0]


@pytest.mark.parametrize("updates_trunk", [True, False])
def test_info_loss_gradients(registries, updates_trunk):
    config = base_config()
    config["model"]["info_updates_trunk"] = updates_trunk
    model = make_model(registries, config)
    rng = torch.Generator().manual_seed(0)
    real = torch.rand(16, 1, 28, 28)
    codes = model.latent.sample(16, rng)
    fake = model.G(model.latent.encode(codes))

    d_out = model.d_step_losses(real, fake, codes)
    assert ("d_info" in d_out) == updates_trunk
    if updates_trunk:  # the D step's info term trains the shared trunk
        assert len(_grads(d_out["d_info"], model.D.trunk.parameters())) > 0
        assert _grads(d_out["d_info"], model.G.parameters()) == []  # fakes are detached there

    # The G step freezes what the model freezes there (the trunk and the D head, not Q's head).
    with frozen(model._d_frozen):
        g_out = model.g_step_losses(fake, codes)
        assert all(not p.requires_grad for p in [*model.D.trunk.parameters(), *model.D.d_head.parameters()])
        assert all(p.requires_grad for p in model.D.aux_head.parameters())
        assert len(_grads(g_out["info_loss"], model.G.parameters())) == len(list(model.G.parameters()))
        assert len(_grads(g_out["info_loss"], model.D.aux_head.parameters())) > 0
    assert all(p.requires_grad for p in model.D.parameters())  # unfrozen again afterwards

    # Through a whole train step: the trunk moves on the info loss only when enabled.
    # With the GAN loss switched off (both optimizers' lr for D set to 0 would hide it), compare
    # a step with lambda = 0 against one with the info loss on, from the same start.
    def trunk_after_step(lam: float) -> list[torch.Tensor]:
        cfg = copy.deepcopy(config)
        cfg["losses"]["info"]["lambda_categorical"] = lam
        cfg["losses"]["info"]["lambda_continuous"] = lam
        m = make_model(registries, cfg)
        m.train_step(Batch(real), torch.Generator().manual_seed(1))
        return [p.detach().clone() for p in m.D.trunk.parameters()]

    moved = any(not torch.equal(a, b) for a, b in zip(trunk_after_step(0.0), trunk_after_step(1.0)))
    assert moved == updates_trunk


def test_generate_is_batch_independent(registries):
    """Sampling uses G in eval mode: an image does not depend on the rest of its batch."""
    model = make_model(registries)
    model.train_step(Batch(torch.rand(32, 1, 28, 28)), torch.Generator().manual_seed(0))
    codes = model.latent.sample(5, torch.Generator().manual_seed(3))
    together = model.generate(codes)
    alone = model.generate({k: v[:1] for k, v in codes.items()})
    assert torch.allclose(together[:1], alone, atol=1e-6)
    assert together.min() >= 0 and together.max() <= 1
    assert model.generator.training  # generate() restores the mode it found


def test_gaussian_nll_is_clamped():
    from genfw.codes.gaussian import GaussianCode, GaussianParams
    from genfw.latent import CodeContext

    code = GaussianCode(GaussianParams(), CodeContext("c"))
    q = torch.tensor([[0.0, -100.0]])  # mean 0, log-variance far below the clamp
    nll = code.nll(q, torch.tensor([[1.0]]))
    assert torch.isfinite(nll).all() and nll.item() < 1e3


def test_random_translate_shifts_whole_images_by_whole_pixels():
    from genfw.augmentations import random_translate

    x = torch.zeros(64, 1, 9, 9)
    x[:, 0, 4, 4] = 1.0  # one lit pixel in the centre of each image
    x.requires_grad_(True)
    y = random_translate(x, 2, torch.Generator().manual_seed(0))
    lit = y.detach().flatten(1).argmax(1)
    rows, cols = lit // 9 - 4, lit % 9 - 4
    assert torch.equal(y.detach().flatten(1).sum(1), torch.ones(64))  # moved, not blurred or lost
    assert rows.abs().max() <= 2 and cols.abs().max() <= 2
    assert len(set(zip(rows.tolist(), cols.tolist()))) > 10  # each image draws its own shift
    again = random_translate(x, 2, torch.Generator().manual_seed(0))
    assert torch.equal(y, again)  # the shifts come from the generator passed in, nothing else
    (y * y.detach()).sum().backward()  # the generator step needs gradients through the shift
    assert torch.equal(x.grad, x.detach())  # d(lit output pixel) / d(its source pixel) = 1


def test_discriminator_augmentation_trains_a_step(registries):
    """An augmentation in the discriminator role is what D and Q see; an identity one changes nothing."""
    real = torch.rand(8, 1, 28, 28)

    def step(augmentations: dict) -> dict[str, torch.Tensor]:
        config = base_config()
        config["augmentations"] = augmentations
        model = make_model(registries, config)
        assert (model.augment is None) == (not augmentations)
        return model.train_step(Batch(real), torch.Generator().manual_seed(0))

    plain = step({})
    augmented = step({"discriminator": {"type": "translate", "max_px": 2}})
    assert all(torch.isfinite(v) for v in augmented.values())
    assert not torch.equal(plain["d_loss"], augmented["d_loss"])
    identity = step({"discriminator": {"type": "translate", "max_px": 0}})
    assert all(torch.equal(plain[k], identity[k]) for k in plain)


def test_iic_loss_bounds():
    from genfw_infogan.invariance import iic_loss

    k = 10
    confident = torch.eye(k).repeat(20, 1) * 50  # every category equally often, very sure
    assert abs(iic_loss(confident, confident).item() + torch.log(torch.tensor(float(k))).item()) < 1e-4
    unrelated = torch.randn(200, k, generator=torch.Generator().manual_seed(0)) * 5
    other = torch.randn(200, k, generator=torch.Generator().manual_seed(1)) * 5
    assert -0.3 < iic_loss(unrelated, other).item() <= 1e-6  # independent views share ~no information
    collapsed = torch.zeros(200, k)
    collapsed[:, 0] = 50  # one category for everything: confident and agreeing, yet worthless
    assert abs(iic_loss(collapsed, collapsed).item()) < 1e-4


def test_random_affine_is_seeded_and_identity_at_zero():
    from genfw.augmentations import random_affine

    x = torch.rand(8, 1, 28, 28)
    assert torch.allclose(random_affine(x, torch.Generator().manual_seed(0), 0.0, 0.0, 0.0), x, atol=1e-5)
    a = random_affine(x, torch.Generator().manual_seed(0), 15.0, 0.1, 2.0)
    b = random_affine(x, torch.Generator().manual_seed(0), 15.0, 0.1, 2.0)
    assert torch.equal(a, b) and not torch.allclose(a, x, atol=1e-3)


def _d_step_with_invariance(registries, config: dict):
    """A model of ``config``, a real batch, a fake batch with its codes, and the D step's losses on
    them (with a warped view of the real batch for the invariance loss)."""
    model = make_model(registries, config)
    rng = torch.Generator().manual_seed(0)
    real = torch.rand(16, 1, 28, 28)
    codes = model.latent.sample(16, rng)
    fake = model.G(model.latent.encode(codes))
    return model, real, fake, codes, model.d_step_losses(real, fake, codes, model.invariance.warp(real, rng))


def test_invariance_loss_trains_trunk_in_d_step_and_q_head_in_g_step(registries):
    config = base_config()
    config["losses"]["invariance"] = {"type": "invariant_clustering"}
    model, real, fake, codes, d_out = _d_step_with_invariance(registries, config)
    assert len(_grads(d_out["d_invariance"], model.D.trunk.parameters())) > 0
    with frozen(model._d_frozen):
        g_out = model.g_step_losses(fake, codes)
        assert len(_grads(g_out["q_invariance"], model.D.aux_head.parameters())) > 0
        assert _grads(g_out["q_invariance"], model.G.parameters()) == []  # real images only
        own_nll = model.info(model.D.aux_head(model.D.trunk(fake)), codes)[1]["digit"]
        assert torch.allclose(g_out["info_digit"], own_nll)  # each loss logs its own terms
    assert "invariance_digit" in g_out and "invariance_c1" not in g_out  # categorical codes only
    out = model.train_step(Batch(real), torch.Generator().manual_seed(1))
    assert all(torch.isfinite(v) for v in out.values())


def test_ema_generator_averages_g_and_is_what_the_run_exports(registries):
    config = base_config()
    config["model"]["ema_decay"] = 0.9
    model = make_model(registries, config)
    average = model.G_ema.average
    assert model.generator is average and average is not model.G
    assert not any(p.requires_grad for p in average.parameters())
    before = [p.detach().clone() for p in average.parameters()]
    rng = torch.Generator().manual_seed(0)
    model.train_step(Batch(torch.rand(8, 1, 28, 28)), rng)
    # Step 1: the ramped decay is min(0.9, 2/11), so the average moves 9/11 of the way to G.
    for avg, old, new in zip(average.parameters(), before, model.G.parameters()):
        assert torch.allclose(avg, old + (new.detach() - old) * (9 / 11), atol=1e-6)
    for avg, b in zip(average.buffers(), model.G.buffers(), strict=True):
        assert torch.equal(avg, b)  # BatchNorm statistics copied
    for _ in range(3):
        model.train_step(Batch(torch.rand(8, 1, 28, 28)), rng)
    assert float(model.G_ema.updates) == 4
    assert not torch.equal(next(average.parameters()), next(model.G.parameters()))
    # The step count is in the state, so a resumed run continues the same average.
    state = model.state_dict()
    assert "G_ema.updates" in state and any(k.startswith("G_ema.average.") for k in state)
    # What the run exports (generator.pt) is the average's weights, under the generator's own keys.
    assert model.generator.state_dict().keys() == model.G.state_dict().keys()


def test_without_ema_the_state_dict_is_unchanged(registries):
    config = base_config()
    config["model"]["ema_decay"] = 0.0
    model = make_model(registries, config)
    assert model.generator is model.G and model.G_ema is None
    assert not any(k.startswith("G_ema.") for k in model.state_dict())


def test_decaying_gs_info_loss_scales_gs_gradient_but_not_the_q_heads(registries):
    config = base_config()
    config["model"].update(info_decay_step=10, info_decay_factor=0.25, info_decay_factor_continuous=None)
    model = make_model(registries, config)
    assert [model.info_factors(s)["c1"] for s in (0, 9, 10, 5000)] == [1.0, 1.0, 0.25, 0.25]
    assert model.info_factors(10) == {"digit": 0.25, "c1": 0.25, "c2": 0.25}
    rng = torch.Generator().manual_seed(0)
    codes = model.latent.sample(16, rng)
    fake = model.G(model.latent.encode(codes))
    with frozen(model._d_frozen):
        full = model.g_step_losses(fake, codes)
        decayed = model.g_step_losses(fake, codes, model.info_factors(10))
        g_params, q_params = list(model.G.parameters()), list(model.D.aux_head.parameters())
        info_only = [torch.autograd.grad(out["g_loss"] - out["g_gan"], g_params + q_params, retain_graph=True)
                     for out in (full, decayed)]
    assert torch.equal(full["g_loss"], decayed["g_loss"])  # only the gradient is scaled, not the value
    n = len(g_params)
    for a, b in zip(info_only[0][:n], info_only[1][:n]):
        assert torch.allclose(b, 0.25 * a, atol=1e-6)
    for a, b in zip(info_only[0][n:], info_only[1][n:]):
        assert torch.allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("separate_q", [False, True])
def test_per_code_decay_factors_scale_each_codes_pull_on_g_alone(registries, separate_q):
    """With info_decay_factors, G's gradient from each code's term is scaled by that code's factor
    (the others keep info_decay_factor), the Q head's gradient stays the full loss's, and the
    values and the Q head's running statistics are those of the plain step."""
    config = base_config()
    config["model"].update(info_decay_step=10, info_decay_factor=0.5, info_decay_factors={"c1": 0.0, "c2": 0.2})
    if separate_q:
        config["networks"]["q"] = {"type": "infogan_mnist_discriminator"}
    model = make_model(registries, config)
    assert model.info_factors(9) == {"digit": 1.0, "c1": 1.0, "c2": 1.0}
    assert model.info_factors(10) == {"digit": 0.5, "c1": 0.0, "c2": 0.2}
    twin = copy.deepcopy(model)  # takes the decayed step alone, for its running statistics
    rng = torch.Generator().manual_seed(0)
    codes = model.latent.sample(16, rng)
    fake = model.G(model.latent.encode(codes))
    q_head = model.q_parts.aux
    g_params, q_params = list(model.G.parameters()), list(q_head.parameters())
    weights = model.info.weights
    with frozen(model._d_frozen):
        full = model.g_step_losses(fake, codes)
        after_full = copy.deepcopy(q_head.state_dict())
        decayed = model.g_step_losses(fake, codes, model.info_factors(10))

        def grads(loss):
            return torch.autograd.grad(loss, g_params + q_params, retain_graph=True)

        per_code = {name: grads(weights[name] * full[f"info_{name}"]) for name in ("digit", "c1", "c2")}
        got = grads(decayed["g_loss"] - decayed["g_gan"])
        want_q = grads(full["g_loss"] - full["g_gan"])
    assert torch.equal(full["g_loss"], decayed["g_loss"])  # only the gradient is scaled, not the value
    # The second pass through the head (on detached features) moved no running statistic.
    with frozen(twin._d_frozen):
        twin.g_step_losses(twin.G(twin.latent.encode(codes)), codes, twin.info_factors(10))
    twin_head = twin.q_parts.aux.state_dict()
    assert any("running_mean" in k for k in twin_head)
    assert all(torch.equal(v, after_full[k]) for k, v in twin_head.items())
    n = len(g_params)
    for i in range(n):
        want = 0.5 * per_code["digit"][i] + 0.0 * per_code["c1"][i] + 0.2 * per_code["c2"][i]
        assert torch.allclose(got[i], want, atol=1e-6)
    assert any(per_code["c1"][i].abs().sum() > 0 for i in range(n))  # c1 did pull on G before the decay
    for a, b in zip(got[n:], want_q[n:]):
        assert torch.allclose(a, b, atol=1e-6)


def test_train_step_applies_the_per_code_factors_from_the_decay_step_on(registries):
    """Through train_step: with every code's factor 0 from step 0, G moves as if the info loss had
    no weight at all; before the decay step it does not (the info loss pulls on G)."""
    config = base_config()
    config["model"]["info_updates_trunk"] = False  # so D's step is the same in every model below
    del config["losses"]["invariance"]
    silent = {"digit": 0.0, "c1": 0.0, "c2": 0.0}
    real = torch.rand(16, 1, 28, 28)

    def g_after_one_step(model_params: dict, info_weights: dict | None = None) -> list[torch.Tensor]:
        cfg = copy.deepcopy(config)
        cfg["model"].update(model_params)
        if info_weights is not None:
            cfg["losses"]["info"]["weights"] = info_weights
        model = make_model(registries, cfg)
        model.train_step(Batch(real, step=3), torch.Generator().manual_seed(1))
        return [p.detach().clone() for p in model.G.parameters()]

    no_info = g_after_one_step({}, silent)
    decayed = g_after_one_step({"info_decay_step": 3, "info_decay_factors": silent})
    not_yet = g_after_one_step({"info_decay_step": 4, "info_decay_factors": silent})
    assert all(torch.allclose(a, b, atol=1e-7) for a, b in zip(no_info, decayed))
    assert not all(torch.allclose(a, b, atol=1e-7) for a, b in zip(no_info, not_yet))


def test_the_continuous_codes_factor_goes_by_each_codes_kind_not_its_name(registries):
    """info_decay_factor_continuous sets every continuous code's factor (gaussian and angle, under
    any name), the discrete codes keep info_decay_factor, and a code named in info_decay_factors
    keeps its own: so a config that replaces or renames codes still validates and decays alike."""
    config = base_config()
    config["latent"] = [
        {"name": "z", "type": "noise", "dim": 8},
        {"name": "class", "type": "categorical", "k": 10},
        {"name": "tilt", "type": "angle"},
        {"name": "width", "type": "gaussian", "dim": 1},
        {"name": "height", "type": "gaussian", "dim": 1},
    ]
    config["model"].update(info_decay_step=10, info_decay_factor=0.1, info_decay_factor_continuous=1.0,
                           info_decay_factors={"height": 0.5})
    model = make_model(registries, config)
    assert model.info_factors(9) == {"class": 1.0, "tilt": 1.0, "width": 1.0, "height": 1.0}
    assert model.info_factors(10) == {"class": 0.1, "tilt": 1.0, "width": 1.0, "height": 0.5}
    config["model"].pop("info_decay_factors")
    config["model"]["info_decay_factor_continuous"] = None  # null: the continuous codes follow info_decay_factor
    assert set(make_model(registries, config).info_factors(10).values()) == {0.1}


def test_the_continuous_codes_can_decay_at_a_step_of_their_own(registries):
    """info_decay_step_continuous moves the continuous codes' change (and only theirs) to another
    step, earlier or later than the category's; a code named in info_decay_factors keeps
    info_decay_step, and without info_decay_step the category never decays."""
    config = base_config()
    config["model"].update(info_decay_step=10, info_decay_factor=0.1, info_decay_factor_continuous=0.5,
                           info_decay_step_continuous=4, info_decay_factors={"c2": 0.25})
    model = make_model(registries, config)
    assert model.info_factors(3) == {"digit": 1.0, "c1": 1.0, "c2": 1.0}
    assert model.info_factors(4) == {"digit": 1.0, "c1": 0.5, "c2": 1.0}
    assert model.info_factors(10) == {"digit": 0.1, "c1": 0.5, "c2": 0.25}
    config["model"].update(info_decay_step=None, info_decay_step_continuous=20, info_decay_factors={})
    model = make_model(registries, config)
    assert model.info_factors(19) == {"digit": 1.0, "c1": 1.0, "c2": 1.0}
    assert model.info_factors(10**6) == {"digit": 1.0, "c1": 0.5, "c2": 0.5}


@pytest.mark.parametrize(
    ("model_params", "message"),
    [
        ({"info_decay_step": None, "info_decay_factor_continuous": 1.0}, r"model\.info_decay_factor_continuous: the continuous codes' factor "
                                                r"applies from info_decay_step \(or info_decay_step_continuous\) on, "
                                                r"and neither is set"),
        ({"info_decay_step": 10, "info_decay_factor_continuous": 1.5}, r"model\.info_decay_factor_continuous"),
        ({"info_decay_step": 10, "info_decay_factor_continuous": -0.1}, r"model\.info_decay_factor_continuous"),
        ({"info_decay_step": 10, "info_decay_step_continuous": 4, "info_decay_factor_continuous": None}, r"model\.info_decay_step_continuous: "
                                                r"info_decay_step_continuous says when info_decay_factor_continuous applies, and it is not set"),
        ({"info_decay_step": 10, "info_decay_factor_continuous": 0.5, "info_decay_step_continuous": 0},
         r"model\.info_decay_step_continuous"),
    ],
)
def test_bad_continuous_decay_factors_are_config_errors(registries, model_params, message):
    config = base_config()
    config["model"].update(model_params)
    with pytest.raises(ConfigError, match=message):
        make_model(registries, config)


@pytest.mark.parametrize(
    ("factors", "step", "message"),
    [
        ({"z": 0.0}, 1404, r"model\.info_decay_factors\.z: 'z' is noise, which Q does not predict: name a code Q "
                           r"predicts \(digit, c1, c2\) or remove it$"),
        ({"c3": 0.0}, 1404, r"model\.info_decay_factors\.c3: 'c3' is not a latent code: name a code Q predicts"),
        ({"c1": 0.0}, None, r"model\.info_decay_factors: per-code factors apply from info_decay_step on, and it is not set"),
        ({"c1": 1.5}, 1404, r"model\.info_decay_factors\.c1"),
    ],
)
def test_bad_per_code_decay_factors_are_config_errors(registries, factors, step, message):
    config = base_config()
    config["model"].update(info_decay_step=step, info_decay_factors=factors)
    with pytest.raises(ConfigError, match=message):
        make_model(registries, config)


def test_a_separate_q_network_takes_every_q_loss_off_ds_trunk(registries):
    """With a network in the q role, the info and invariance losses train Q's trunk and never
    D's, whose trunk trains on the adversarial loss alone; the encoder is Q's."""
    config = base_config()
    config["networks"]["q"] = {"type": "infogan_mnist_discriminator"}
    model, real, fake, codes, d_out = _d_step_with_invariance(registries, config)
    for q_loss in ("d_info", "d_invariance"):
        assert len(_grads(d_out[q_loss], model.Q.trunk.parameters())) > 0, q_loss
        assert _grads(d_out[q_loss], model.D.parameters()) == [], q_loss
    assert len(_grads(d_out["d_gan"], model.D.trunk.parameters())) > 0
    assert _grads(d_out["d_gan"], model.Q.parameters()) == []
    with frozen(model._d_frozen):
        g_out = model.g_step_losses(fake, codes)
        assert len(_grads(g_out["info_loss"], model.Q.aux_head.parameters())) > 0
        assert len(_grads(g_out["info_loss"], model.G.parameters())) == len(list(model.G.parameters()))
        assert _grads(g_out["info_loss"], model.D.aux_head.parameters()) == []  # D's own Q head is unused
    images = torch.rand(3, 1, 28, 28)
    model.eval()
    assert torch.equal(model.encoder(images), model.Q.q_prediction(images))
    assert {id(p) for p in model.Q.trunk.parameters()} <= {id(p) for p in model._d_frozen}
    out = model.train_step(Batch(real), torch.Generator().manual_seed(1))
    assert all(torch.isfinite(v) for v in out.values())


def test_projection_conditions_d_on_the_drawn_category_for_fakes_and_qs_reading_for_real(registries):
    """With projection_step, D's logit gains <embed(y), h> from that step on: y is the code a fake
    was drawn with and the category Q reads in a real image; the embedding trains with D."""
    config = base_config()
    config["model"]["projection_step"] = 10
    model = make_model(registries, config)
    assert [model.projection_active(s) for s in (0, 9, 10, 10_000)] == [False, False, True, True]
    assert {id(p) for p in model.projection.parameters()} <= {id(p) for p in model._d_frozen}
    rng = torch.Generator().manual_seed(0)
    real = torch.rand(16, 1, 28, 28)
    codes = model.latent.sample(16, rng)
    fake = model.G(model.latent.encode(codes))

    plain = model.d_step_losses(real, fake, codes)
    projected = model.d_step_losses(real, fake, codes, projected=True)
    assert _grads(plain["d_gan"], model.projection.parameters()) == []
    assert len(_grads(projected["d_gan"], model.projection.parameters())) > 0

    # The real images' category is Q's argmax, the fakes' the one they were drawn with; a different
    # category gives a different logit.
    model.eval()  # BatchNorm on running statistics, so the parts computed apart agree
    with torch.no_grad():
        h, h_fake = model.D.trunk(real), model.D.trunk(fake)
        read = model.D.aux_head(h)[:, model.latent.prediction_slices()["digit"]].argmax(dim=1)
        expected = model.D.d_head(h).view(-1) + model.projection.project(torch.nn.functional.one_hot(read, 10), h)
        assert torch.equal(model.category_read_by_q(model.D.aux_head(h)), torch.nn.functional.one_hot(read, 10).float())
        assert torch.allclose(model._logits(h, model.category_read_by_q(model.D.aux_head(h))), expected, atol=1e-5)
        shifted = torch.nn.functional.one_hot((read + 1) % 10, 10).float()
        assert not torch.allclose(model._logits(h, shifted), expected, atol=1e-3)
        expected_fake = model.D.d_head(h_fake).view(-1) + model.projection.project(codes["digit"], h_fake)
        out = model.d_step_losses(real, fake, codes, projected=True)
        assert torch.allclose(out["d_real"], torch.sigmoid(expected).mean(), atol=1e-6)
        assert torch.allclose(out["d_fake"], torch.sigmoid(expected_fake).mean(), atol=1e-6)
    model.train()

    # In the G step the embedding is frozen with D, and G is judged with the categories it drew.
    with frozen(model._d_frozen):
        g_plain = model.g_step_losses(fake, codes)
        g_projected = model.g_step_losses(fake, codes, projected=True)
        assert not torch.equal(g_plain["g_gan"], g_projected["g_gan"])
        assert all(not p.requires_grad for p in model.projection.parameters())
        assert len(_grads(g_projected["g_gan"], model.G.parameters())) > 0

    # Through train_step: the embedding moves only from projection_step on.
    before = [p.detach().clone() for p in model.projection.parameters()]
    model.train_step(Batch(real, step=9), torch.Generator().manual_seed(1))
    assert all(torch.equal(a, b) for a, b in zip(before, model.projection.parameters()))
    model.train_step(Batch(real, step=10), torch.Generator().manual_seed(1))
    assert any(not torch.equal(a, b) for a, b in zip(before, model.projection.parameters()))


def test_projection_judges_a_real_image_whose_label_is_known_with_its_label(registries):
    """Semi-supervised (a code fed by the labels): D judges a labelled real image with its class and
    an unlabelled one with Q's reading."""
    config = json.loads((REPO / "configs" / "infogan_mnist_semisupervised.json").read_text())
    config["model"]["projection_step"] = 0
    resolved = validate_config(config, registries)
    data = DataSpec((1, 28, 28), tuple(str(i) for i in range(10)), (100,) * 10)
    torch.manual_seed(0)
    model = build_model(resolved, build_latent(resolved, data), data)
    real = torch.rand(8, 1, 28, 28)
    codes = model.latent.sample(8, torch.Generator().manual_seed(0))
    fake = model.G(model.latent.encode(codes))
    model.eval()
    with torch.no_grad():
        h = model.D.trunk(real)
        read = model.category_read_by_q(model.D.aux_head(h))
        labels = (read.argmax(dim=1) + 1) % 10  # never what Q reads, so the test tells the two apart
        labels[1::2] = UNLABELLED
        category = read.clone()
        category[0::2] = torch.nn.functional.one_hot(labels[0::2], 10).float()
        out = model.d_step_losses(real, fake, codes, projected=True, real_labels=labels)
        assert torch.allclose(out["d_real"], torch.sigmoid(model._logits(h, category)).mean(), atol=1e-6)
        assert not torch.allclose(out["d_real"], torch.sigmoid(model._logits(h, read)).mean(), atol=1e-6)
    model.train()
    # train_step hands the batch's labels to the D step while the projection is on, and only then.
    seen = []
    d_step = model.d_step_losses

    def recording(*args, **kwargs):
        seen.append(args[7] if len(args) > 7 else kwargs.get("real_labels"))
        return d_step(*args, **kwargs)

    model.d_step_losses = recording
    out = model.train_step(Batch(real, labels=labels), torch.Generator().manual_seed(1))
    assert all(torch.isfinite(v) for v in out.values())
    assert seen[-1] is labels
    model.params = model.params.model_copy(update={"projection_step": 5})
    model.train_step(Batch(real, step=4, labels=labels), torch.Generator().manual_seed(1))
    assert seen[-1] is None


@pytest.mark.parametrize("extra", [{"networks": {"q": {"type": "infogan_mnist_discriminator", "channels": [8, 16], "hidden": 32}}},
                                   {"losses": {"adversarial": {"type": "wgan_gp"}}}])
def test_projection_trains_with_a_separate_q_network_and_with_a_gradient_penalty(registries, extra):
    config = base_config()
    config["model"]["projection_step"] = 0
    for section, value in extra.items():
        config[section].update(value)
    model = make_model(registries, config)
    before = [p.detach().clone() for p in model.projection.parameters()]
    out = model.train_step(Batch(torch.rand(16, 1, 28, 28)), torch.Generator().manual_seed(0))
    assert all(torch.isfinite(v) for v in out.values())
    assert any(not torch.equal(a, b) for a, b in zip(before, model.projection.parameters()))


def test_without_projection_step_the_state_dict_has_no_projection(registries):
    without = base_config()
    without["model"].pop("projection_step", None)
    model = make_model(registries, without)
    assert model.projection is None and not any(k.startswith("projection.") for k in model.state_dict())
    with_projection = base_config()
    with_projection["model"]["projection_step"] = 0
    assert any(k.startswith("projection.") for k in make_model(registries, with_projection).state_dict())


def test_projection_step_needs_a_categorical_code(registries):
    config = base_config()
    config["model"]["projection_step"] = 0
    config["latent"] = [{"name": "z", "type": "noise", "dim": 8}, {"name": "c1", "type": "gaussian"}]
    with pytest.raises(ConfigError, match=r"^<config>: model\.projection_step: D can only be conditioned on a categorical"):
        make_model(registries, config)
