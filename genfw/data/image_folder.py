"""A folder of PNG and JPEG images, decoded once (Pillow) and then read from a cache.

Layouts (``dataset.path``)::

    faces/                      one class (no labels)
      0001.png  0002.jpg ...
    shapes/                     a subfolder per class: labels (class names = folder names)
      circle/  a.png ...
      square/  b.png ...
    shapes/                     a given held-out split: train/ and test/, each flat or by class
      train/  circle/ ...  square/ ...
      test/   circle/ ...  square/ ...

Every image is decoded with Pillow, turned to grey (``channels: 1``) or RGB (``channels: 3``,
grey files repeated over three channels, transparency dropped), and resized so its shorter side
is ``size``, then center-cropped to ``size`` x ``size`` (``ImageOps.fit``; a ``[height, width]``
pair crops to that aspect instead; ``null`` keeps the files' size, which must then agree).
16-bit grey PNGs are scaled to 8 bits by their bit depth. Files that cannot be read are skipped and
named (escaped) in one warning line: what Pillow cannot decode or calls a decompression bomb,
and, without ever opening them, FIFOs, devices and sockets, dangling or looping symbolic links,
and names that are not UTF-8.

A folder holding only ``train/`` (no ``test/``) is read as that folder, with its class folders
and a seeded held-out fraction; a class folder only in ``test/`` is an error.

The decoded array is cached under ``$GENFW_CACHE/image_folder/`` keyed by every file's path,
size and modification time and by ``size`` and ``channels``, so a second run reads one
memory-mapped file instead of decoding again; adding, removing or touching a file decodes anew.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import warnings
from pathlib import Path
from typing import BinaryIO, Literal, cast

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from genfw.data.base import Dataset, DatasetContext, ImageDataset
from genfw.data.checks import shown
from genfw.data.common import (
    cache_root,
    held_out_split,
    load_cache_entry,
    resolve_data_path,
    save_cache_entry,
    seeded_subset,
)
from genfw.errors import DataError, warn

EXTENSIONS = (".png", ".jpg", ".jpeg")
#: Part of the cache key: bump when decoding changes (v2: 16-bit images scaled, not clipped).
CACHE_VERSION = "image_folder-v2"
#: How many unreadable files the warning names before "and N more".
NAMED_IN_WARNING = 5
#: What a listed name is when it is not a regular file: it is skipped without being opened (a
#: FIFO would block the read forever, and opening a device can do something).
NOT_A_FILE = {
    stat.S_ISDIR: "a folder",
    stat.S_ISFIFO: "a FIFO, not a file",
    stat.S_ISSOCK: "a socket, not a file",
    stat.S_ISCHR: "a character device, not a file",
    stat.S_ISBLK: "a block device, not a file",
}
#: Why a listed name cannot be looked at, by the errno of its stat.
UNREACHABLE = {errno.ENOENT: "a dangling symbolic link", errno.ELOOP: "a symbolic link loop"}
#: Pillow's modes for a 16-bit grey PNG (which one depends on Pillow's version) and the bits their
#: values span; converting them to "L" would clip everything above 255 to white.
HIGH_BIT_DEPTH = {"I;16": 16, "I;16L": 16, "I;16B": 16, "I;16N": 16, "I": 16}


class ImageFolderParams(BaseModel):
    """Parameters of the ``image_folder`` dataset."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(
        ...,
        min_length=1,
        description="The image folder; a relative path is looked up in the current directory, then under $GENFW_DATA",
    )
    size: int | tuple[int, int] | None = Field(
        64,
        description="Resize (shorter side) and center-crop to size x size, "
        "or to [height, width]; null keeps the files' size (all must agree)",
    )
    channels: Literal[1, 3] = Field(3, description="1: greyscale; 3: RGB (grey files are repeated over 3 channels)")
    labels: Literal["auto", "folders", "none"] = Field(
        "auto",
        description="Class labels from the first level of subfolders: auto (when every image is in one and "
        "there are at least two), folders (required), none",
    )
    split: Literal["auto", "folders", "fraction"] = Field(
        "auto",
        description="The held-out split: folders (train/ and test/ subfolders), fraction (a seeded held_out "
        "fraction), auto (folders when both exist, else fraction)",
    )
    held_out: float = Field(
        0.1,
        ge=0,
        lt=1,
        description="The fraction of images held out for evaluation when the "
        "folder has no train/ and test/ (chosen by the run's seed; 0: none)",
    )
    limit: int | None = Field(
        None,
        gt=0,
        description="Train on a seeded random N of the training images (smoke tests; "
        "evaluation still uses every image)",
    )
    cache: bool = Field(True, description="Cache the decoded images under $GENFW_CACHE/image_folder")


