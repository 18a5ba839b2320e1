"""Whether a model's networks fit the dataset's images, checked by ``genfw validate`` before
anything trains: one line such as ``dataset images are 3x64x64; network 'mlp_generator'
(networks.generator) expects 1x28x28`` instead of a shape error deep inside the first step.

Three probes, from the most to the least specific:

1. a network that declares the one image shape it takes (an attribute ``expects_image_shape =
   (C, H, W)``) must match the dataset;
2. the model's generator, fed a prior draw, must make images of the dataset's shape;
3. one training step on a copy of the model, with a few real images and gradients off, must not
   fail inside a network (each network's modules are watched, so the failing one is named). With
   gradients off the step runs the networks' forward passes and stops at its first backward
   (an error outside the networks, ignored), so the probe costs a few forward passes. The copy,
   a private random generator and ``fork_rng`` leave the model and every global random state
   untouched.

Errors outside the networks are left for training to report: this check is about shapes.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from genfw.batch import Batch
from genfw.errors import ConfigError
from genfw.eval_mode import eval_mode

#: Images the probing step trains on (BatchNorm needs more than one).
PROBE_BATCH = 4


def _shape(shape: Any) -> str:
    return "x".join(str(int(v)) for v in shape)


def probe_batch(split: Any, n: int) -> Batch:
    """The first ``n`` images of a split as step 0's batch, with their labels and factors."""
    return Batch(
        split.images[:n].float().div_(255.0),
        0,
        0,
        split.labels[:n] if split.labels is not None else None,
        split.factors[:n] if split.factors is not None else None,
    )


def _first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]


def check_networks_fit(resolved, model: nn.Module, networks: dict[str, nn.Module], latent, data) -> None:
    """Raise a one-line :class:`ConfigError` when a network cannot take or make the dataset's
    images. ``networks`` are the config's networks by role (freshly built, for their types and
    declarations); ``model`` the model built from the same config."""
    image_shape = tuple(data.image_shape)
    source = resolved.source

    def fail(role: str, problem: str) -> None:
        rc = resolved.networks[role]
        raise ConfigError(
            f"dataset images are {_shape(image_shape)}; network {rc.type!r} (networks.{role}) {problem}",
            where=f"{source}: networks.{role}",
            fix="use a network sized from the data (e.g. conv_generator / conv_discriminator / "
            "conv_encoder), or a dataset of that shape (e.g. the dataset's size and channels)",
        )

    for role, net in networks.items():
        expects = getattr(net, "expects_image_shape", None)
        if expects is not None and tuple(int(v) for v in expects) != image_shape:
            fail(role, f"expects {_shape(expects)}")

    generator = getattr(model, "generator", None)
    if isinstance(generator, nn.Module):
        inside = {type(m) for m in generator.modules()}
        maker = next((r for r, net in networks.items() if type(net) in inside), None)
        with torch.random.fork_rng(devices=[]), torch.no_grad(), eval_mode(generator):
            try:
                out = generator(latent.encode(latent.sample(2, torch.Generator().manual_seed(0))))
            except Exception:
                out = None  # the training-step probe below names where it fails
        if isinstance(out, torch.Tensor) and out.dim() == 4 and tuple(out.shape[1:]) != image_shape:
            if maker is not None:
                fail(maker, f"expects {_shape(out.shape[1:])} (it generates images of that shape)")
            raise ConfigError(
                f"dataset images are {_shape(image_shape)}; the model's generator makes {_shape(out.shape[1:])} images",
                where=f"{source}: networks",
                fix="use networks sized from the data, or a dataset of that shape",
            )

    _probe_step(model, networks, data, fail)


def _probe_step(model: nn.Module, networks: dict[str, nn.Module], data, fail) -> None:
    try:
        twin: Any = copy.deepcopy(model)  # a Model: train_step is probed below
    except Exception:  # a model holding something that cannot be copied: skip this probe
        return
    roles_by_type: dict[type, list[str]] = {}
    for role, net in networks.items():
        roles_by_type.setdefault(type(net), []).append(role)
    inside: list[str] = []  # the roles of the network modules entered and not yet left

    def enter(role: str):
        def hook(module: nn.Module, args: Any) -> None:
            inside.append(role)

        return hook

    def leave(module: nn.Module, args: Any, output: Any) -> None:  # returns None: the output stays as it is
        if inside:
            inside.pop()

    handles = []
    for module in twin.modules():
        roles = roles_by_type.get(type(module))
        if not roles:
            continue
        for sub in module.modules():
            handles.append(sub.register_forward_pre_hook(enter(roles[0])))
            handles.append(sub.register_forward_hook(leave))
    n = min(PROBE_BATCH, len(data.train))
    batch = probe_batch(data.train, n)
    failure: tuple[str, BaseException] | None = None
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(0)
        twin.train()
        try:
            twin.train_step(batch, torch.Generator().manual_seed(0))
        except Exception as exc:
            if inside:
                failure = (inside[-1], exc)
        finally:
            for h in handles:
                h.remove()
    del twin
    if failure is not None:
        role, error = failure
        fail(role, f"cannot take them: {_first_line(error)}")
