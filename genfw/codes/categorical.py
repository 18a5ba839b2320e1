"""``categorical``: a one-hot code with a uniform prior over k categories."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field, model_validator

from genfw.latent import LatentCode


class CategoricalParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    k: int = Field(..., ge=2, description="Number of categories")
    labels: list[str] | None = Field(None, description="Optional names of the categories (k of them)")

    @model_validator(mode="after")
    def _labels_match_k(self) -> "CategoricalParams":
        if self.labels is not None and len(self.labels) != self.k:
            raise ValueError(f"labels has {len(self.labels)} names but k is {self.k}")
        if self.labels is not None and len(set(self.labels)) != len(self.labels):
            twice = sorted({x for x in self.labels if self.labels.count(x) > 1})
            raise ValueError(f"labels must be distinct: {', '.join(map(repr, twice))} appear more than once")
        return self


class CategoricalCode(LatentCode):
    """Uniform over ``k`` categories, fed one-hot; Q outputs logits, NLL = cross-entropy, H = ln k."""

    type_name = "categorical"
    one_hot = True
    params: CategoricalParams

    @property
    def dim(self) -> int:
        return self.params.k

    @property
    def q_dim(self) -> int:
        return self.params.k

    def sample(self, n: int, generator: torch.Generator, device: torch.device | str = "cpu") -> torch.Tensor:
        index = torch.randint(self.params.k, (n,), generator=generator, device=device)
        return F.one_hot(index, self.params.k).float()

    def nll(self, q_out: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        # Soft targets (blends) are valid values too, so use the full cross-entropy, not an index.
        return -(value * F.log_softmax(q_out.float(), dim=1)).sum(dim=1)

    def entropy(self) -> float:
        return math.log(self.params.k)

    def predict(self, q_out: torch.Tensor) -> torch.Tensor:
        return F.one_hot(q_out.argmax(dim=1), self.params.k).float()

    def traverse(self, steps: int) -> torch.Tensor:
        return F.one_hot(torch.arange(steps) % self.params.k, self.params.k).float()

    def prior(self) -> dict[str, Any]:
        return {"kind": "categorical", "probs": [1.0 / self.params.k] * self.params.k}

    def spec(self) -> dict[str, Any]:
        spec = super().spec()
        spec["k"] = self.params.k
        spec["encoding"] = "one-hot"
        spec["labels"] = list(self.params.labels) if self.params.labels else [str(i) for i in range(self.params.k)]
        return spec