def _target_size(size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    """(height, width) or None."""
    if size is None:
        return None
    h, w = (size, size) if isinstance(size, int) else size
    if h < 1 or w < 1 or h > 8192 or w > 8192:
        raise ValueError(f"size must be between 1 and 8192 pixels per side, got {h}x{w}")
    return int(h), int(w)


def list_images(folder: Path) -> list[Path]:
    """Every PNG/JPEG name under ``folder`` (hidden files and folders skipped), in sorted order."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [
            Path(dirpath) / f for f in sorted(filenames) if not f.startswith(".") and f.lower().endswith(EXTENSIONS)
        ]
    return found


def _unusable(path: Path, rel: str) -> str | None:
    """Why a listed name cannot be decoded, found without opening it; None for a regular file."""
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:  # os.walk keeps undecodable bytes as surrogates, which no key or JSON takes
        return "its name is not valid UTF-8"
    try:
        mode = os.stat(path).st_mode  # follows symbolic links: what a read would get
    except OSError as exc:
        return UNREACHABLE.get(exc.errno or 0, exc.strerror or "cannot be looked at")
    return next((what for is_kind, what in NOT_A_FILE.items() if is_kind(mode)), None)


def usable_files(root: Path, files: list[Path]) -> tuple[list[Path], list[tuple[str, str]]]:
    """``files`` split into regular files and ``[(name as shown, reason)]`` of the others."""
    regular, skipped = [], []
    for f in files:
        rel = f.relative_to(root).as_posix()
        reason = _unusable(f, rel)
        if reason is None:
            regular.append(f)
        else:
            skipped.append((shown(rel), reason))
    return regular, skipped


def _describe(exc: Exception) -> str:
    from PIL import Image, UnidentifiedImageError

    if isinstance(exc, UnidentifiedImageError):  # Pillow's own text names the file object, not the file
        return "cannot identify image file"
    text = " ".join(str(exc).split())
    if isinstance(exc, (Image.DecompressionBombWarning, Image.DecompressionBombError)):
        return f"a possible decompression bomb: {text.split(', could')[0]}, Pillow's Image.MAX_IMAGE_PIXELS"
    return shown((text or type(exc).__name__)[:80])


def _open_regular(path: Path) -> BinaryIO:
    """``path`` opened for reading, refused unless it is a regular file: non-blocking, so a FIFO
    put in a file's place after the listing cannot hang the read."""
    # The caller closes it (returned open); a with-block here would close it too early.
    f = open(path, "rb", opener=lambda p, flags: os.open(p, flags | getattr(os, "O_NONBLOCK", 0)))  # noqa: SIM115
    if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
        f.close()
        raise OSError(f"{shown(path.name)} is not a regular file")
    return f


def _eight_bit(im):  # PIL.Image.Image -> PIL.Image.Image (Pillow is imported lazily)
    """A 16-bit grey image scaled to 8 bits by its bit depth (65535 -> 255); others as they are."""
    from PIL import Image

    bits = HIGH_BIT_DEPTH.get(im.mode)
    if bits is None:
        return im
    values = np.asarray(im, dtype=np.float32) * np.float32(255 / (2**bits - 1))
    return Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8))


