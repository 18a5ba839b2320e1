"""The model contract: a training algorithm that owns its networks, optimizers and train step.

The trainer, the figures, evaluation and export only ever talk to a model through this class,
so a new model (a GAN, a β-VAE, a class-conditional GAN, yours) gets all of them without touching
the core. What a subclass must write: ``__init__`` (calling ``super().__init__(params, ctx)`` and
building its optimizers with :meth:`Model.optimizer`), ``train_step`` and ``generator``. What it
may add: what it needs from the data (``needs``), requirements checked at ``genfw validate``
(``check``), the widths it needs from its networks (``network_outputs``), the loss curve's
panels (``curves``), per-epoch metrics, figures and sections of ``eval.json``, and an
``encoder`` from images back to their codes (exported by ``genfw export --encoder``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from pydantic import BaseModel
from torch import nn

from genfw.batch import Batch
from genfw.data.spec import DataSpec
from genfw.eval_mode import eval_mode
from genfw.latent import LatentSpec

if TYPE_CHECKING:
    from genfw.contexts import EvalContext, ModelContext
    from genfw.plots import ImageGrid

__all__ = ["Batch", "DataSpec", "Model", "Roles", "eval_mode"]


@dataclass(frozen=True)
class Roles:
    """The roles of one kind (networks, losses, augmentations) a model needs and those it can use.
    A config that misses a required role, or fills one the model would ignore, fails validation."""

    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()

    @property
    def all(self) -> tuple[str, ...]:
        return self.required + self.optional


class Model(nn.Module, ABC):
    """A training algorithm (a GAN, a VAE, ...).

    Constructed as ``Model(params, ctx)`` (``genfw.api.ModelContext``); a subclass calls
    ``super().__init__(params, ctx)`` first, which keeps ``self.params``, ``self.latent`` and
    ``self.data`` (what the dataset provides). The trainer calls :meth:`train_step` once per
    batch inside its precision context and never looks inside.
    """

    #: What the model needs from the data besides images: ``"labels"`` (a class-conditional
    #: model), ``"factors"``. ``genfw validate`` rejects a dataset that lacks one, in one line.
    needs: ClassVar[tuple[str, ...]] = ()
    #: The network roles the config must (and may) fill: ``"networks": {"<role>": {...}}``.
    network_roles: ClassVar[Roles] = Roles(required=("generator",))
    #: The loss roles: ``"losses": {"<role>": {...}}``.
    loss_roles: ClassVar[Roles] = Roles()
    #: The augmentation roles: ``"augmentations": {"<role>": {...}}``.
    augmentation_roles: ClassVar[Roles] = Roles()
    #: The optimizer roles and their defaults (fields of ``genfw.optim.OptimizerConfig``,
    #: including a learning-rate ``schedule``); a config's ``"optimizers": {"<role>": {...}}``
    #: overrides fields. Build each with ``self.optimizer(role, parameters)``.
    optimizer_defaults: ClassVar[Mapping[str, Mapping[str, Any]]] = {}
    #: What the progress line shows. None: the first four keys ``train_step`` returns.
    progress_keys: ClassVar[tuple[str, ...] | None] = None

    params: BaseModel
    latent: LatentSpec
    data: DataSpec
    #: The batches trained so far (``Batch.step`` of the next batch), kept up to date by the
    #: trainer and restored on resume: for what a model computes outside ``train_step``.
    global_step: int = 0
    #: Set by the trainer for fp16 (a torch.amp.GradScaler); models call backward()/step() below.
    grad_scaler: torch.amp.GradScaler | None = None
    #: Set by the trainer when several processes train together: averages an optimizer's
    #: gradients over them before it steps (see genfw.training.distributed).
    grad_sync: Callable[[torch.optim.Optimizer], None] | None = None

    def __init__(self, params: BaseModel, ctx: ModelContext):
        super().__init__()
        self.params = params
        self.latent = ctx.latent
        self.data = ctx.data
        self._context = ctx
        self._optimizers: dict[str, torch.optim.Optimizer] = {}

    # -- checks before anything is built -----------------------------------------------------------
    # ``params`` is Any in these two so a subclass annotates it with its own params class.
    @classmethod
    def check(cls, params: Any, latent: LatentSpec, data: DataSpec) -> None:
        """Reject a latent spec or dataset this model cannot train on, by raising
        ``genfw.errors.ConfigValueError(message, path=latent.path_of(name))``. ``genfw validate``
        and ``genfw run`` call it before any network is built, after checking :attr:`needs`.
        ``data.image_shape`` is the images' (C, H, W)."""

    @classmethod
    def network_outputs(cls, params: Any, latent: LatentSpec) -> dict[str, int]:
        """The output width this model needs from the network of each role (passed to the
        network factory as ``ctx.outputs``), e.g. ``{"encoder": latent.prediction_dim}``."""
        return {}

    # -- optimizers --------------------------------------------------------------------------------
    def optimizer(self, role: str, parameters: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
        """The optimizer the config describes for ``role`` (one of :attr:`optimizer_defaults`),
        over ``parameters``; kept under its role for checkpoints and learning-rate schedules."""
        if role in self._optimizers:
            raise RuntimeError(f"the model built optimizer role {role!r} twice")
        opt = self._context.optimizer(role, parameters)
        self._optimizers[role] = opt
        return opt

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """The optimizers by role, as :meth:`optimizer` built them: what checkpoints save and
        schedules step."""
        return dict(self._optimizers)

    # -- training ----------------------------------------------------------------------------------
    def backward(self, loss: torch.Tensor) -> None:
        """``loss.backward()``, scaled when the trainer runs in fp16."""
        (self.grad_scaler.scale(loss) if self.grad_scaler is not None else loss).backward()

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        """``optimizer.step()``: with the gradients averaged over the processes when several train
        together, and unscaled (skipped on overflow) when the trainer runs in fp16. Always step
        through this, so a model works unchanged on one process or many."""
        if self.grad_sync is not None:
            self.grad_sync(optimizer)
        if self.grad_scaler is not None:
            self.grad_scaler.step(optimizer)
        else:
            optimizer.step()
        # Autocast keeps the low-precision copies of the weights it cast until its context ends;
        # the trainer's context spans the whole train step, so after the weights move those
        # copies are stale: a network called again in the same step (a second critic step, a
        # generator step through D) must see its new weights.
        torch.clear_autocast_cache()

    @abstractmethod
    def train_step(self, batch: Batch, rng: torch.Generator) -> dict[str, torch.Tensor]:
        """One training step on a batch: ``batch.images`` (float ``[n, C, H, W]`` in [0, 1]),
        ``batch.labels`` and ``batch.factors`` when the dataset has them, ``batch.step`` and
        ``batch.epoch``.

        Take as many optimizer steps as the algorithm needs (a critic step every batch, a
        generator step every 5th: ``if batch.step % 5 == 0``), each through :meth:`step`. Draw
        every random number from ``rng``. Return scalar tensors to log (``d_loss``, ...); a key
        returned on some steps only is averaged over the steps that returned it. Do not call
        ``.item()``: the trainer reads them only when it logs, so the hot path never waits for
        the device.
        """

    @property
    @abstractmethod
    def generator(self) -> nn.Module:
        """What the run samples from and exports: a module mapping the generator input
        ``[n, latent.input_dim]`` (``latent.encode(codes)``) to images ``[n, C, H, W]`` in [0, 1].
        It may be one network, a moving average of one, or several composed; its state dict is
        what ``generator.pt`` stores."""

    @property
    def encoder(self) -> nn.Module | None:
        """The way back from an image to its codes, for models with a network that predicts them
        (a GAN's auxiliary head, a VAE's encoder); None (the default): the model has none.

        A module mapping images ``[n, C, H, W]`` (float in [0, 1], as the dataset gives them) to
        the raw prediction ``[n, latent.prediction_dim]``, laid out as
        ``latent.prediction_slices()`` says (``latent[name].predict`` turns a code's slice into
        its parameters). In eval mode each image's prediction depends on that image alone (no
        batch statistic): ``genfw export --encoder`` exports it with a dynamic batch, apps encode
        one image at a time, and ``eval.json``'s ``reconstruction`` section measures
        ``generator(encoder(x))``. Its parameters belong to the model (state dict, optimizers):
        return the network the model holds, or a module built on each call around networks it holds.

        A model that overrides it (with a setter) may keep its network as ``self.encoder``, as
        the β-VAE does; a model that does not may not use the name for a network of its own
        (see :meth:`__setattr__`)."""
        return None

    def __setattr__(self, name: str, value: Any) -> None:
        # ``self.encoder = network`` on a model that keeps the default ``encoder`` would store the
        # network where reading ``self.encoder`` never finds it (the property answers None):
        # say so at once, instead of a NoneType error later.
        if name == "encoder" and getattr(type(self), "encoder", None) is Model.__dict__["encoder"]:
            from genfw.errors import PluginError

            raise PluginError(
                f"model {type(self).__name__} sets self.encoder, a name Model keeps for the image-to-codes "
                "encoder it exports (Model.encoder)",
                fix="keep the network under another name (e.g. self.encoder_net), or override the encoder "
                "property when the network's output is laid out as latent.prediction_slices() says",
            )
        super().__setattr__(name, value)

    # -- using the trained model -------------------------------------------------------------------
    def prepare_generator(self, rng: torch.Generator) -> None:
        """Bring :attr:`generator` up to date before it is sampled or saved. The trainer calls
        this on every process before each epoch's samples and metrics and before each checkpoint
        (so also before the end-of-run evaluation and export), inside the run's precision context,
        with an RNG of its own on the run's device seeded by the run's seed: training's draws are
        untouched, and the result depends on the weights, the seed, the device and the precision.

        The default does nothing. A GAN that samples from a moving average of its generator
        measures the average's own BatchNorm statistics here
        (``self.G_ema.recompute_batchnorm(self.prior_inputs(rng))``): the copied ones belong to
        the trained weights, not the averaged ones, and cost the samples fidelity."""

    PRIOR_INPUT_SAMPLES: ClassVar[int] = 4096  # enough for BatchNorm statistics to settle
    PRIOR_INPUT_BATCH: ClassVar[int] = 128

    def prior_inputs(self, rng: torch.Generator) -> Iterator[torch.Tensor]:
        """Generator inputs (``latent.encode`` of prior draws), :attr:`PRIOR_INPUT_SAMPLES` of
        them in batches of :attr:`PRIOR_INPUT_BATCH`, drawn lazily from ``rng`` on its device."""
        for start in range(0, self.PRIOR_INPUT_SAMPLES, self.PRIOR_INPUT_BATCH):
            n = min(self.PRIOR_INPUT_BATCH, self.PRIOR_INPUT_SAMPLES - start)
            yield self.latent.encode(self.latent.sample(n, rng, rng.device))

    @torch.no_grad()
    def generate(self, codes: dict[str, torch.Tensor]) -> torch.Tensor:
        """Images for the given code parameters, with the generator in eval mode (BatchNorm uses
        its running statistics, so a sample does not depend on the rest of its batch)."""
        generator = self.generator
        with eval_mode(generator):
            return generator(self.latent.encode(codes)).float()

    @torch.no_grad()
    def predict_codes(self, images: torch.Tensor) -> dict[str, torch.Tensor] | None:
        """The :attr:`encoder`'s raw prediction per predictable code, ``{name: [n, prediction_dim]}``
        (``latent[name].predict`` turns one into parameters), in eval mode; None: the model has
        no encoder. Evaluation uses it (e.g. disentanglement metrics against a dataset's factors)."""
        encoder = self.encoder
        if encoder is None:
            return None
        with eval_mode(encoder):
            prediction = encoder(images).float()
        return {name: prediction[:, s] for name, s in self.latent.prediction_slices().items()}

    # -- what the model adds to a run's record -----------------------------------------------------
    def curves(self) -> Mapping[str, tuple[str, ...]] | None:
        """What ``loss_curve.png`` plots: ``{panel title: (keys of train_step's result or of the
        per-epoch metrics, ...)}``, for this run (keys may depend on the config, e.g. on the
        code names). None: every key ``train_step`` returns, a panel each. ``genfw validate``
        rejects a key the run never logs. The learning rates (``lr_<role>``) get a panel of
        their own when a schedule changes them."""
        return None

    def epoch_metrics(self, ctx: EvalContext) -> dict[str, float]:
        """Metrics logged at the end of every epoch (``metrics.jsonl``, event ``epoch_end``), e.g. how
        well a predicting network reads a code off held-out images. Keep them cheap: they run during training."""
        return {}

    def figures(self, ctx: EvalContext) -> dict[str, ImageGrid]:
        """Figures of the model's own, by file name (written as ``figures/<name>.png`` at the end
        of a run and sent to loggers), e.g. a VAE's reconstructions."""
        return {}

    def evaluate(self, ctx: EvalContext) -> dict[str, Any]:
        """Sections of ``eval.json`` the model adds to genfw's generic measures, by name; each a
        JSON-able dict that records its own sample counts and seeds."""
        return {}

    @classmethod
    def describe_evaluation(cls, sections: dict[str, Any]) -> list[str]:
        """The lines ``genfw eval`` prints for the sections :meth:`evaluate` returned (default:
        each section's top-level numbers)."""
        lines = []
        for name, section in sections.items():
            numbers = {k: v for k, v in section.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
            shown = "  ".join(f"{k} {v:.4g}" for k, v in numbers.items())
            lines.append(f"  {name}: {shown}" if shown else f"  {name}")
        return lines

    @classmethod
    def category_meanings(cls, sections: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """What the categories of unsupervised categorical codes came to mean, read from the
        sections :meth:`evaluate` wrote (``eval.json``): ``{code: per_value}`` with
        ``per_value["3"] = {"class": 8, "label": "8", "share": 0.99}``, one entry per category. ``genfw export`` labels the
        exported code's categories with them (apps show "8 (99%)" instead of "3"). Codes fed
        by the labels need none: their categories are the class names. Default: none."""
        return {}

    @classmethod
    def control_meanings(cls, sections: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        """What each dimension of continuous control codes came to do, read from the sections
        :meth:`evaluate` wrote: ``{code: [{"property": "slant", "statistic": "spearman",
        "correlation": -0.91}, ...]}``, one entry per dimension of the code (a property the
        evaluation measured on the images, and how strongly the code moves it). ``genfw export``
        puts them in the code's spec as ``meaning``, so an app can name its sliders ("slant,
        ρ = -0.91"). Default: none."""
        return {}
