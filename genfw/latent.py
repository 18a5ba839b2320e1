"""Latent codes: the unit a plugin author writes, and the ordered set a generator is fed.

A *latent-code type* (``categorical``, ``gaussian``, ``noise``, or one a plugin registers) is a
subclass of :class:`LatentCode`. A run's config names an ordered list of codes; together they
form a :class:`LatentSpec`.

Every code has three sides:

- its **parameters** (``dim`` numbers per sample): what the prior draws, what a user sets, what
  a traversal sweeps and what a predicting network estimates. A categorical code's parameters
  are a probability vector over its k categories; a gaussian code's are ``dim`` reals.
- its **encoding**: how the parameters are fed to a network (``encode``, identity unless a code
  says otherwise, e.g. an angle fed as its cosine and sine). The generator's input is the
  concatenation of every code's encoding, in config order.
- an optional **likelihood**: how well a prediction of the parameters, made by whichever network
  a model uses for it (a GAN's auxiliary head, a VAE's encoder), explains the true values (``nll``).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from pydantic import BaseModel

from genfw.data.spec import DataSpec

#: What a code is for: a *control* a user sets (and figures sweep), or *noise* to resample.
CodeRole = Literal["control", "noise"]


@dataclass(frozen=True)
class CodeContext:
    """What a latent-code factory receives besides its params: the code's name in the config and
    what the training data provides (class names and counts, for a code fed by the labels; None
    where no data is known, e.g. a code built on its own in a test)."""

    name: str
    data: DataSpec | None = None


@dataclass(frozen=True)
class Traversal:
    """The cells of a traversal figure for one code: ``values[row, column]`` are the code's
    parameters in that cell (``[rows, columns, dim]``), every other code held fixed."""

    values: torch.Tensor
    row_labels: list[str]
    column_labels: list[str]


def format_value(x: float) -> str:
    """A swept value as a figure label: short, with its sign (``-2``, ``+0.5``)."""
    return f"{x:+.2g}" if x else "0"


class LatentCode(ABC):
    """One named latent code of a given type.

    genfw constructs one per code in the config as ``Code(params, ctx)``: ``params`` is an
    instance of the pydantic model the class annotates as ``params`` (validated), ``ctx`` a
    :class:`CodeContext`. The rest of the framework relies only on what is defined here.
    """

    type_name: ClassVar[str]
    #: ``control``: a setting a user chooses (traversal figures sweep it, apps give it a UI
    #: control); ``noise``: resampled at will. Models may treat the two differently.
    role: ClassVar[CodeRole] = "control"
    #: The parameters are real numbers (noise, gaussian, angle), as opposed to a discrete choice
    #: (categorical, bits). Models may treat such codes differently (e.g. a smaller loss weight).
    continuous: ClassVar[bool] = False
    #: The parameters are a probability vector over ``dim`` categories (``categorical``): sample
    #: grids get a row per category, and evaluations may match categories to class labels.
    one_hot: ClassVar[bool] = False
    #: The parameters are angles (radians): values that differ by a full turn (2 pi) are the same
    #: point. Evaluations use circular statistics for such codes (a circular-linear correlation
    #: instead of a rank correlation of the raw angle), traversals need not repeat the end of the
    #: range, and the spec says ``"periodic": true`` so apps can wrap a slider.
    periodic: ClassVar[bool] = False

    params: BaseModel

    def __init__(self, params: BaseModel, ctx: CodeContext):
        self.name = ctx.name
        self.params = params

    # -- codes fed by the data's labels ----------------------------------------------------------
    @property
    def from_labels(self) -> bool:
        """Whether the code's values during training are the data's labels (a class code): its
        categories are the dataset's classes. Models that support it feed a labelled image's
        class as this code's value; the trainer hands labels to the model in ``Batch.labels``."""
        return False

    def labelled_count(self, n_images: int) -> int:
        """Of ``n_images`` training images, how many keep their label for training (semi-supervised
        codes see only some); the trainer marks the others unlabelled (-1). Default: all."""
        return n_images

    def from_label_indices(self, labels: torch.Tensor) -> torch.Tensor:
        """The code's parameters ``[n, dim]`` for class indices ``labels [n]`` (a code fed by the labels)."""
        raise NotImplementedError(f"latent code type {self.type_name!r} does not take labels")

    # -- parameters ------------------------------------------------------------------------------
    @property
    @abstractmethod
    def dim(self) -> int:
        """How many parameters the code has per sample (a categorical code: k probabilities)."""

    @abstractmethod
    def sample(self, n: int, generator: torch.Generator, device: torch.device | str = "cpu") -> torch.Tensor:
        """``n`` draws of the parameters from the prior, float32 ``[n, dim]``, using only ``generator``."""

    @abstractmethod
    def prior(self) -> dict[str, Any]:
        """The prior as JSON, e.g. ``{"kind": "uniform", "low": -1.0, "high": 1.0}``."""

    def traversal_range(self) -> tuple[float, float] | None:
        """The range each parameter is swept over in traversal figures (and suggested to apps as a
        slider's range); None when the code has nothing to sweep (noise)."""
        return None

    def center(self) -> torch.Tensor:
        """The parameters a code holds while another one (or another of its own dimensions) is
        swept, ``[dim]``: the middle of the traversal range by default."""
        r = self.traversal_range()
        return torch.full((self.dim,), 0.0 if r is None else (r[0] + r[1]) / 2)

    def traversal(self, steps: int) -> Traversal | None:
        """What a traversal figure shows for this code: by default a row per dimension, each
        sweeping that dimension over :meth:`traversal_range` in ``steps`` columns while the
        others stay at :meth:`center`. None: no figure (noise)."""
        r = self.traversal_range()
        if r is None:
            return None
        sweep = torch.linspace(r[0], r[1], steps)
        values = self.center().repeat(self.dim, steps, 1)  # [dim rows, steps, dim]
        for j in range(self.dim):
            values[j, :, j] = sweep
        rows = [self.name] if self.dim == 1 else [f"{self.name}[{j}]" for j in range(self.dim)]
        return Traversal(values, rows, [format_value(float(v)) for v in sweep])

    # -- encoding: parameters -> network input -------------------------------------------------
    @property
    def input_dim(self) -> int:
        """Width of :meth:`encode`'s output in the generator input (default: ``dim``)."""
        return self.dim

    def encode(self, values: torch.Tensor) -> torch.Tensor:
        """The network input for parameters ``values [n, dim]``: ``[n, input_dim]``. Identity by
        default. It is traced into the exported ONNX graph, so apps only ever handle parameters;
        use plain tensor ops (no Python branching on values)."""
        return values

    # -- likelihood: scoring a prediction of the parameters ------------------------------------
    @property
    def prediction_dim(self) -> int:
        """How many numbers a network outputs to predict this code (0: it cannot be predicted)."""
        return 0

    @property
    def predictable(self) -> bool:
        """Whether a network's prediction of this code can be scored (``prediction_dim > 0``)."""
        return self.prediction_dim > 0

    def nll(self, prediction: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood, in nats, of parameters ``value [n, dim]`` under a network's
        prediction ``[n, prediction_dim]``, ``[n]``. A mutual-information loss and a VAE's
        posterior both use it; compute in float32 and keep it finite for any input."""
        raise NotImplementedError(f"latent code type {self.type_name!r} has no likelihood")

    def predict(self, prediction: torch.Tensor) -> torch.Tensor:
        """The point estimate of the parameters a prediction implies, ``[n, dim]``."""
        raise NotImplementedError(f"latent code type {self.type_name!r} has no likelihood")

    def entropy(self) -> float | None:
        """Entropy of the prior in nats where it is known (e.g. for the bound H(c) - NLL)."""
        return None

    # -- what apps see -------------------------------------------------------------------------
    def spec(self) -> dict[str, Any]:
        """JSON-ready description for the ONNX metadata, so an app can build inputs without torch.

        Always has ``name``, ``type``, ``dim``, ``role`` and ``prior``; ``range`` where the code
        has a traversal range (an app's suggested slider range for every parameter);
        ``"periodic": true`` for periodic codes. ``prior`` is an object whose ``kind`` is one that
        apps can sample (``normal``, ``uniform``, ``categorical``, ``bernoulli``); codes add
        whatever else an app needs (e.g. category ``labels``).
        """
        spec: dict[str, Any] = {
            "name": self.name,
            "type": self.type_name,
            "dim": self.dim,
            "role": self.role,
            "prior": self.prior(),
        }
        r = self.traversal_range()
        if r is not None:
            spec["range"] = [float(r[0]), float(r[1])]
        if self.periodic:
            spec["periodic"] = True
        return spec

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, dim={self.dim}, params={self.params!r})"


class LatentSpec:
    """An ordered set of uniquely named latent codes; the generator sees their encodings, concatenated."""

    def __init__(self, codes: list[LatentCode]):
        names = [c.name for c in codes]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate latent code names: {', '.join(dupes)}")
        tied = [c.name for c in codes if c.from_labels]
        if len(tied) > 1:
            raise ValueError(
                f"codes {', '.join(tied)} are all fed by the labels; a run has one set of labels, so "
                "at most one code may take them"
            )
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

    def path_of(self, name: str) -> str:
        """The code's JSON path in the config (``latent[2]``), for error messages."""
        return f"latent[{[c.name for c in self.codes].index(name)}]"

    @property
    def input_dim(self) -> int:
        """Width of the generator input: every code's encoding, concatenated."""
        return sum(c.input_dim for c in self.codes)

    @property
    def param_dim(self) -> int:
        """Total number of parameters over all codes."""
        return sum(c.dim for c in self.codes)

    @property
    def predictable(self) -> list[LatentCode]:
        """The codes a network's prediction can be scored for, in config order."""
        return [c for c in self.codes if c.predictable]

    @property
    def prediction_dim(self) -> int:
        """Width of a network output that predicts every predictable code."""
        return sum(c.prediction_dim for c in self.codes)

    @property
    def controls(self) -> list[LatentCode]:
        return [c for c in self.codes if c.role == "control"]

    @property
    def label_code(self) -> LatentCode | None:
        """The code fed by the data's labels (``from_labels``), if any."""
        return next((c for c in self.codes if c.from_labels), None)

    def first_categorical(self) -> LatentCode | None:
        """The first one-hot control code (figures give it a row per category), if any."""
        return next((c for c in self.codes if c.one_hot and c.role == "control"), None)

    def prediction_slices(self) -> dict[str, slice]:
        """Where each predictable code's numbers sit in a prediction of width ``prediction_dim``."""
        out, start = {}, 0
        for c in self.codes:
            if c.prediction_dim:
                out[c.name] = slice(start, start + c.prediction_dim)
                start += c.prediction_dim
        return out

    def sample(self, n: int, generator: torch.Generator, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
        """One draw of every code's parameters, ``{name: [n, dim]}``, in config order."""
        return {c.name: c.sample(n, generator, device) for c in self.codes}

    def encode(self, values: dict[str, torch.Tensor]) -> torch.Tensor:
        """The generator input for ``{name: [n, dim]}``: every code's encoding, in config order."""
        missing = [c.name for c in self.codes if c.name not in values]
        if missing:
            raise KeyError(f"missing latent codes: {', '.join(missing)}")
        return torch.cat([c.encode(values[c.name]) for c in self.codes], dim=1)

    def nll(self, prediction: torch.Tensor, values: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Per predictable code, the batch-mean NLL (nats) of its values under ``prediction``
        ``[n, prediction_dim]``."""
        return {
            name: self[name].nll(prediction[:, s], values[name]).mean() for name, s in self.prediction_slices().items()
        }

    def predict(self, prediction: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per predictable code, the point estimate of its parameters from ``prediction``."""
        return {name: self[name].predict(prediction[:, s]) for name, s in self.prediction_slices().items()}

    def spec(self) -> dict[str, Any]:
        """The ``genfw.latent`` metadata: ``{"codes": [...]}``."""
        return {"codes": [c.spec() for c in self.codes]}


def uniform_entropy(k: int) -> float:
    """Entropy in nats of a uniform distribution over ``k`` outcomes."""
    return math.log(k)
