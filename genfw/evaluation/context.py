"""What an evaluation (or a model's per-epoch metrics and figures) is given to work with.

Metrics themselves are pure functions in ``genfw.metrics``; the context supplies the data, the
trained model and the helpers every measure needs (batched generation and prediction, a
reference classifier, seeded generators), so a model's ``evaluate`` stays short.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from genfw.data.base import Dataset, ImageDataset
from genfw.latent import LatentSpec


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
            chunk = {k: v[i:i + self.batch_size].to(self.device) for k, v in codes.items()}
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
            x = images[i:i + self.batch_size].to(self.device)
            x = x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()
            with torch.no_grad(), (self.autocast() if self.autocast else contextlib.nullcontext()):
                pred = self.model.predict_codes(x)
            if pred is None:
                return None
            for name, p in pred.items():
                chunks.setdefault(name, []).append(p.float().cpu())
        return {name: torch.cat(parts) for name, parts in chunks.items()}

    def reference(self):
        """The reference classifier for this dataset (trained once, then cached; see
        ``genfw.metrics.reference_net``), or a string saying why there is none."""
        if self._reference is None:
            from genfw.metrics.reference_net import reference_for

            self._reference = reference_for(self.data)
        return self._reference
