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

**The file stays inside itself.** Every dataset is reached through hard and soft links only: an
external link on the way, a dataset whose bytes are stored in other files (HDF5 external raw
storage) and a virtual dataset (which maps datasets of other files) are refused in one line
before anything is read, so a file cannot make genfw read another file. What is read is checked
where it enters: the memory the read will take (against what is available, before any of it is
allocated), labels (class indices ``0..K-1``, no class only in ``test_group``) and factors
(finite numbers).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from genfw.data.base import Dataset, DatasetContext, ImageDataset
from genfw.data.checks import check_finite_factors, check_memory_for, checked_labels
from genfw.data.common import held_out_split, resolve_data_path
from genfw.errors import DataError

LAYOUTS = {"NHW": 3, "NHWC": 4, "NCHW": 4}
#: Soft links followed on the way to one dataset before the path counts as a loop.
MAX_SOFT_LINKS = 16
#: Bytes per row a split's bookkeeping takes besides its data (the held-out mask and index arrays).
BOOKKEEPING_PER_ROW = 24
#: How to turn data stored outside the file into data stored in it.
COPY_IN = (
    "store the data in the file itself, e.g. with h5py: data = f[name][()]; del f[name]; "
    "f.create_dataset(name, data=data)"
)


class HDF5Params(BaseModel):
    """Parameters of the ``hdf5`` dataset."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(
        ...,
        min_length=1,
        description="The HDF5 file; a relative path is looked up in the current directory, then under $GENFW_DATA",
    )
    layout: Literal["NHW", "NHWC", "NCHW"] = Field(
        ..., description="How the image dataset's axes are ordered (NHW: greyscale without a channel axis)"
    )
    images: str = Field("images", min_length=1, description="The uint8 image dataset, relative to group")
    labels: str | None = Field(
        None, description="The integer label dataset [N]; default: 'labels' when the file has it"
    )
    factors: str | None = Field(None, description="The factor dataset [N, F]; default: 'factors' when the file has it")
    class_names: list[str] | None = Field(
        None, description="Names of the label values 0..K-1 (default: the labels dataset's class_names attribute)"
    )
    factor_names: list[str] | None = Field(
        None,
        description="Names of the factor columns (default: the factors "
        "dataset's names attribute, else factor0, factor1, ...)",
    )
    group: str = Field("/", description="The group holding the training data")
    test_group: str | None = Field(
        None,
        description="A group holding a given held-out split (same dataset names); "
        "without one, a seeded held_out fraction is held out",
    )
    held_out: float = Field(
        0.1,
        ge=0,
        lt=1,
        description="The fraction held out for evaluation when there is no "
        "test_group (chosen by the run's seed; 0: none)",
    )
    limit: int | None = Field(
        None,
        gt=0,
        description="Train on only the first N training images (smoke tests; evaluation still uses every image)",
    )
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


def _outside(file: Path, path: str, how: str) -> DataError:
    return DataError(
        f"{path} in {file.name} is {how}: reading it would read another file, and genfw reads only "
        "what the file itself holds",
        where="dataset.path",
        fix=COPY_IN,
    )


def _reach(f: Any, path: str, file: Path, hops: int = 0) -> Any:
    """The object at ``path``, reached through hard and soft links only (None when there is
    none): an external link on the way is refused before h5py would open the file it names."""
    import h5py

    node = f["/"]
    for part in (p for p in path.split("/") if p):
        link = node.get(part, getlink=True) if isinstance(node, h5py.Group) else None
        if link is None:
            return None
        if isinstance(link, h5py.ExternalLink):
            raise _outside(
                file, f"{node.name.rstrip('/')}/{part}", f"an external link to {link.path} in {link.filename}"
            )
        if isinstance(link, h5py.SoftLink):
            if hops >= MAX_SOFT_LINKS:
                raise DataError(
                    f"{path} in {file.name} goes through more than {MAX_SOFT_LINKS} soft links (a loop?)",
                    where="dataset.path",
                    fix="point the soft links at the datasets themselves",
                )
            target = link.path if link.path.startswith("/") else f"{node.name.rstrip('/')}/{link.path}"
            node = _reach(f, target, file, hops + 1)
            if node is None:
                return None
        else:
            node = node[part]  # a hard link: an object of this file
    return node


def _check_stored_inside(ds: Any, file: Path) -> None:
    """Refuse a dataset whose bytes live in other files (external raw storage, a virtual dataset)."""
    if ds.external:
        names = ", ".join(sorted({str(name) for name, _, _ in ds.external}))
        raise _outside(file, ds.name, f"stored as external raw storage in {names}")
    if ds.is_virtual:
        names = ", ".join(sorted({source.file_name for source in ds.virtual_sources()}))
        raise _outside(file, ds.name, f"a virtual dataset mapping datasets of {names}")


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
            raise DataError(
                f"dataset {path} in {file.name} has shape {list(ds.shape)}: {ds.ndim} axes, but layout "
                f"{params.layout} has {want}",
                where=where,
                fix="set dataset.layout to how its axes are ordered (NHW, NHWC or NCHW)",
            )
        if ds.dtype != np.uint8:
            raise DataError(
                f"dataset {path} in {file.name} holds {ds.dtype}, not uint8 images",
                where=where,
                fix="store the images as uint8 (0-255), e.g. (x * 255).round().astype('uint8')",
            )
        n = ds.shape[0]
        if params.layout == "NHW":
            c, h, w = 1, ds.shape[1], ds.shape[2]
        elif params.layout == "NHWC":
            h, w, c = ds.shape[1:]
        else:
            c, h, w = ds.shape[1:]
        if c not in (1, 3) or h < 1 or w < 1:
            raise DataError(
                f"dataset {path} in {file.name} has shape {list(ds.shape)}: with layout {params.layout} "
                f"that is {c} channels of {h}x{w}; genfw takes 1 (grey) or 3 (RGB) channels",
                where=where,
                fix="check dataset.layout",
            )
        self.n, self.shape, self.layout, self.path = n, (int(c), int(h), int(w)), params.layout, path

        self.labels = self._optional(f, group, params.labels, "labels")
        if self.labels is not None:
            lab = self.labels
            if lab.shape != (n,) or lab.dtype.kind not in "iu":
                raise DataError(
                    f"dataset {lab.name} in {file.name} is {list(lab.shape)} {lab.dtype}; labels must be "
                    f"integers [N] with N = {n} (the images' count)",
                    where=where,
                    fix="store one integer class per image, or set dataset.labels",
                )
        self.factors = self._optional(f, group, params.factors, "factors")
        if self.factors is not None:
            fac = self.factors
            if fac.ndim not in (1, 2) or fac.shape[0] != n or fac.dtype.kind not in "iuf":
                raise DataError(
                    f"dataset {fac.name} in {file.name} is {list(fac.shape)} {fac.dtype}; factors must be "
                    f"numbers [N, F] with N = {n} (the images' count)",
                    where=where,
                    fix="store one row of factor values per image, or set dataset.factors",
                )

    def _dataset(self, f: Any, path: str, what: str, required: bool) -> Any:
        import h5py

        obj = _reach(f, path, self.file)
        if obj is None or not isinstance(obj, h5py.Dataset):
            if not required:
                return None
            kind = "a group, not a dataset" if obj is not None else "missing"
            raise DataError(
                f"the {what} dataset {path} in {self.file.name} is {kind} ({_inventory(f)})",
                where=self.where,
                fix=f"set dataset.{what} (and dataset.group) to where the {what} are",
            )
        _check_stored_inside(obj, self.file)
        return obj

    def bytes_per_row(self) -> int:
        """Memory one image row takes once read: its pixels."""
        return int(np.prod(self.shape))

    def annotation_bytes(self) -> int:
        """Memory the labels and factors take once read whole (as stored, then as int64 indices),
        with the split's bookkeeping."""
        per_row = BOOKKEEPING_PER_ROW
        for ds in (self.labels, self.factors):
            if ds is not None:
                per_row += (2 * ds.dtype.itemsize + 8) * int(np.prod(ds.shape[1:]))
        return self.n * per_row

    def read(self, what: str, read: Any) -> Any:
        """``read()``, with an HDF5 read failure (a damaged file, a filter h5py lacks) as one line."""
        try:
            return read()
        except (OSError, RuntimeError) as exc:
            first = " ".join(str(exc).split())[:160]
            raise DataError(
                f"cannot read {what} in {self.file.name} ({first})",
                where=self.where,
                fix="check the file (h5dump -H shows its structure), or write it again",
            ) from None

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
            block = self.read(
                self.path, lambda lo=lo, hi=hi: self.images[lo:hi]
            )  # a contiguous slab: h5py reads it in one go
            take = rows[filled : np.searchsorted(rows, hi)]
            block = block[take - lo]
            if self.layout == "NHW":
                block = block[:, None]
            elif self.layout == "NHWC":
                block = block.transpose(0, 3, 1, 2)
            out[filled : filled + len(take)] = block
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


