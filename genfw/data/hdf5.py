"""Images (and optional labels and factors) from an HDF5 file, read with h5py in chunks.

The file holds a uint8 image dataset, ``[N, H, W]``, ``[N, H, W, C]`` or ``[N, C, H, W]`` as the
``layout`` parameter states (C = 1 or 3), and optionally::

    labels   [N]     integer class labels (class names: the ``class_names`` parameter, or the
                     dataset's ``class_names`` attribute)
    factors  [N, F]  ground-truth factors of variation, any numeric type; each column is mapped to
                     the index of its value among that column's sorted distinct values (factor
                     names: the ``factor_names`` parameter, or the dataset's ``names`` attribute)

all under ``group`` (default the root). A given held-out split lives in another group with the
same dataset names (``test_group``); without one, a seeded fraction (``held_out``) is held out.

The images are read ``chunk_mb`` at a time straight into the split they belong to (each row
lands in the one tensor that keeps it), so the file's images are never in memory twice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from genfw.data.base import Dataset, DatasetContext, ImageDataset
from genfw.data.common import held_out_split, resolve_data_path
from genfw.errors import DataError

LAYOUTS = {"NHW": 3, "NHWC": 4, "NCHW": 4}


class HDF5Params(BaseModel):
    """Parameters of the ``hdf5`` dataset."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(..., min_length=1, description="The HDF5 file; a relative path is looked up in the current "
                      "directory, then under $GENFW_DATA")
    layout: Literal["NHW", "NHWC", "NCHW"] = Field(..., description="How the image dataset's axes are ordered "
                                                   "(NHW: greyscale without a channel axis)")
    images: str = Field("images", min_length=1, description="The uint8 image dataset, relative to group")
    labels: str | None = Field(None, description="The integer label dataset [N]; default: 'labels' when the file "
                               "has it")
    factors: str | None = Field(None, description="The factor dataset [N, F]; default: 'factors' when the file has it")
    class_names: list[str] | None = Field(None, description="Names of the label values 0..K-1 (default: the labels "
                                          "dataset's class_names attribute)")
    factor_names: list[str] | None = Field(None, description="Names of the factor columns (default: the factors "
                                           "dataset's names attribute, else factor0, factor1, ...)")
    group: str = Field("/", description="The group holding the training data")
    test_group: str | None = Field(None, description="A group holding a given held-out split (same dataset names); "
                                   "without one, a seeded held_out fraction is held out")
    held_out: float = Field(0.1, ge=0, lt=1, description="The fraction held out for evaluation when there is no "
                            "test_group (chosen by the run's seed; 0: none)")
    limit: int | None = Field(None, gt=0, description="Train on only the first N training images (smoke tests; "
                              "evaluation still uses every image)")
    chunk_mb: int = Field(64, gt=0, le=65536, description="Megabytes of images read at a time")


def _join(group: str, name: str) -> str:
    return name if name.startswith("/") else f"{group.rstrip('/')}/{name}"


def _inventory(f: Any) -> str:
    """A short list of the datasets in a file, for messages."""
    import h5py

    names: list[str] = []

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset) and len(names) < 9:
            names.append(f"/{name} {list(obj.shape)} {obj.dtype}")

    f.visititems(visit)
    if not names:
        return "it has no datasets"
    return "it has " + ", ".join(names[:8]) + (" ..." if len(names) > 8 else "")


