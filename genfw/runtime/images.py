"""Saving images: pixels as bytes, a PNG grid, and an HDF5 file of images with their codes and
specs. PIL (PNG) and h5py (.h5) are imported only when used."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from genfw.atomic import atomic_write_bytes, atomic_write_via, check_space
from genfw.export.contract import META_IMAGE, META_LATENT, META_VERSION
from genfw.runtime.errors import CodeError


# -- saving ----------------------------------------------------------------------------------------
def _atomic_write(path: Path, write: Any) -> None:
    """Write via a temp file in the same folder and rename, so readers never see half a file."""
    atomic_write_via(path, write)


def to_uint8(images: np.ndarray) -> np.ndarray:
    """[0, 1] floats to 0..255 bytes (rounded, clipped)."""
    if images.dtype == np.uint8:
        return images
    return (np.clip(images, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def grid(images: np.ndarray, nrow: int = 8, padding: int = 2) -> np.ndarray:
    """Tile ``[n, C, H, W]`` images into one ``[H', W', C]`` uint8 array, ``nrow`` per row."""
    if isinstance(nrow, bool) or not isinstance(nrow, (int, np.integer)) or nrow < 1 or padding < 0:
        raise CodeError(f"nrow must be a positive integer and padding >= 0, not nrow={nrow!r}, padding={padding!r}")
    images = to_uint8(np.asarray(images))
    if images.ndim != 4 or images.shape[1] not in (1, 3, 4):
        raise CodeError(f"images must be [n, C, H, W] with C in 1, 3, 4: got shape {list(images.shape)}")
    n, c, h, w = images.shape
    cols = max(1, min(int(nrow), n))
    rows = -(-n // cols)
    out = np.zeros((rows * (h + padding) + padding, cols * (w + padding) + padding, c), np.uint8)
    for i in range(n):
        y, x = padding + (i // cols) * (h + padding), padding + (i % cols) * (w + padding)
        out[y : y + h, x : x + w] = images[i].transpose(1, 2, 0)
    return out


def save_grid(images: np.ndarray, path: str | os.PathLike, nrow: int = 8, padding: int = 2) -> Path:
    """Save images ``[n, C, H, W]`` (float [0, 1] or uint8) as one PNG grid, ``nrow`` per row."""
    from PIL import Image

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise CodeError(
            f"a grid is saved as PNG, not {path.suffix or '(no suffix)'!r}", where=str(path), fix="name the file *.png"
        )
    tiles = grid(images, nrow, padding)
    image = Image.fromarray(tiles[..., 0] if tiles.shape[2] == 1 else tiles)
    _atomic_write(path, lambda tmp: image.save(tmp, format="PNG"))
    return path


def save_gif(
    frames: Sequence[np.ndarray],
    path: str | os.PathLike,
    nrow: int = 8,
    fps: float = 12.0,
    scale: int = 2,
    padding: int = 2,
) -> Path:
    """Save an animation as a looping GIF (Pillow's writer): each frame is images ``[n, C, H, W]``
    (float [0, 1] or uint8) tiled as :func:`grid` tiles them, enlarged ``scale`` times (nearest
    neighbour, so pixels stay sharp), shown ``1 / fps`` seconds. Grey images stay grey; colour ones
    get a palette per frame (GIF holds 256 colours)."""
    from PIL import Image

    path = Path(path)
    if path.suffix.lower() != ".gif":
        raise CodeError(
            f"an animation is saved as GIF, not {path.suffix or '(no suffix)'!r}", where=str(path), fix="name it *.gif"
        )
    if isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or not 1 <= scale <= 16:
        raise CodeError(f"scale must be an integer from 1 to 16, not {scale!r}")
    if not np.isfinite(fps) or not 0.5 <= fps <= 50:
        raise CodeError(f"fps must be from 0.5 to 50 (what GIF viewers show), not {fps!r}")
    if not len(frames):
        raise CodeError("an animation needs at least one frame")
    pictures = []
    for images in frames:
        tiles = grid(images, nrow, padding)
        tiles = tiles.repeat(scale, axis=0).repeat(scale, axis=1)
        picture = Image.fromarray(tiles[..., 0]) if tiles.shape[2] == 1 else Image.fromarray(tiles[..., :3])
        pictures.append(picture.convert("P") if picture.mode == "RGB" else picture)
    duration = round(1000 / fps)  # milliseconds per frame
    first, rest = pictures[0], pictures[1:]
    _atomic_write(
        path,
        lambda tmp: first.save(tmp, format="GIF", save_all=True, append_images=rest, duration=duration, loop=0),
    )
    return path


def save_h5(
    images: np.ndarray,
    codes: Mapping[str, np.ndarray],
    path: str | os.PathLike,
    latent_spec: Mapping[str, Any] | None = None,
    image_spec: Mapping[str, Any] | None = None,
    version: str | None = None,
) -> Path:
    """Save ``images`` as uint8 ``[n, C, H, W]`` and each code as float32 ``codes/<name>`` ``[n, dim]`` to HDF5.

    The specs, when given, are stored as file attributes under the same keys as the ONNX
    metadata, all JSON text: ``genfw.latent``, ``genfw.image`` and ``genfw.version`` (files
    from before genfw 0.2 hold the version as plain text; :func:`parse_version` reads both).

    The file is built in memory (HDF5's in-memory driver) and written with one atomic write:
    the HDF5 library never touches the disk, so a full disk is one clear error, never a crash
    inside it, and never a half-written file.
    """
    import h5py

    path = Path(path)
    pixels = to_uint8(np.asarray(images))
    arrays = {name: np.asarray(value, np.float32) for name, value in codes.items()}
    check_space(path, pixels.nbytes + sum(a.nbytes for a in arrays.values()) + (1 << 20))  # before any work
    attrs = {META_LATENT: latent_spec, META_IMAGE: image_spec}
    with h5py.File(f"genfw-{id(pixels)}.h5", "w", driver="core", backing_store=False) as f:
        f.create_dataset("images", data=pixels, compression="gzip")
        group = f.create_group("codes")
        for name, value in arrays.items():
            group.create_dataset(name, data=value)
        for key, doc in attrs.items():
            if doc is not None:
                f.attrs[key] = json.dumps(doc)
        if version is not None:
            f.attrs[META_VERSION] = json.dumps(version)  # JSON like the other attributes; read with parse_version
        f.flush()
        data = f.id.get_file_image()
    atomic_write_bytes(path, data)
    return path
