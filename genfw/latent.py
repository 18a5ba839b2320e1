"""Latent codes: the unit a plugin author writes, and the ordered set a generator is fed.

A *latent-code type* (``categorical``, ``gaussian``, ``noise``, or one a plugin registers) is a
subclass of :class:`LatentCode`. A run's config names an ordered list of codes; together they
form a :class:`LatentSpec`, whose concatenation (in config order) is the generator's input.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Iterator

import torch
from pydantic import BaseModel


class LatentCode(ABC):
    """One named latent code of a given type.

    Subclasses set ``type_name`` and are constructed as ``Code(name, params)`` where ``params``
    is an instance of the pydantic model registered with the type. The rest of the framework
    relies only on what is defined here.
    """

    type_name: ClassVar[str]
    #: Continuous codes get the continuous weight of the mutual-information loss (InfoGAN: 0.1).
    continuous: ClassVar[bool] = False
    #: One-hot codes (categorical): figures give them a row per value, evaluation matches their
    #: values to class labels.
    one_hot: ClassVar[bool] = False

    def __init__(self, name: str, params: BaseModel):
        self.name = name
        self.params = params

    # -- the generator side -------------------------------------------------------------------
    @property
    @abstractmethod
    def dim(self) -> int:
        """Width of this code in the generator input (a one-hot categorical code: k)."""

    @abstractmethod
    def sample(self, n: int, generator: torch.Generator, device: torch.device | str = "cpu") -> torch.Tensor:
        """``n`` draws from the prior as float32 ``[n, dim]``, using only ``generator``."""

    @abstractmethod
    def traverse(self, steps: int) -> torch.Tensor:
        """Values to sweep when drawing a traversal figure: float32 ``[steps, dim]``."""

    # -- the Q side (codes whose mutual information with the image is maximised) --------------
    @property
    def informative(self) -> bool:
        """Whether Q predicts this code and the info loss covers it (plain noise: False)."""
        return self.q_dim > 0

    @property
    def q_dim(self) -> int:
        """How many outputs the Q head produces for this code (0: Q ignores it)."""
        return 0

    def nll(self, q_out: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood of ``value [n, dim]`` under Q's output ``q_out [n, q_dim]``.

        Returns ``[n]`` (nats). Its mean is this code's term of the mutual-information loss.
        """
        raise NotImplementedError(f"latent code type {self.type_name!r} has no Q-side likelihood")

    def entropy(self) -> float | None:
        """Entropy of the prior in nats where it is known (used to report H(c) - CE)."""
        return None

    def predict(self, q_out: torch.Tensor) -> torch.Tensor:
        """Q's point estimate of the code from ``q_out``, ``[n, dim]`` (for figures and metrics)."""
        raise NotImplementedError(f"latent code type {self.type_name!r} has no Q-side prediction")

    # -- the export side -----------------------------------------------------------------------
    def spec(self) -> dict[str, Any]:
        """JSON-ready description for the ONNX metadata, so an app can build inputs without torch.

        Always has ``name``, ``type``, ``dim`` and ``prior``. ``prior`` is an object whose ``kind``
        is one that ``genfw.runtime`` can sample (``normal``, ``uniform``, ``categorical``,
        ``bernoulli``); codes add whatever else an app needs (e.g. category ``labels``).
        """
        return {"name": self.name, "type": self.type_name, "dim": self.dim, "prior": self.prior()}

    @abstractmethod
    def prior(self) -> dict[str, Any]:
        """The prior as JSON, e.g. ``{"kind": "uniform", "low": -1.0, "high": 1.0}``."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, dim={self.dim}, params={self.params!r})"


class LatentSpec:
    """An ordered set of uniquely named latent codes; the generator sees their concatenation."""

    def __init__(self, codes: list[LatentCode]):
        names = [c.name for c in codes]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate latent code names: {', '.join(dupes)}")
        self.codes = list(codes)

    def __iter__(self) -> Iterator[LatentCode]:
        return iter(self.codes)

    def __len__(self) -> int:
        return len(self.codes)

    def __getitem__(self, name: str) -> LatentCode:
        for code in self.codes:
            if code.name == name:
                return code
        raise KeyError(f"no latent code named {name!r}; codes: {', '.join(c.name for c in self.codes)}")

    @property
    def dim(self) -> int:
        """Total generator input width."""
        return sum(c.dim for c in self.codes)

    @property
    def q_dim(self) -> int:
        """Total width of the Q head's output."""
        return sum(c.q_dim for c in self.codes)

    @property
    def informative(self) -> list[LatentCode]:
        return [c for c in self.codes if c.informative]

    def slices(self) -> dict[str, slice]:
        """Where each code sits in the concatenated generator input."""
        out, start = {}, 0
        for c in self.codes:
            out[c.name] = slice(start, start + c.dim)
            start += c.dim
        return out

    def q_slices(self) -> dict[str, slice]:
        """Where each informative code's outputs sit in the Q head's output."""
        out, start = {}, 0
        for c in self.codes:
            if c.q_dim:
                out[c.name] = slice(start, start + c.q_dim)
                start += c.q_dim
        return out

    def sample(self, n: int, generator: torch.Generator, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
        """One draw of every code, ``{name: [n, dim]}``, in config order."""
        return {c.name: c.sample(n, generator, device) for c in self.codes}

    def concat(self, values: dict[str, torch.Tensor]) -> torch.Tensor:
        """Concatenate ``{name: [n, dim]}`` in config order into the generator input ``[n, self.dim]``."""
        missing = [c.name for c in self.codes if c.name not in values]
        if missing:
            raise KeyError(f"missing latent codes: {', '.join(missing)}")
        return torch.cat([values[c.name] for c in self.codes], dim=1)

    def split(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        """Inverse of :meth:`concat`."""
        return {name: z[:, s] for name, s in self.slices().items()}

    def info_nll(self, q_out: torch.Tensor, values: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Per informative code, the mean NLL of its value under Q (scalars, in nats)."""
        return {name: self[name].nll(q_out[:, s], values[name]).mean() for name, s in self.q_slices().items()}

    def spec(self) -> dict[str, Any]:
        """The ``genfw.latent`` metadata: ``{"codes": [...]}``."""
        return {"codes": [c.spec() for c in self.codes]}


def uniform_entropy(k: int) -> float:
    """Entropy in nats of a uniform distribution over ``k`` outcomes."""
    return math.log(k)
