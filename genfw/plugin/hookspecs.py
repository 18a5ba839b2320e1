"""The hooks a genfw plugin can implement. Each docstring here is the reference for plugin authors.

A plugin is a module (or an object) with functions decorated by ``hookimpl``; a plugin imports
it, and everything else it needs of genfw, from :mod:`genfw.api`::

    from genfw.api import RegisterLatentCodes, hookimpl

    @hookimpl
    def register_latent_codes(register: RegisterLatentCodes) -> None:
        register("bernoulli", BernoulliCode)

Every ``register_<kind>`` hook receives one argument, ``register``, a callable typed by a
:class:`Register` protocol per kind::

    register(name: str, factory, *, description: str | None = None) -> None

- ``name`` is what configs use (``"type": "bernoulli"``); it must be unique across all loaded
  plugins of that kind, else loading fails with a message naming both plugins.
- ``factory`` has **one shape for every kind**: ``factory(params, ctx) -> component``.

  - ``params`` is an instance of a pydantic v2 model: the config's fields for the component
    (everything but ``type``, and ``name`` for latent codes), validated, defaults filled in and
    written into the run's resolved ``config.json``. The model is stated once, as the
    annotation of the factory's first parameter (for a class: of ``__init__``'s first
    parameter after ``self``). Use ``ConfigDict(extra="forbid")`` so typos are caught, and
    ``Field(description=...)``, which ``genfw schema`` and ``genfw plugins`` show.
  - ``ctx`` is a frozen dataclass per kind (``genfw.contexts``; plugins import them from ``genfw.api``) holding what the component
    may size itself from: the latent spec, the image shape, its role, the built networks...

- ``description`` is one line for ``genfw plugins``; it defaults to the first line of the
  factory's docstring.

A factory that cannot work with what it is given (parameters that contradict each other, a
latent spec it does not support) raises ``ValueError`` with a message that says what is wrong
and how to fix it; genfw reports it as a one-line config error naming the component's JSON path
(``losses.invariance: needs a categorical latent code ...``), exit code 2, instead of a
traceback. Raise :class:`genfw.api.ConfigValueError` with ``path=`` to point at another place
in the config (e.g. the latent code a model cannot use).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import pluggy

if TYPE_CHECKING:  # the protocols only name these types; importing them here would pull in torch
    from genfw.augmentations import Augmentation
    from genfw.contexts import (
        AugmentationContext,
        CodeContext,
        DatasetContext,
        LoggerContext,
        LossContext,
        ModelContext,
        NetworkContext,
    )
    from genfw.data.base import Dataset
    from genfw.latent import LatentCode
    from genfw.loggers import Logger
    from genfw.model import Model

PROJECT_NAME = "genfw"

#: What a plugin imports from here (through :mod:`genfw.api`): the marker and the register types.
PLUGIN_NAMES = (
    "hookimpl",
    "RegisterAugmentations",
    "RegisterDatasets",
    "RegisterLatentCodes",
    "RegisterLoggers",
    "RegisterLosses",
    "RegisterModels",
    "RegisterNetworks",
)
__all__ = ["PLUGIN_NAMES", "PROJECT_NAME", "Register", "hookspec", *PLUGIN_NAMES]

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

C = TypeVar("C", contravariant=True)


class Register(Protocol[C]):
    """The ``register`` callable a ``register_<kind>`` hook receives."""

    def __call__(self, name: str, factory: C, *, description: str | None = None) -> None: ...


#: ``factory(params, ctx) -> component`` for each kind; ``Any`` stands for the plugin's params model.
DatasetFactory = Callable[[Any, "DatasetContext"], "Dataset"]
LatentCodeFactory = Callable[[Any, "CodeContext"], "LatentCode"]
NetworkFactory = Callable[[Any, "NetworkContext"], Any]  # -> torch.nn.Module
LossFactory = Callable[[Any, "LossContext"], Any]  # -> a callable, usually a torch.nn.Module
AugmentationFactory = Callable[[Any, "AugmentationContext"], "Augmentation"]
ModelFactory = Callable[[Any, "ModelContext"], "Model"]
LoggerFactory = Callable[[Any, "LoggerContext"], "Logger"]

RegisterDatasets = Register[DatasetFactory]
RegisterLatentCodes = Register[LatentCodeFactory]
RegisterNetworks = Register[NetworkFactory]
RegisterLosses = Register[LossFactory]
RegisterAugmentations = Register[AugmentationFactory]
RegisterModels = Register[ModelFactory]
RegisterLoggers = Register[LoggerFactory]


@hookspec
def register_datasets(register: RegisterDatasets) -> None:
    """Register datasets.

    ``factory(params, ctx: genfw.api.DatasetContext) -> genfw.api.Dataset``.
    A ``Dataset`` holds a ``train`` split and an optional held-out ``test`` split, each an
    ``ImageDataset``: the images in memory as one uint8 tensor ``[N, C, H, W]``, optional int64
    ``labels`` ``[N]`` with ``class_names``, and optional ``factors`` (ground-truth generative
    factors). The trainer hands labels and factors to the model with every batch
    (``genfw.batch.Batch``), models that need them say so (``Model.needs``, checked by ``genfw
    validate`` against ``Dataset.spec``, a ``genfw.data.spec.DataSpec``), and evaluation
    measures against them. ``ctx.seed`` is the run's seed, for a seeded held-out fraction. Raise ``genfw.api.DataError`` with a one-line
    message saying where the data should be when it cannot be found.
    """


@hookspec
def register_latent_codes(register: RegisterLatentCodes) -> None:
    """Register latent-code types.

    ``factory(params, ctx: genfw.api.CodeContext) -> genfw.api.LatentCode``: usually
    the ``LatentCode`` subclass itself, whose ``__init__(self, params, ctx)`` the base class
    provides (``ctx.name`` is the code's name in the config; ``ctx.data``, a
    ``genfw.data.spec.DataSpec`` or None, is what the training data provides, e.g. the classes
    of a categorical code with ``from_labels``). A code defines its parameters
    (``dim``, ``sample``, ``prior``, ``traversal_range``), optionally how they are fed to a
    network (``encode``, ``input_dim``), and optionally how a prediction of them is scored
    (``prediction_dim``, ``nll``, ``predict``, ``entropy``), which any model's predicting
    network uses: a GAN's auxiliary head, a VAE's encoder. See ``genfw.api.LatentCode`` and
    docs/writing-plugins.md.
    """


@hookspec
def register_networks(register: RegisterNetworks) -> None:
    """Register networks.

    ``factory(params, ctx: genfw.api.NetworkContext) -> torch.nn.Module``. The context
    carries the run's ``latent`` spec, what the dataset provides (``data``, a
    ``genfw.data.spec.DataSpec``: ``ctx.image_shape`` (C, H, W) is ``data.image_shape``,
    ``data.num_classes`` the class count), the ``role`` it is built for and ``outputs``: the width the model asks this role's network to produce
    (``Model.network_outputs``; e.g. a model may ask its discriminator for an auxiliary
    head of ``latent.prediction_dim`` outputs, a VAE its encoder for the same), or None. A network
    sizes itself from these instead of hard-coding widths. A network used as a generator maps
    ``[n, latent.input_dim]`` to images ``[n, C, H, W]`` in [0, 1]; what other roles must
    provide is up to the model that uses them. A network built for one image shape only says so
    with an attribute ``expects_image_shape = (C, H, W)``; ``genfw validate`` then names the
    mismatch with the dataset in one line (it also probes the generator's output and one
    training step, see ``genfw.networks.fit``).
    """


@hookspec
def register_losses(register: RegisterLosses) -> None:
    """Register losses.

    ``factory(params, ctx: genfw.api.LossContext) -> torch.nn.Module`` (or any
    callable). The context carries the run's ``latent`` spec and the ``role``. The model that
    uses the loss decides how it is called. Two families ship with genfw:

    - adversarial losses (``non_saturating``, ``hinge``, ``wgan_gp``), instances of
      ``genfw.gan.losses.AdversarialLoss``: ``discriminator_loss(real_logits, fake_logits)``,
      ``generator_loss(fake_logits)`` and, where ``has_penalty`` is true (``wgan_gp``),
      ``penalty(critic, real, fake, rng)``;
    - model-specific losses, called however their model documents (a plugin's own).
    """


@hookspec
def register_augmentations(register: RegisterAugmentations) -> None:
    """Register augmentations (differentiable image transforms such as DiffAugment's).

    ``factory(params, ctx: genfw.api.AugmentationContext) ->
    genfw.augmentations.Augmentation``: a callable ``augment(images, rng) -> images`` on float
    ``[n, C, H, W]`` batches that draws every random number from ``rng`` and is differentiable in
    ``images`` (GANs augment fakes too, and G's gradient flows through). Models declare the roles
    they apply augmentations in; the config fills them (``"augmentations": {"discriminator":
    {"type": "translate", "max_px": 2}}``).
    """


@hookspec
def register_models(register: RegisterModels) -> None:
    """Register models (training algorithms).

    ``factory(params, ctx: genfw.api.ModelContext) -> genfw.api.Model``, usually the
    ``Model`` subclass itself, whose ``__init__`` calls ``super().__init__(params, ctx)`` first.
    The context holds the built networks, losses and augmentations by role, the latent spec and
    what the dataset provides (``data``, a ``genfw.data.spec.DataSpec``); the model builds each
    optimizer the config's ``optimizers.<role>`` describes with ``self.optimizer(role,
    parameters)``. The class declares the roles it needs and can use (``network_roles``,
    ``loss_roles``, ``augmentation_roles``, each a ``genfw.model.Roles``), its default optimizers
    (``optimizer_defaults``), what it needs from the data (``needs``, e.g. ``("labels",)``), and
    may check the latent spec and the data before anything is built (the classmethod
    ``check(params, latent, data)``, run by ``genfw validate``). The model owns its optimizers,
    its ``train_step(batch, rng)`` (a ``genfw.model.Batch``: images, and labels and factors when
    the dataset has them), its ``generator`` (what is exported) and, optionally, its loss-curve
    panels (``curves()``), per-epoch metrics, figures and evaluation sections; the trainer owns
    devices, precision, the loop, learning-rate schedules, checkpoints and logging. See
    ``genfw.api.Model`` and docs/writing-models.md.
    """


@hookspec
def register_loggers(register: RegisterLoggers) -> None:
    """Register loggers: where a run's scalars and figures go besides ``metrics.jsonl``.

    ``factory(params, ctx: genfw.api.LoggerContext) -> genfw.api.Logger``. The
    context holds the run directory, the total and starting step and whether the run is quiet.
    A logger receives every scalar record and every figure a run writes; configs list them as
    ``"loggers": [{"type": "console"}, {"type": "tensorboard"}]``. Only the process that writes
    the run (rank 0) calls loggers.
    """