def _check_memory(file: Path, train: _Source, test: _Source | None, params: HDF5Params, ctx: DatasetContext) -> None:
    """What this build will hold, from the declared shapes, against the memory available: a
    file declaring 2**40 images is one line before anything is allocated."""
    held = test.n if test is not None else int(round(train.n * params.held_out))
    trained = train.n - (0 if test is not None else held)
    if ctx.purpose == "train" and params.limit is not None:
        trained = min(trained, params.limit)
    needed = (
        trained * train.bytes_per_row()
        + held * (test or train).bytes_per_row()
        + train.annotation_bytes()
        + (test.annotation_bytes() if test is not None else 0)
    )
    images = f"{train.path} {list(train.images.shape)}" + (
        f" and {test.path} {list(test.images.shape)}" if test else ""
    )
    check_memory_for(
        needed,
        what=f"the images of {file.name} ({images} uint8)",
        where="dataset.path",
        fix="use a file with fewer or smaller images, or a machine with more memory",
    )


def _labels(
    train: _Source, test: _Source | None, class_names: list[str] | None, file: Path
) -> tuple[np.ndarray | None, np.ndarray | None, list[str] | None]:
    """Both splits' labels, checked (class indices 0..K-1, K = the class names' count or the
    largest label + 1; no class only in the test group), and the class names."""
    if test is not None and (train.labels is None) != (test.labels is None):
        raise DataError(
            "one split has labels and the other not",
            where="dataset.test_group",
            fix="store labels in both groups, or in neither",
        )
    if train.labels is None:
        return None, None, None
    fix = "store one class index 0..K-1 per image, and one class name per index if they are named"

    def read(src: _Source) -> np.ndarray:
        values = src.read(src.labels.name, lambda: src.labels[()])
        return checked_labels(
            values,
            source=f"{src.labels.name} in {file.name}",
            where="dataset.path",
            fix=fix,
            num_classes=len(class_names) if class_names else None,
        )

    train_labels = read(train)
    test_labels = read(test) if test is not None else None
    if test_labels is not None and test is not None:
        only_test = ~np.isin(test_labels, train_labels)
        if only_test.any():
            i = int(np.flatnonzero(only_test)[0])
            raise DataError(
                f"class {int(test_labels[i])} (index {i} of {test.labels.name} in {file.name}) has no "
                f"training images in {train.labels.name}",
                where="dataset.test_group",
                fix="give every class of the test group training images too",
            )
    if not class_names:  # unnamed: K from both splits, so both agree on it
        top = max(int(x.max()) for x in (train_labels, test_labels) if x is not None and len(x))
        class_names = [str(k) for k in range(top + 1)]
    return train_labels, test_labels, class_names