class _Source:
    """One split's datasets in the open file, checked."""

    def __init__(self, f: Any, file: Path, params: HDF5Params, group: str, where: str):
        self.file = file
        self.where = where
        path = _join(group, params.images)
        self.images = self._dataset(f, path, "images", required=True)
        ds = self.images
        want = LAYOUTS[params.layout]
        if ds.ndim != want:
            raise DataError(f"dataset {path} in {file.name} has shape {list(ds.shape)}: {ds.ndim} axes, but layout "
                            f"{params.layout} has {want}", where=where, fix="set dataset.layout to how its axes are "
                            "ordered (NHW, NHWC or NCHW)")
        if ds.dtype != np.uint8:
            raise DataError(f"dataset {path} in {file.name} holds {ds.dtype}, not uint8 images", where=where,
                            fix="store the images as uint8 (0-255), e.g. (x * 255).round().astype('uint8')")
        n = ds.shape[0]
        if params.layout == "NHW":
            c, h, w = 1, ds.shape[1], ds.shape[2]
        elif params.layout == "NHWC":
            h, w, c = ds.shape[1:]
        else:
            c, h, w = ds.shape[1:]
        if c not in (1, 3) or h < 1 or w < 1:
            raise DataError(f"dataset {path} in {file.name} has shape {list(ds.shape)}: with layout {params.layout} "
                            f"that is {c} channels of {h}x{w}; genfw takes 1 (grey) or 3 (RGB) channels", where=where,
                            fix="check dataset.layout")
        self.n, self.shape, self.layout, self.path = n, (int(c), int(h), int(w)), params.layout, path

        self.labels = self._optional(f, group, params.labels, "labels")
        if self.labels is not None:
            lab = self.labels
            if lab.shape != (n,) or lab.dtype.kind not in "iu":
                raise DataError(f"dataset {lab.name} in {file.name} is {list(lab.shape)} {lab.dtype}; labels must be "
                                f"integers [N] with N = {n} (the images' count)", where=where,
                                fix="store one integer class per image, or set dataset.labels")
        self.factors = self._optional(f, group, params.factors, "factors")
        if self.factors is not None:
            fac = self.factors
            if fac.ndim not in (1, 2) or fac.shape[0] != n or fac.dtype.kind not in "iuf":
                raise DataError(f"dataset {fac.name} in {file.name} is {list(fac.shape)} {fac.dtype}; factors must be "
                                f"numbers [N, F] with N = {n} (the images' count)", where=where,
                                fix="store one row of factor values per image, or set dataset.factors")

    def _dataset(self, f: Any, path: str, what: str, required: bool) -> Any:
        import h5py

        obj = f.get(path)
        if obj is None or not isinstance(obj, h5py.Dataset):
            if not required:
                return None
            kind = "a group, not a dataset" if obj is not None else "missing"
            raise DataError(f"the {what} dataset {path} in {self.file.name} is {kind} ({_inventory(f)})", where=self.where,
                            fix=f"set dataset.{what} (and dataset.group) to where the {what} are")
        return obj

    def _optional(self, f: Any, group: str, name: str | None, default: str) -> Any:
        if name is None:  # the default name, when the file has it
            return self._dataset(f, _join(group, default), default, required=False)
        return self._dataset(f, _join(group, name), default, required=True)

    def read_images(self, rows: np.ndarray, chunk_mb: int) -> torch.Tensor:
        """``images[rows]`` (rows increasing) as uint8 ``[len(rows), C, H, W]``, read chunk by chunk."""
        c, h, w = self.shape
        out = np.empty((len(rows), c, h, w), dtype=np.uint8)
        if len(rows) == 0:
            return torch.from_numpy(out)
        step = max((chunk_mb << 20) // (c * h * w), 1)
        filled = 0
        while filled < len(rows):
            lo = int(rows[filled])
            hi = min(lo + step, self.n)
            block = self.images[lo:hi]  # a contiguous slab: h5py reads it in one go
            take = rows[filled:np.searchsorted(rows, hi)]
            block = block[take - lo]
            if self.layout == "NHW":
                block = block[:, None]
            elif self.layout == "NHWC":
                block = block.transpose(0, 3, 1, 2)
            out[filled:filled + len(take)] = block
            filled += len(take)
        return torch.from_numpy(out)


def _factor_indices(values: np.ndarray) -> np.ndarray:
    """Each column's values as indices into that column's sorted distinct values."""
    values = values.reshape(len(values), -1)
    out = np.empty(values.shape, dtype=np.int64)
    for j in range(values.shape[1]):
        out[:, j] = np.unique(values[:, j], return_inverse=True)[1].reshape(-1)
    return out


def _names(attr: Any) -> list[str] | None:
    if attr is None:
        return None
    return [a.decode() if isinstance(a, bytes) else str(a) for a in np.asarray(attr).reshape(-1)]


def hdf5_dataset(params: HDF5Params, ctx: DatasetContext) -> Dataset:
    """Images from an HDF5 file (uint8, NHW/NHWC/NCHW), optional labels and factors; read in chunks."""
    try:
        import h5py
    except ImportError:  # pragma: no cover - h5py is a dependency
        raise DataError("the hdf5 dataset needs h5py", fix="pip install h5py") from None

    where = "dataset.path"
    file = resolve_data_path(params.path, what="HDF5 file", where=where, want_dir=False,
                             fix="set dataset.path to an .h5 file (absolute, relative to the current directory, or "
                             "under $GENFW_DATA)")
    try:
        f = h5py.File(file, "r")
    except OSError as exc:
        first = " ".join(str(exc).split())[:160]
        raise DataError(f"{file} is not a readable HDF5 file ({first})", where=where,
                        fix="point dataset.path at an HDF5 file (h5py.File(path, 'r') must open it)") from None
    with f:
        train_src = _Source(f, file, params, params.group, where)
        test_src = _Source(f, file, params, params.test_group, "dataset.test_group") if params.test_group else None
        if test_src is not None and test_src.shape != train_src.shape:
            raise DataError(f"the test images ({test_src.path}) are {'x'.join(map(str, test_src.shape))}, the training "
                            f"images ({train_src.path}) {'x'.join(map(str, train_src.shape))}", where="dataset.test_group",
                            fix="store both splits at one size")
        if test_src is None:
            test_rows, train_rows = held_out_split(train_src.n, params.held_out, ctx.seed)
        else:
            test_rows, train_rows = np.arange(test_src.n), np.arange(train_src.n)
        if ctx.purpose == "train" and params.limit is not None:
            train_rows = train_rows[:params.limit]
        if len(train_rows) == 0:
            raise DataError(f"{train_src.path} in {file.name} has no training images", where=where,
                            fix="store some images, or lower dataset.held_out")

        # Labels and factors are small: read whole, then split (factor indices over both splits).
        def small(src: _Source | None, which: str) -> np.ndarray | None:
            ds = getattr(src, which) if src is not None else None
            return None if ds is None else ds[()]

        train_labels, test_labels = small(train_src, "labels"), small(test_src, "labels")
        train_factors, test_factors = small(train_src, "factors"), small(test_src, "factors")
        class_names = params.class_names or (_names(train_src.labels.attrs.get("class_names"))
                                             if train_src.labels is not None else None)
        factor_names = params.factor_names or (_names(train_src.factors.attrs.get("names"))
                                               if train_src.factors is not None else None)
        if test_src is not None and (train_labels is None) != (test_labels is None):
            raise DataError("one split has labels and the other not", where="dataset.test_group",
                            fix="store labels in both groups, or in neither")
        if test_src is not None and (train_factors is None) != (test_factors is None):
            raise DataError("one split has factors and the other not", where="dataset.test_group",
                            fix="store factors in both groups, or in neither")
        if train_labels is not None and class_names is not None:
            top = max(int(train_labels.max()), int(test_labels.max()) if test_labels is not None and len(test_labels) else 0)
            if top >= len(class_names) or int(train_labels.min()) < 0:
                raise DataError(f"labels run from {int(train_labels.min())} to {top}, but {len(class_names)} class names "
                                "are given", where=where, fix="give one class name per label value 0..K-1")
        elif train_labels is not None and len(train_labels) and int(train_labels.min()) < 0:
            raise DataError(f"{train_src.labels.name} in {file.name} has negative labels", where=where,
                            fix="store class indices 0..K-1")

        if train_factors is not None:
            both = train_factors if test_factors is None else np.concatenate(
                [train_factors.reshape(len(train_factors), -1), test_factors.reshape(len(test_factors), -1)])
            indices = _factor_indices(both)
            if factor_names is not None and len(factor_names) != indices.shape[1]:
                raise DataError(f"{len(factor_names)} factor names for {indices.shape[1]} factor columns", where=where,
                                fix="give one name per column of the factors dataset")
            factor_names = factor_names or [f"factor{j}" for j in range(indices.shape[1])]
            train_factor_idx, test_factor_idx = indices[:len(train_factors)], indices[len(train_factors):]
        else:
            train_factor_idx = test_factor_idx = None

        def build(name: str, src: _Source, rows: np.ndarray, labels: np.ndarray | None,
                  factors: np.ndarray | None) -> ImageDataset:
            return ImageDataset(
                name=f"{file.stem}-{name}", images=src.read_images(rows, params.chunk_mb),
                labels=torch.from_numpy(labels[rows].astype(np.int64)) if labels is not None else None,
                class_names=tuple(class_names) if labels is not None and class_names else None,
                factors=torch.from_numpy(factors[rows]) if factors is not None else None,
                factor_names=tuple(factor_names) if factors is not None and factor_names else None)

        train = build("train", train_src, train_rows, train_labels, train_factor_idx)
        if test_src is not None:
            test = build("test", test_src, test_rows, test_labels, test_factor_idx)
        elif len(test_rows):
            test = build("test", train_src, test_rows, train_labels, train_factor_idx)
        else:
            test = None
    return Dataset(train, test)
