"""The hooks a genfw plugin can implement. Each docstring here is the reference for plugin authors.

A plugin is a module (or an object) with functions decorated by ``genfw.hookimpl``::

    import genfw

    @genfw.hookimpl
    def register_latent_codes(register):
        register("bernoulli", BernoulliCode, params=BernoulliParams, description="binary code")

Every ``register_*`` hook receives one argument, ``register``, a callable::

    register(name: str, factory, *, params: type[pydantic.BaseModel], description: str | None = None)

- ``name`` is what configs use (``"type": "bernoulli"``); it must be unique across all loaded
  plugins, else loading fails with a message naming both plugins.
- ``params`` is a pydantic v2 model for the component's parameters: a config's fields for the
  component (everything but ``type``, and ``name`` for latent codes) are validated by it, and its
  defaults are written into the resolved config. Use ``ConfigDict(extra="forbid")`` so typos are
  caught, and ``Field(description=...)``, which ``genfw schema`` and ``genfw plugins`` show.
- ``description`` is one line for ``genfw plugins``; it defaults to the first line of the
  factory's docstring.

What ``factory`` must be differs per kind and is described by each hook below. A factory that
cannot work with what it is given (parameters that contradict each other, a latent spec it does
not support) raises ``ValueError`` with a message that says what is wrong and how to fix it;
genfw reports it as a one-line config error naming the component's JSON path (``losses.invariance:
needs a categorical latent code ...``), exit code 2, instead of a traceback.
"""

from __future__ import annotations

import pluggy

PROJECT_NAME = "genfw"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_datasets(register):
    """Register datasets.

    ``factory(params) -> genfw.data.base.ImageDataset``: the whole dataset in memory, images as
    one uint8 tensor ``[N, C, H, W]`` (labels optional, used only for evaluation). Raise
    ``genfw.errors.DataError`` with a one-line message saying where the data should be when it
    cannot be found.
    """


@hookspec
def register_latent_codes(register):
    """Register latent-code types.

    ``factory`` is a subclass of ``genfw.latent.LatentCode``; genfw constructs one per code in the
    config as ``factory(name, params)``. The subclass defines ``dim``, ``sample(n, generator,
    device)``, ``traverse(steps)`` and ``prior()``; a code that Q should predict also defines
    ``q_dim``, ``nll(q_out, value)``, ``predict(q_out)`` and ``entropy()``. ``spec()`` (JSON for
    the ONNX metadata) has a default built from ``name``, ``type_name``, ``dim`` and ``prior()``.
    See docs/writing-plugins.md for a complete example.
    """


@hookspec
def register_networks(register):
    """Register networks.

    ``factory(params, context: genfw.components.NetworkContext) -> torch.nn.Module``. The
    context carries the run's ``latent`` spec and the dataset's ``image_shape`` (C, H, W), so a
    network sizes itself from them instead of hard-coding widths. A *generator* maps
    ``[n, latent.dim]`` to images ``[n, C, H, W]`` in [0, 1]; what other roles (a discriminator,
    an encoder, ...) must provide is up to the model that uses them.
    """


@hookspec
def register_losses(register):
    """Register auxiliary losses.

    ``factory(params, context: genfw.components.LossContext) -> torch.nn.Module`` (or any
    callable). The context carries the run's ``latent`` spec. The model that uses the loss
    decides how it is called; e.g. InfoGAN's ``mutual_information`` is called as
    ``loss(q_out, codes) -> (total, {code_name: nll})``.
    """


@hookspec
def register_models(register):
    """Register models (training algorithms).

    ``factory(params, context: genfw.components.ModelContext) -> genfw.model.Model``. The
    context holds the built networks and losses by role, the latent spec and the image shape.
    The factory (usually the Model subclass itself) declares the roles it needs as class
    attributes ``network_roles`` / ``loss_roles`` and those it can use ``optional_network_roles``
    / ``optional_loss_roles``; a config that misses a needed role or names an unknown one fails
    validation. InfoGAN needs ``generator``, ``discriminator`` and ``info`` and can use
    ``invariance``.
    The model owns its optimizers and its ``train_step``; the trainer owns devices, precision,
    the loop, checkpoints and logging.
    """
