"""What genfw hands to plugin code: the context each kind of factory receives, and the
evaluation context a model's metrics, figures and ``evaluate`` work with.

Every factory is called as ``factory(params, ctx)``; ``ctx`` is one of the frozen dataclasses
below (``CodeContext`` and ``DatasetContext`` live beside the contracts they belong to and are
re-exported here). A leaf: it names the contracts it carries (the latent spec, the data) and
nothing that builds or runs them. Plugin authors import these from :mod:`genfw.api`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from genfw.data.base import Dataset, DatasetContext, ImageDataset
from genfw.data.spec import DataSpec
from genfw.latent import CodeContext, LatentSpec

if TYPE_CHECKING:
    from genfw.optim import OptimizerConfig

__all__ = [
    "AugmentationContext",
    "CodeContext",
    "DatasetContext",
    "EvalContext",
    "LoggerContext",
    "LossContext",
    "ModelContext",
    "NetworkContext",
]


@dataclass(frozen=True)
class NetworkContext:
    """What a network factory may size itself from.

    ``data`` is what the dataset provides (``data.image_shape``, ``data.num_classes``).
    ``outputs`` is the width the model asks this role's network to produce
    (``Model.network_outputs``), or None when the model does not say (a generator, whose output
    is the image)."""

    latent: LatentSpec
    data: DataSpec
    role: str  # the role it is built for, e.g. "generator"
    outputs: int | None = None

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of the dataset's images."""
        return self.data.image_shape


@dataclass(frozen=True)
class LossContext:
    """What a loss factory may size itself from."""

    latent: LatentSpec
    role: str


@dataclass(frozen=True)
class AugmentationContext:
    """What an augmentation factory may size itself from."""

    image_shape: tuple[int, int, int]
    role: str


@dataclass(frozen=True)
class LoggerContext:
    """What a logger factory receives: where the run lives and where training starts and ends."""

    run_dir: Path
    total_steps: int
    start_step: int
    quiet: bool = False
    progress_keys: tuple[str, ...] | None = None  # what the model wants a progress line to show


@dataclass(frozen=True)
class ModelContext:
    """What a model factory receives: its built networks, losses and augmentations by role (only
    the roles the config fills), the latent spec, what the dataset provides (``data``) and its
    optimizer settings. ``Model.__init__`` keeps what a model needs of it."""

    latent: LatentSpec
    data: DataSpec
    networks: dict[str, nn.Module]
    losses: dict[str, Any] = field(default_factory=dict)
    augmentations: dict[str, Any] = field(default_factory=dict)
    optimizer_configs: dict[str, OptimizerConfig] = field(default_factory=dict)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of the dataset's images."""
        return self.data.image_shape

    def optimizer(self, role: str, parameters: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
        """The optimizer the config describes for ``role`` (one of the model's
        ``optimizer_defaults``), over ``parameters``; models call ``Model.optimizer``, which
        also keeps it under its role."""
        from genfw.optim import build_optimizer

        if role not in self.optimizer_configs:
            known = ", ".join(self.optimizer_configs) or "none"
            raise RuntimeError(
                f"the model asked for optimizer role {role!r}, which its optimizer_defaults do not "
                f"declare (declared: {known})"
            )
        return build_optimizer(self.optimizer_configs[role], parameters)


@dataclass
class EvalContext:
    """A trained model and the data it is measured against.

    ``data.test`` is the held-out split (None when the dataset has none); ``data.train`` is the
    training split (without smoke-test limits when evaluating a finished run). ``samples`` is how
    many generated samples a distance measure should draw; ``seed`` seeds every draw (use
    :meth:`generator` with a distinct offset per measure).
    """

    model: Any  # genfw.model.Model
    latent: LatentSpec
    data: Dataset
    seed: int
    samples: int = 10000
    disentanglement: str = "reference"  # genfw.evaluation.disentanglement.VARIANTS: the metrics' settings
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    autocast: Callable[[], contextlib.AbstractContextManager] | None = None
    batch_size: int = 1000
    _reference: Any = field(default=None, repr=False)

    @property
    def held_out(self) -> ImageDataset | None:
        return self.data.test

    def generator(self, offset: int) -> torch.Generator:
        """A CPU generator seeded with ``seed + offset``: one per measure, so measures are
        independent of each other's order."""
        return torch.Generator().manual_seed(self.seed + offset)

    def numpy_rng(self, offset: int) -> np.random.Generator:
        return np.random.default_rng(self.seed + offset)

    def generate(self, codes: dict[str, torch.Tensor]) -> torch.Tensor:
        """Images (float ``[n, C, H, W]`` on the CPU) for code parameters, in batches."""
        names = list(codes)
        n = codes[names[0]].shape[0]
        out = []
        for i in range(0, n, self.batch_size):
            chunk = {k: v[i : i + self.batch_size].to(self.device) for k, v in codes.items()}
            out.append(self.model.generate(chunk).float().cpu())
        return torch.cat(out) if out else torch.zeros(0)

    def sample(self, n: int, offset: int) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """``n`` prior draws (seeded by ``offset``) and their images."""
        codes = self.latent.sample(n, self.generator(offset))
        return codes, self.generate(codes)

    def predict_codes(self, images: torch.Tensor) -> dict[str, torch.Tensor] | None:
        """The model's predictions of its predictable codes for images (uint8 or float in [0, 1]),
        batched, on the CPU; None when the model has no network that predicts codes."""
        chunks: dict[str, list[torch.Tensor]] = {}
        for i in range(0, len(images), self.batch_size):
            x = images[i : i + self.batch_size].to(self.device)
            x = x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()
            with torch.no_grad(), self.autocast() if self.autocast else contextlib.nullcontext():
                pred = self.model.predict_codes(x)
            if pred is None:
                return None
            for name, p in pred.items():
                chunks.setdefault(name, []).append(p.float().cpu())
        return {name: torch.cat(parts) for name, parts in chunks.items()}

    def reference(self):
        """The reference classifier for this dataset (trained once, then cached; see
        ``genfw.metrics.reference_classifier``), or a string saying why there is none."""
        if self._reference is None:
            from genfw.metrics.reference_classifier import reference_for

            self._reference = reference_for(self.data)
        return self._reference