def _factors(
    train: _Source, test: _Source | None, factor_names: list[str] | None, file: Path
) -> tuple[np.ndarray | None, np.ndarray | None, list[str] | None]:
    """Both splits' factors as per-column value indices (over both splits), checked finite, and
    the factor names."""
    if test is not None and (train.factors is None) != (test.factors is None):
        raise DataError(
            "one split has factors and the other not",
            where="dataset.test_group",
            fix="store factors in both groups, or in neither",
        )
    if train.factors is None:
        return None, None, None

    def read(src: _Source) -> np.ndarray:
        values = src.read(src.factors.name, lambda: src.factors[()])
        check_finite_factors(
            values,
            source=f"{src.factors.name} in {file.name}",
            where="dataset.path",
            fix="store finite factor values, with no NaN or infinity",
        )
        return values.reshape(len(values), -1)

    parts = [read(train)] + ([read(test)] if test is not None else [])
    indices = _factor_indices(np.concatenate(parts))
    if factor_names is not None and len(factor_names) != indices.shape[1]:
        raise DataError(
            f"{len(factor_names)} factor names for {indices.shape[1]} factor columns",
            where="dataset.path",
            fix="give one name per column of the factors dataset",
        )
    n = len(parts[0])
    return (
        indices[:n],
        (indices[n:] if test is not None else None),
        factor_names or [f"factor{j}" for j in range(indices.shape[1])],
    )


