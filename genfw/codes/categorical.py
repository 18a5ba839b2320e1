"""``categorical``: a one-hot code over k categories, uniform, or fed by the data's labels.

With ``from_labels`` the categories are the dataset's classes: the code's training values are
the labels (a class-conditional model feeds a real image's class), its prior is the classes'
frequencies in the training split and its category labels are the class names, so an exported
generator's input means the named class without any matching. ``labelled_count`` or
``labelled_fraction`` keep only some labels (a seeded, class-balanced subset): semi-supervised
training, e.g. 100 labelled MNIST digits.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field, model_validator

from genfw.latent import CodeContext, LatentCode, Traversal


class CategoricalParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    k: int | None = Field(None, ge=2, le=100_000, description="Number of categories")
    labels: list[str] | None = Field(
        None, description="Optional names of the categories (k of them; with from_labels: the class names)"
    )
    from_labels: bool = Field(
        False,
        description="The categories are the dataset's classes (k defaults to their "
        "count): training feeds each labelled image's class, the prior is the class frequencies, "
        "the labels the class names",
    )
    labelled_count: int | None = Field(
        None,
        gt=0,
        description="With from_labels: keep the labels of only this many "
        "training images (a seeded subset, balanced over the classes); null: all",
    )
    labelled_fraction: float | None = Field(
        None,
        gt=0,
        le=1,
        description="With from_labels: keep the labels of only this share of the training images; null: all",
    )

    @model_validator(mode="after")
    def _consistent(self) -> CategoricalParams:
        if self.from_labels:
            if self.labels is not None:
                raise ValueError(
                    "labels cannot be set with from_labels (the category labels are the dataset's class "
                    "names); remove labels"
                )
            if self.labelled_count is not None and self.labelled_fraction is not None:
                raise ValueError("set labelled_count or labelled_fraction, not both")
            return self
        for name in ("labelled_count", "labelled_fraction"):
            if getattr(self, name) is not None:
                raise ValueError(
                    f'{name} applies to a code fed by the labels; add "from_labels": true or remove {name}'
                )
        if self.k is None:
            raise ValueError("k is required (the number of categories), unless from_labels takes it from the dataset")
        if self.labels is not None and len(self.labels) != self.k:
            raise ValueError(f"labels has {len(self.labels)} names but k is {self.k}")
        if self.labels is not None and len(set(self.labels)) != len(self.labels):
            twice = sorted({x for x in self.labels if self.labels.count(x) > 1})
            raise ValueError(f"labels must be distinct: {', '.join(map(repr, twice))} appear more than once")
        return self


class CategoricalCode(LatentCode):
    """One of ``k`` categories; parameters: a probability vector (one-hot when drawn).

    The prior is uniform (entropy ln k), or the class frequencies with ``from_labels``. A
    prediction is ``k`` logits; its NLL is the cross-entropy, so soft targets (blends) are valid
    values too.
    """

    type_name = "categorical"
    one_hot = True
    params: CategoricalParams

    def __init__(self, params: CategoricalParams, ctx: CodeContext):
        super().__init__(params, ctx)
        self.k: int = params.k or 0
        self._labels = list(params.labels) if params.labels else [str(i) for i in range(self.k)]
        self._probs: list[float] | None = None  # None: uniform
        if params.from_labels:
            data = ctx.data
            if data is None or data.class_names is None or data.label_frequencies is None:
                raise ValueError(
                    "from_labels needs a dataset with labels, and this one has none; use a labelled "
                    "dataset or remove from_labels"
                )
            if params.k is not None and params.k != len(data.class_names):
                raise ValueError(
                    f"k is {params.k} but the dataset has {len(data.class_names)} classes; remove k "
                    "(from_labels takes it from the dataset)"
                )
            self.k = len(data.class_names)
            self._labels = list(data.class_names)
            self._probs = list(data.label_frequencies)

    @property
    def from_labels(self) -> bool:
        return self.params.from_labels

    def labelled_count(self, n_images: int) -> int:
        if self.params.labelled_count is not None:
            return min(self.params.labelled_count, n_images)
        if self.params.labelled_fraction is not None:
            return max(1, round(self.params.labelled_fraction * n_images))
        return n_images

    def from_label_indices(self, labels: torch.Tensor) -> torch.Tensor:
        """One-hot ``[n, k]`` for class indices; an unlabelled image (-1) gets all zeros."""
        return F.one_hot(labels.clamp(min=0), self.k).float() * (labels >= 0).unsqueeze(1).float()

    @property
    def dim(self) -> int:
        return self.k

    @property
    def prediction_dim(self) -> int:
        return self.k

    def sample(self, n: int, generator: torch.Generator, device: torch.device | str = "cpu") -> torch.Tensor:
        if self._probs is None:
            index = torch.randint(self.k, (n,), generator=generator, device=device)
        else:
            probs = torch.tensor(self._probs, dtype=torch.float32, device=device)
            index = torch.multinomial(probs, n, replacement=True, generator=generator)
        return F.one_hot(index, self.k).float()

    def nll(self, prediction: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        # Soft targets (blends) are valid values too, so use the full cross-entropy, not an index.
        return -(value * F.log_softmax(prediction.float(), dim=1)).sum(dim=1)

    def entropy(self) -> float:
        if self._probs is None:
            return math.log(self.k)
        return -sum(p * math.log(p) for p in self._probs if p > 0)

    def predict(self, prediction: torch.Tensor) -> torch.Tensor:
        return F.one_hot(prediction.argmax(dim=1), self.k).float()

    @property
    def labels(self) -> list[str]:
        """The categories' names: the config's, the dataset's class names with from_labels, else 0..k-1."""
        return list(self._labels)

    def center(self) -> torch.Tensor:
        return torch.eye(self.k)[0]  # another code's sweep holds this one at its first category

    def traversal(self, steps: int) -> Traversal:
        """One row stepping through the k categories (``steps`` does not apply)."""
        return Traversal(torch.eye(self.k).unsqueeze(0), [self.name], self.labels)

    def prior(self) -> dict[str, Any]:
        return {
            "kind": "categorical",
            "probs": list(self._probs) if self._probs is not None else [1.0 / self.k] * self.k,
        }

    def spec(self) -> dict[str, Any]:
        spec = super().spec()
        spec["k"] = self.k
        spec["encoding"] = "one-hot"
        spec["labels"] = self.labels
        if self.from_labels:
            spec["from_labels"] = True  # the categories are the training data's classes, by name
        return spec