def decode_image(path: Path, size: tuple[int, int] | None, channels: int) -> np.ndarray:
    """One file as uint8 ``[C, H, W]``: EXIF orientation applied, converted, resized and cropped.
    Pillow's decompression-bomb warning is raised as an error, so the file is skipped and named."""
    from PIL import Image, ImageOps

    with warnings.catch_warnings(), _open_regular(path) as f:
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(f) as im:
            im = _eight_bit(ImageOps.exif_transpose(im))
            im = im.convert("L" if channels == 1 else "RGB")
            if size is not None and (im.height, im.width) != size:
                im = ImageOps.fit(im, (size[1], size[0]), method=Image.Resampling.BICUBIC, centering=(0.5, 0.5))
            array = np.asarray(im, dtype=np.uint8)
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def _cache_key(files: list[Path], size: tuple[int, int] | None, channels: int) -> str:
    h = hashlib.sha256(f"{CACHE_VERSION}|size={size}|channels={channels}".encode())
    for f in files:
        st = f.stat()
        h.update(f"\n{f.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:32]


def decode_folder(
    root: Path, files: list[Path], size: tuple[int, int] | None, channels: int, where: str
) -> tuple[np.ndarray, list[str], list[tuple[str, str]]]:
    """Decode ``files``: ``(images [N, C, H, W] uint8, relative paths of the decoded files,
    [(relative path, reason)] of the unreadable ones)``. Decoded images go straight into one array
    (sized for every file and trimmed if some fail), so memory holds each image once."""
    images: np.ndarray | None = None
    decoded: list[str] = []
    bad: list[tuple[str, str]] = []
    first_shape: tuple[str, tuple[int, ...]] | None = None
    for f in files:
        rel = f.relative_to(root).as_posix()
        try:
            array = decode_image(f, size, channels)
        except Exception as exc:  # a decoder can fail in many ways on a damaged file; name it and go on
            bad.append((shown(rel), _describe(exc)))
            continue
        if images is None:
            images = np.empty((len(files), *array.shape), dtype=np.uint8)
            first_shape = (rel, array.shape)
        elif array.shape != images.shape[1:]:
            assert first_shape is not None
            raise DataError(
                f"images differ in size: {shown(first_shape[0])} is {first_shape[1][2]}x{first_shape[1][1]}, {shown(rel)} "
                f"is {array.shape[2]}x{array.shape[1]}",
                where=where,
                fix="set dataset.size (e.g. 64) to resize and center-crop them all to one size",
            )
        images[len(decoded)] = array
        decoded.append(rel)
    if images is None:
        images = np.zeros((0, channels, 1, 1), dtype=np.uint8)
    return images[: len(decoded)], decoded, bad


def _warn_unreadable(root: Path, bad: list[tuple[str, str]], total: int) -> None:
    if not bad:
        return
    named = ", ".join(f"{rel} ({reason})" for rel, reason in bad[:NAMED_IN_WARNING])
    more = f" and {len(bad) - NAMED_IN_WARNING} more" if len(bad) > NAMED_IN_WARNING else ""
    warn(
        f"{len(bad)} of {total} image files under {shown(str(root))} could not be read and were skipped: {named}{more}"
    )


def _load(
    root: Path, files: list[Path], size: tuple[int, int] | None, channels: int, use_cache: bool, where: str
) -> tuple[np.ndarray, list[str], list[tuple[str, str]]]:
    """Decoded images (memory-mapped when cached), their relative paths and the unreadable files."""
    folder = cache_root() / "image_folder"
    key = _cache_key(files, size, channels) if use_cache else ""
    if use_cache:
        hit = load_cache_entry(folder, key, f"decoded images of {root}")
        if hit is not None and len(hit[1].get("files", [])) == hit[0].shape[0]:
            array, meta = hit
            return array, list(meta["files"]), [tuple(b) for b in meta.get("unreadable", [])]
    images, decoded, bad = decode_folder(root, files, size, channels, where)
    if use_cache and decoded:
        cached = save_cache_entry(
            folder,
            key,
            images,
            {
                "version": CACHE_VERSION,
                "root": str(root.resolve()),
                "files": decoded,
                "unreadable": [list(b) for b in bad],
            },
        )
        if cached is not None:  # gather the splits from the file, so the decoded array is not held twice
            return cached, decoded, bad
    return images, decoded, bad


def _class_of(rel: str, split_prefix: str) -> str | None:
    """The first subfolder under the split's folder, or None for a file directly in it."""
    parts = rel[len(split_prefix) :].split("/")
    return parts[0] if len(parts) > 1 else None


def _layout(root: Path, split: str) -> tuple[Path, bool]:
    """The folder the images are in and whether its ``train/`` and ``test/`` are the split. A
    folder with ``train/`` and nothing else is read as ``train/`` (its class folders keep their
    labels; the held-out fraction comes from it), not as one class called "train"."""
    given = (root / "train").is_dir() and (root / "test").is_dir()
    if split == "folders" and not given:
        raise DataError(
            f"{shown(str(root))} has no train/ and test/ subfolders (split: folders)",
            where="dataset.split",
            fix="make them, or set dataset.split to fraction",
        )
    if split == "folders" or (split == "auto" and given):
        return root, True
    only_train = (
        (root / "train").is_dir()
        and not (root / "test").exists()
        and all(f.relative_to(root).parts[0] == "train" for f in list_images(root))
    )
    return (root / "train" if only_train else root), False


def _no_images(root: Path, use_folders: bool) -> DataError:
    found = sorted(shown(p.name) for p in root.iterdir())[:8]
    seen = f"it holds {', '.join(found)}{' ...' if len(found) == 8 else ''}" if found else "it is empty"
    return DataError(
        f"no PNG or JPEG files under {shown(str(root))}{' train/ and test/' if use_folders else ''} ({seen})",
        where="dataset.path",
        fix=f"put images ({', '.join(EXTENSIONS)}) there, or point dataset.path elsewhere",
    )


def _check_test_classes(
    decoded: list[str], classes: list[str | None], train_idx: np.ndarray, test_idx: np.ndarray
) -> None:
    """A class folder in ``test/`` must have training images too: the model and the reference
    classifier only know the classes they were trained on."""
    known = {classes[i] for i in train_idx}
    first = next((i for i in test_idx if classes[i] not in known), None)
    if first is not None:
        name = shown(str(classes[first]))
        raise DataError(
            f"class folder test/{name} has no readable training images (train/ has "
            f"{', '.join(shown(str(c)) for c in sorted(known, key=str))}; first test image: "
            f"{shown(decoded[first])})",
            where="dataset.path",
            fix=f"add images to train/{name}, or move test/{name} out of the folder",
        )


def _labels(
    params: ImageFolderParams, root: Path, decoded: list[str], classes: list[str | None]
) -> tuple[torch.Tensor | None, tuple[str, ...] | None]:
    """The class labels and names from the class folders, or (None, None) without them."""
    has_folders = all(c is not None for c in classes) and len(set(classes)) >= 2
    if params.labels == "folders" and not has_folders:
        loose = next((rel for rel, c in zip(decoded, classes) if c is None), None)
        raise DataError(
            f"labels come from class subfolders, but {shown(str(root))} has "
            + (f"images outside them ({shown(loose)})" if loose else "fewer than two of them"),
            where="dataset.labels",
            fix="put every image in a subfolder named for its class, or set dataset.labels to auto or none",
        )
    if params.labels == "none" or not has_folders:
        return None, None
    named = cast(list[str], classes)  # has_folders: every image is in one
    class_names = tuple(sorted(set(named)))
    index = {name: i for i, name in enumerate(class_names)}
    return torch.tensor([index[c] for c in named], dtype=torch.int64), class_names


def image_folder_dataset(params: ImageFolderParams, ctx: DatasetContext) -> Dataset:
    """PNG/JPEG files from a folder (a subfolder per class gives labels), resized and center-cropped, cached."""
    where = "dataset.path"
    size = _target_size(params.size)
    given_root = resolve_data_path(
        params.path,
        what="image folder",
        where=where,
        want_dir=True,
        fix="set dataset.path to a folder of PNG/JPEG files (absolute, relative to the "
        "current directory, or under $GENFW_DATA)",
    )
    root, use_folders = _layout(given_root, params.split)
    listed = list_images(root / "train") + list_images(root / "test") if use_folders else list_images(root)
    if not listed:
        raise _no_images(root, use_folders)
    files, skipped = usable_files(root, listed)
    images, decoded, bad = _load(root, files, size, params.channels, params.cache, where) if files else (None, [], [])
    bad = skipped + bad
    _warn_unreadable(root, bad, len(listed))
    if not decoded or images is None:
        raise DataError(
            f"none of the {len(listed)} image files under {shown(str(root))} could be read (first: "
            f"{bad[0][0]}: {bad[0][1]})",
            where=where,
            fix="check that they are PNG or JPEG images",
        )

    # Which split each decoded image belongs to, and its class.
    if use_folders:
        in_test = np.array([rel.startswith("test/") for rel in decoded])
        test_idx, train_idx = np.flatnonzero(in_test), np.flatnonzero(~in_test)
        classes = [_class_of(rel, "test/" if t else "train/") for rel, t in zip(decoded, in_test)]
    else:
        test_idx, train_idx = held_out_split(len(decoded), params.held_out, ctx.seed)
        classes = [_class_of(rel, "") for rel in decoded]
    if len(train_idx) == 0:
        raise DataError(
            f"no readable training images under {shown(str(root / 'train' if use_folders else root))}",
            where=where,
            fix="add images, or lower dataset.held_out",
        )
    labels, class_names = _labels(params, root, decoded, classes)
    if use_folders and labels is not None:
        _check_test_classes(decoded, classes, train_idx, test_idx)

    if ctx.purpose == "train":
        train_idx = seeded_subset(train_idx, params.limit, ctx.seed)

    def split(name: str, rows: np.ndarray) -> ImageDataset:
        return ImageDataset(
            name=f"{given_root.name}-{name}",
            images=torch.from_numpy(np.ascontiguousarray(images[rows])),
            labels=labels[torch.from_numpy(rows)] if labels is not None else None,
            class_names=class_names,
        )

    return Dataset(split("train", train_idx), split("test", test_idx) if len(test_idx) else None)