def hdf5_dataset(params: HDF5Params, ctx: DatasetContext) -> Dataset:
    """Images from an HDF5 file (uint8, NHW/NHWC/NCHW), optional labels and factors; read in chunks."""
    try:
        import h5py
    except ImportError:  # pragma: no cover - h5py is a dependency
        raise DataError("the hdf5 dataset needs h5py", fix="pip install h5py") from None

    where = "dataset.path"
    file = resolve_data_path(
        params.path,
        what="HDF5 file",
        where=where,
        want_dir=False,
        fix="set dataset.path to an .h5 file (absolute, relative to the current directory, or under $GENFW_DATA)",
    )
    try:
        f = h5py.File(file, "r")
    except OSError as exc:
        first = " ".join(str(exc).split())[:160]
        raise DataError(
            f"{file} is not a readable HDF5 file ({first})",
            where=where,
            fix="point dataset.path at an HDF5 file (h5py.File(path, 'r') must open it)",
        ) from None
    with f:
        train_src = _Source(f, file, params, params.group, where)
        test_src = _Source(f, file, params, params.test_group, "dataset.test_group") if params.test_group else None
        if test_src is not None and test_src.shape != train_src.shape:
            raise DataError(
                f"the test images ({test_src.path}) are {'x'.join(map(str, test_src.shape))}, the training "
                f"images ({train_src.path}) {'x'.join(map(str, train_src.shape))}",
                where="dataset.test_group",
                fix="store both splits at one size",
            )
        _check_memory(file, train_src, test_src, params, ctx)
        if test_src is None:
            test_rows, train_rows = held_out_split(train_src.n, params.held_out, ctx.seed)
        else:
            test_rows, train_rows = np.arange(test_src.n), np.arange(train_src.n)
        if ctx.purpose == "train" and params.limit is not None:
            train_rows = train_rows[: params.limit]
        if len(train_rows) == 0:
            raise DataError(
                f"{train_src.path} in {file.name} has no training images",
                where=where,
                fix="store some images, or lower dataset.held_out",
            )

        # Labels and factors are small: read whole, checked, then split (factor indices over both splits).
        class_names = params.class_names or (
            _names(train_src.labels.attrs.get("class_names")) if train_src.labels is not None else None
        )
        train_labels, test_labels, class_names = _labels(train_src, test_src, class_names, file)
        factor_names = params.factor_names or (
            _names(train_src.factors.attrs.get("names")) if train_src.factors is not None else None
        )
        train_factor_idx, test_factor_idx, factor_names = _factors(train_src, test_src, factor_names, file)

        def build(
            name: str, src: _Source, rows: np.ndarray, labels: np.ndarray | None, factors: np.ndarray | None
        ) -> ImageDataset:
            return ImageDataset(
                name=f"{file.stem}-{name}",
                images=src.read_images(rows, params.chunk_mb),
                labels=torch.from_numpy(labels[rows]) if labels is not None else None,
                class_names=tuple(class_names) if labels is not None and class_names else None,
                factors=torch.from_numpy(factors[rows]) if factors is not None else None,
                factor_names=tuple(factor_names) if factors is not None and factor_names else None,
            )

        train = build("train", train_src, train_rows, train_labels, train_factor_idx)
        if test_src is not None:
            test = build("test", test_src, test_rows, test_labels, test_factor_idx)
        elif len(test_rows):
            test = build("test", train_src, test_rows, train_labels, train_factor_idx)
        else:
            test = None
    return Dataset(train, test)
