"""``categorical``: a one-hot code with a uniform prior over k categories."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field, model_validator

from genfw.latent import LatentCode, Traversal


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
    """One of ``k`` categories, uniform; parameters: a probability vector (one-hot when drawn).

    A prediction is ``k`` logits; its NLL is the cross-entropy, so soft targets (blends) are
    valid values too. Entropy ln k.
    """

    type_name = "categorical"
    one_hot = True
    params: CategoricalParams

    @property
    def dim(self) -> int:
        return self.params.k

    @property
    def prediction_dim(self) -> int:
        return self.params.k

    def sample(self, n: int, generator: torch.Generator, device: torch.device | str = "cpu") -> torch.Tensor:
        index = torch.randint(self.params.k, (n,), generator=generator, device=device)
        return F.one_hot(index, self.params.k).float()

    def nll(self, prediction: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        # Soft targets (blends) are valid values too, so use the full cross-entropy, not an index.
        return -(value * F.log_softmax(prediction.float(), dim=1)).sum(dim=1)

    def entropy(self) -> float:
        return math.log(self.params.k)

    def predict(self, prediction: torch.Tensor) -> torch.Tensor:
        return F.one_hot(prediction.argmax(dim=1), self.params.k).float()

    @property
    def labels(self) -> list[str]:
        return list(self.params.labels) if self.params.labels else [str(i) for i in range(self.params.k)]

    def center(self) -> torch.Tensor:
        return torch.eye(self.params.k)[0]  # another code's sweep holds this one at its first category

    def traversal(self, steps: int) -> Traversal:
        """One row stepping through the k categories (``steps`` does not apply)."""
        return Traversal(torch.eye(self.params.k).unsqueeze(0), [self.name], self.labels)

    def prior(self) -> dict[str, Any]:
        return {"kind": "categorical", "probs": [1.0 / self.params.k] * self.params.k}

    def spec(self) -> dict[str, Any]:
        spec = super().spec()
        spec["k"] = self.params.k
        spec["encoding"] = "one-hot"
        spec["labels"] = self.labels
        return spec
