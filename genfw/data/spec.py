"""What a dataset provides, as plain data: its image shape, its classes and their counts, its
factors. Everything before training is checked against it (a model that needs labels, a code fed
by the labels), and artifacts record it, so a generator loaded years later still knows what its
``class`` input's categories are called."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DataSpec:
    """The facts about a training split that models and codes may depend on.

    ``class_names`` and ``label_counts`` (images per class in the training split, in class
    order) are set together when the dataset has labels; ``factor_names`` when it has
    ground-truth factors.
    """

    image_shape: tuple[int, int, int]  # (C, H, W)
    class_names: tuple[str, ...] | None = None
    label_counts: tuple[int, ...] | None = None
    factor_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if len(self.image_shape) != 3 or not all(isinstance(x, int) and x > 0 for x in self.image_shape):
            raise ValueError(f"image_shape must be three positive ints (C, H, W), got {self.image_shape!r}")
        if (self.class_names is None) != (self.label_counts is None):
            raise ValueError("class_names and label_counts go together")
        if self.class_names is not None and self.label_counts is not None:
            if len(self.class_names) != len(self.label_counts):
                raise ValueError(f"{len(self.class_names)} class names but {len(self.label_counts)} label counts")
            if any(not isinstance(n, int) or n < 0 for n in self.label_counts):
                raise ValueError("label_counts must be non-negative ints")

    # -- what the data provides --------------------------------------------------------------------
    @property
    def has_labels(self) -> bool:
        return self.class_names is not None

    @property
    def has_factors(self) -> bool:
        return self.factor_names is not None

    @property
    def num_classes(self) -> int | None:
        return len(self.class_names) if self.class_names is not None else None

    @property
    def label_frequencies(self) -> tuple[float, ...] | None:
        """Each class's share of the training images (uniform when no image is labelled)."""
        if self.label_counts is None:
            return None
        total = sum(self.label_counts)
        k = len(self.label_counts)
        return tuple(n / total for n in self.label_counts) if total else tuple(1.0 / k for _ in range(k))

    def provides(self, need: str) -> bool:
        """Whether the data provides ``need`` (one of :data:`DATA_NEEDS`)."""
        return {"labels": self.has_labels, "factors": self.has_factors}[need]

    # -- as JSON, for artifacts ----------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "image_shape": list(self.image_shape),
            "class_names": list(self.class_names) if self.class_names is not None else None,
            "label_counts": list(self.label_counts) if self.label_counts is not None else None,
            "factor_names": list(self.factor_names) if self.factor_names is not None else None,
        }

    @classmethod
    def from_json(cls, obj: Any) -> DataSpec:
        """The spec :meth:`to_json` wrote; ValueError when ``obj`` is not one (artifacts are data:
        only strings and ints are accepted, of the shapes above)."""
        if not isinstance(obj, dict):
            raise ValueError("the data spec is not a JSON object")

        def strings(key: str) -> tuple[str, ...] | None:
            v = obj.get(key)
            if v is None:
                return None
            if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
                raise ValueError(f"the data spec's {key} is not a list of strings")
            return tuple(v)

        def ints(key: str) -> tuple[int, ...] | None:
            v = obj.get(key)
            if v is None:
                return None
            if not isinstance(v, list) or not all(isinstance(n, int) and not isinstance(n, bool) for n in v):
                raise ValueError(f"the data spec's {key} is not a list of ints")
            return tuple(v)

        shape = ints("image_shape")
        if shape is None:
            raise ValueError("the data spec has no image_shape")
        return cls(shape, strings("class_names"), ints("label_counts"), strings("factor_names"))  # type: ignore[arg-type]


#: What a model may declare it needs from the data (``Model.needs``), checked at validate time.
DATA_NEEDS = ("labels", "factors")
