"""Data files that stay inside themselves, and data checked where it enters (issue 21).

HDF5 files that would make genfw read other files (external raw storage, external links, virtual
datasets) and ones that declare more images than memory holds are refused in one line; labels and
factors are checked where they are read (HDF5, Fashion-MNIST's IDX files, image folders' class
folders); image folders skip and name what is not a readable image file (FIFOs, devices, sockets,
broken links, undecodable names, decompression bombs) without opening it, scale 16-bit PNGs, keep
the labels of a lone ``train/`` and show names escaped; dataset caches carry a SHA-256 and are
rebuilt when it does not match, and an unwritable cache folder costs a warning, not the dataset.
Every file here is a real file the test writes; the CLI cases run the real ``genfw`` process.
"""

from __future__ import annotations

import gc
import json
import os
import socket
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from PIL import Image

from genfw_testing import REPO, cli_in_process, error_line, run_genfw, write_idx, write_json, write_shapes
from genfw.data import dsprites as ds
from genfw.data import image_folder as imf
from genfw.data.base import DatasetContext
from genfw.data.fashion_mnist import FashionMNISTParams, fashion_mnist_dataset
from genfw.data.hdf5 import HDF5Params, hdf5_dataset
from genfw.errors import DataError

TRAIN = DatasetContext(seed=0, purpose="train")
SUBSET = {"orientation": [0, 10], "x": [0, 10, 20, 31], "y": [0, 15, 31]}  # 432 dSprites images


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Every test caches into a folder of its own."""
    monkeypatch.setenv("GENFW_CACHE", str(tmp_path / "cache"))


def warnings_in(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("Warning:")]


def h5_params(path: Path, **kw) -> HDF5Params:
    return HDF5Params(**{"path": str(path), "layout": "NHW", **kw})


def small_images(n: int = 20) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (n, 8, 8)).astype(np.uint8)


# -- HDF5: nothing outside the file is read -------------------------------------------------------
@pytest.fixture
def secret(tmp_path) -> Path:
    """Another file on disk, larger than 20 8x8 images: what a hostile .h5 would make genfw read."""
    path = tmp_path / "secret.bin"
    path.write_bytes(b"TOKEN-" * 214 + b"1234")  # 1,288 bytes > 20 * 64
    return path


def test_hdf5_images_in_external_raw_storage_are_refused_naming_the_other_file(tmp_path, secret):
    path = tmp_path / "ext.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("images", shape=(20, 8, 8), dtype=np.uint8, external=[(str(secret), 0, 20 * 64)])
    with pytest.raises(DataError) as info:
        hdf5_dataset(h5_params(path), TRAIN)
    assert "/images in ext.h5 is stored as external raw storage in" in str(info.value)
    assert "secret.bin: reading it would read another file" in str(info.value)


@pytest.mark.parametrize("which", ["labels", "factors"])
def test_hdf5_labels_and_factors_in_external_raw_storage_are_refused_too(tmp_path, secret, which):
    path = tmp_path / "ext_annotations.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("images", data=small_images())
        shape = (20,) if which == "labels" else (20, 2)
        f.create_dataset(which, shape=shape, dtype=np.uint8, external=[(str(secret), 0, int(np.prod(shape)))])
    with pytest.raises(DataError, match=rf"/{which} in ext_annotations.h5 is stored as external raw storage in "
                       r".*secret.bin: reading it would read another file"):
        hdf5_dataset(h5_params(path), TRAIN)


def test_hdf5_external_links_to_a_dataset_or_a_group_are_refused_before_following_them(tmp_path):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.create_dataset("pixels", data=small_images())
        f.create_dataset("grp/images", data=small_images())
    path = tmp_path / "linked.h5"
    with h5py.File(path, "w") as f:
        f["images"] = h5py.ExternalLink(str(other), "/pixels")
        f["train"] = h5py.ExternalLink(str(other), "/grp")
        f["via_soft"] = h5py.SoftLink("/train/images")
    with pytest.raises(DataError, match=r"/images in linked.h5 is an external link to /pixels in .*other.h5: reading it "
                       "would read another file"):
        hdf5_dataset(h5_params(path), TRAIN)
    with pytest.raises(DataError, match=r"/train in linked.h5 is an external link to /grp in .*other.h5"):
        hdf5_dataset(h5_params(path, group="/train"), TRAIN)
    with pytest.raises(DataError, match=r"/train in linked.h5 is an external link"):  # a soft link that leads out
        hdf5_dataset(h5_params(path, images="via_soft"), TRAIN)


def test_hdf5_a_virtual_dataset_mapping_another_file_is_refused(tmp_path):
    other = tmp_path / "source.h5"
    with h5py.File(other, "w") as f:
        f.create_dataset("pixels", data=small_images())
    path = tmp_path / "virtual.h5"
    layout = h5py.VirtualLayout(shape=(20, 8, 8), dtype=np.uint8)
    layout[:] = h5py.VirtualSource(str(other), "pixels", shape=(20, 8, 8))
    with h5py.File(path, "w") as f:
        f.create_virtual_dataset("images", layout)
    with pytest.raises(DataError, match=r"/images in virtual.h5 is a virtual dataset mapping datasets of .*source.h5: "
                       "reading it would read another file"):
        hdf5_dataset(h5_params(path), TRAIN)


def test_hdf5_soft_links_inside_the_file_are_followed_and_a_loop_is_one_line(tmp_path):
    images = small_images()
    path = tmp_path / "soft.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("data/pixels", data=images)
        f["images"] = h5py.SoftLink("/data/pixels")
        f["a"] = h5py.SoftLink("/b")
        f["b"] = h5py.SoftLink("/a")
    data = hdf5_dataset(h5_params(path, held_out=0), TRAIN)
    assert torch.equal(data.train.images[:, 0], torch.from_numpy(images))
    with pytest.raises(DataError, match=r"/a in soft.h5 goes through more than 16 soft links \(a loop\?\)"):
        hdf5_dataset(h5_params(path, images="a"), TRAIN)


def test_hdf5_a_huge_declared_shape_is_refused_up_front_with_the_memory_it_would_take(tmp_path):
    path = tmp_path / "huge.h5"
    with h5py.File(path, "w") as f:  # 2**40 images declared, none written: the file is a few kB
        f.create_dataset("images", shape=(2**40, 8, 8), dtype=np.uint8, chunks=(1, 8, 8))
    cfg = json.loads((REPO / "configs" / "dcgan_image_folder.json").read_text())
    cfg["dataset"] = {"type": "hdf5", "path": str(path), "layout": "NHW"}
    line = error_line(cli_in_process("validate", write_json(tmp_path / "c.json", cfg)))
    assert "dataset.path: the images of huge.h5 (/images [1099511627776, 8, 8] uint8) would take" in line
    assert " TB of memory (genfw holds a dataset in memory), and " in line and " is available" in line
    assert "MemoryError" not in line and "bug" not in line


# -- labels and factors, where they enter ---------------------------------------------------------
def write_labelled(path: Path, labels: np.ndarray, test_labels: np.ndarray | None = None, **attrs) -> Path:
    with h5py.File(path, "w") as f:
        f.create_dataset("train/images", data=small_images(len(labels)))
        f.create_dataset("train/labels", data=labels)
        for key, value in attrs.items():
            f["train/labels"].attrs[key] = value
        if test_labels is not None:
            f.create_dataset("test/images", data=small_images(len(test_labels)))
            f.create_dataset("test/labels", data=test_labels)
    return path


@pytest.mark.parametrize("train, test, names, message", [
    ([0, 1, 2, 1], [0, -1, 1], None, r"label -1 at index 1 of /test/labels in l.h5 is negative"),
    ([0, 1, -7, 1], None, None, r"label -7 at index 2 of /train/labels in l.h5 is negative"),
    ([0, 1, 2, 2**40], None, None, r"label 1099511627776 at index 3 of /train/labels in l.h5 is out of range: genfw "
                                   r"takes at most 65,536 classes"),
    (np.array([0, 1, 2**63 + 5], dtype=np.uint64), None, None,
     r"label 9223372036854775813 at index 2 of /train/labels in l.h5 does not fit in int64"),
    ([0, 1, 1, 0], [1, 0, 2], ["cat", "dog"], r"label 2 at index 2 of /test/labels in l.h5 is out of range: there are "
                                              r"2 classes \(0..1\)"),
    ([0, 1, 1, 0], [1, 0, 3], None, r"class 3 \(index 2 of /test/labels in l.h5\) has no training images in /train/labels"),
])
def test_hdf5_bad_labels_name_the_file_the_dataset_and_the_first_bad_index(tmp_path, train, test, names, message):
    path = write_labelled(tmp_path / "l.h5", np.asarray(train), None if test is None else np.asarray(test),
                          **({"class_names": names} if names else {}))
    params = h5_params(path, group="train", test_group="test" if test is not None else None)
    with pytest.raises(DataError, match=message):
        hdf5_dataset(params, TRAIN)


def test_hdf5_unnamed_labels_give_both_splits_one_class_count(tmp_path):
    path = write_labelled(tmp_path / "l.h5", np.array([0, 3, 1, 3]), np.array([1, 0]))
    data = hdf5_dataset(h5_params(path, group="train", test_group="test"), TRAIN)
    assert data.train.class_names == data.test.class_names == ("0", "1", "2", "3")
    assert data.test.num_classes == 4


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_hdf5_non_finite_factors_are_named(tmp_path, bad):
    factors = np.zeros((20, 3))
    factors[6, 2] = bad
    path = tmp_path / "f.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("images", data=small_images())
        f.create_dataset("factors", data=factors)
    with pytest.raises(DataError, match=rf"factor {bad} at index 6 \(column 2\) of /factors in f.h5 is not a finite number"):
        hdf5_dataset(h5_params(path), TRAIN)


def test_bad_hdf5_labels_are_one_line_at_validate_not_a_crash_after_training(tmp_path):
    path = write_labelled(tmp_path / "neg.h5", np.array([0, 1] * 10), np.array([0, 1, -5, 1]))
    cfg = json.loads((REPO / "configs" / "dcgan_image_folder.json").read_text())
    cfg["dataset"] = {"type": "hdf5", "path": str(path), "layout": "NHW", "group": "train", "test_group": "test"}
    line = error_line(cli_in_process("validate", write_json(tmp_path / "c.json", cfg)))
    assert line == (f"Error: {tmp_path / 'c.json'}: dataset.path: label -5 at index 2 of /test/labels in neg.h5 is "
                    "negative (store one class index 0..K-1 per image, and one class name per index if they are named)")


def test_a_fashion_mnist_label_of_200_is_named_with_its_file_and_index(tmp_path):
    raw = tmp_path / "FashionMNIST" / "raw"
    write_idx(raw)
    labels = bytearray((raw / "train-labels-idx1-ubyte").read_bytes())
    labels[8 + 13] = 200  # after the 8-byte header: the 14th label
    (raw / "train-labels-idx1-ubyte").write_bytes(bytes(labels))
    with pytest.raises(DataError) as info:
        fashion_mnist_dataset(FashionMNISTParams(root=str(tmp_path), download=False), TRAIN)
    assert str(info.value).startswith(f"{raw / 'train-labels-idx1-ubyte'}: label 200 at index 13 of "
                                      "train-labels-idx1-ubyte is out of range: there are 10 classes (0..9)")


# -- image folders --------------------------------------------------------------------------------
def folder(path: Path, **kw) -> imf.ImageFolderParams:
    return imf.ImageFolderParams(**{"path": str(path), "size": 16, **kw})


def test_a_train_folder_without_test_keeps_its_class_labels(tmp_path):
    write_shapes(tmp_path / "data" / "train", per_class=10)
    data = imf.image_folder_dataset(folder(tmp_path / "data"), TRAIN)
    assert data.train.class_names == ("circle", "square")
    assert len(data.train) + len(data.test) == 20 and len(data.test) == 2  # the seeded held-out fraction
    assert sorted(torch.cat([data.train.labels, data.test.labels]).tolist()) == [0] * 10 + [1] * 10


def test_a_class_only_in_test_is_one_line(tmp_path):
    write_shapes(tmp_path / "data" / "train", per_class=4)
    write_shapes(tmp_path / "data" / "test", per_class=2, classes=("circle", "square", "star"))
    with pytest.raises(DataError) as info:
        imf.image_folder_dataset(folder(tmp_path / "data"), TRAIN)
    assert str(info.value) == ("dataset.path: class folder test/star has no readable training images (train/ has "
                               "circle, square; first test image: test/star/000.jpg) (add images to train/star, or move "
                               "test/star out of the folder)")


def test_fifos_devices_sockets_and_broken_links_are_skipped_and_named_without_opening_them(tmp_path):
    root = write_shapes(tmp_path / "odd", per_class=5)
    os.mkfifo(root / "circle" / "fifo.png")  # opening it for reading would block forever
    os.symlink("/dev/zero", root / "circle" / "device.png")  # a character device behind a link
    os.symlink(root / "nowhere.png", root / "square" / "dangling.png")
    os.symlink("loop_b.png", root / "square" / "loop_a.png")
    os.symlink("loop_a.png", root / "square" / "loop_b.png")
    server = socket.socket(socket.AF_UNIX)
    cwd = os.getcwd()
    os.chdir(root / "square")  # a relative address: a socket path must be short
    try:
        server.bind("socket.png")
    finally:
        os.chdir(cwd)
    cfg = json.loads((REPO / "configs" / "dcgan_image_folder.json").read_text())
    cfg["dataset"].update(path=str(root), size=16)
    try:
        proc = run_genfw("validate", write_json(tmp_path / "c.json", cfg), timeout=300)
    finally:
        server.close()
    assert proc.returncode == 0, proc.stderr
    warning, = warnings_in(proc.stderr)
    assert warning.startswith(f"Warning: 6 of 16 image files under {root} could not be read and were skipped: "
                              "circle/device.png (a character device, not a file), circle/fifo.png (a FIFO, not a file), "
                              "square/dangling.png (a dangling symbolic link), square/loop_a.png (a symbolic link loop), "
                              "square/loop_b.png (a symbolic link loop) and 1 more")


def test_a_socket_and_a_non_utf8_name_are_skipped_and_named_and_the_rest_is_cached(tmp_path, capsys):
    root = write_shapes(tmp_path / "names", per_class=3)
    Image.new("L", (8, 8), 50).save(os.fsencode(root / "circle") + b"/caf\xe9.png")  # a Latin-1 name
    server = socket.socket(socket.AF_UNIX)
    cwd = os.getcwd()
    os.chdir(root / "square")
    try:
        server.bind("socket.png")
        data = imf.image_folder_dataset(folder(root), TRAIN)
    finally:
        os.chdir(cwd)
        server.close()
    assert len(data.train) + len(data.test) == 6
    warning, = warnings_in(capsys.readouterr().err)
    assert warning.endswith("could not be read and were skipped: circle/caf\\xe9.png (its name is not valid UTF-8), "
                            "square/socket.png (a socket, not a file)")
    assert len(list((tmp_path / "cache" / "image_folder").glob("*.npy"))) == 1


def test_16_bit_pngs_are_scaled_by_their_bit_depth_not_clipped_to_white(tmp_path):
    root = tmp_path / "deep"
    root.mkdir()
    for value in (0, 4096, 32768, 65535):
        Image.fromarray(np.full((8, 8), value, dtype=np.uint16)).save(root / f"v{value:05d}.png")
    assert Image.open(root / "v32768.png").mode.startswith("I")  # what Pillow makes of a 16-bit grey PNG
    for channels in (1, 3):
        data = imf.image_folder_dataset(folder(root, size=8, channels=channels, held_out=0), TRAIN)
        assert data.train.images[:, :, 4, 4].tolist() == [[v] * channels for v in (0, 16, 128, 255)]


def test_a_decompression_bomb_is_a_skipped_and_named_file_not_a_raw_warning(tmp_path, monkeypatch, recwarn, capsys):
    root = tmp_path / "bombs"
    root.mkdir()
    for i in range(4):
        Image.new("L", (30, 30), 40 * i).save(root / f"small{i}.png")  # 900 pixels each
    Image.new("L", (40, 40)).save(root / "large.png")  # 1,600 pixels: over the limit (Pillow warns)
    Image.new("L", (50, 50)).save(root / "huge.png")  # 2,500: over twice the limit (Pillow raises)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow's own setting, here a small one
    data = imf.image_folder_dataset(folder(root, cache=False), TRAIN)
    assert len(data.train) + len(data.test) == 4
    warning, = warnings_in(capsys.readouterr().err)
    assert warning.startswith("Warning: 2 of 6 image files under")
    assert "huge.png (a possible decompression bomb: Image size (2500 pixels) exceeds limit of 2000 pixels" in warning
    assert "large.png (a possible decompression bomb: Image size (1600 pixels) exceeds limit of 1000 pixels" in warning
    assert not [w for w in recwarn if "DecompressionBomb" in type(w.message).__name__]


def test_escape_sequences_in_file_names_are_shown_escaped(tmp_path):
    root = write_shapes(tmp_path / "esc", per_class=3)
    (root / "circle" / "\x1b]0;owned\x07\n\x1b[2J.png").write_bytes(b"not an image")
    cfg = json.loads((REPO / "configs" / "dcgan_image_folder.json").read_text())
    cfg["dataset"].update(path=str(root), size=16)
    proc = cli_in_process("validate", write_json(tmp_path / "c.json", cfg))
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stderr and "\x07" not in proc.stderr
    warning, = warnings_in(proc.stderr)
    assert "circle/\\x1b]0;owned\\x07\\n\\x1b[2J.png (cannot identify image file)" in warning


# -- caches ---------------------------------------------------------------------------------------
def flip_bytes(npy: Path) -> None:
    """Damage a cached array in place: the same size, some payload bytes inverted."""
    blob = bytearray(npy.read_bytes())
    for i in range(len(blob) - 4000, len(blob) - 3000, 50):
        blob[i] ^= 0xFF
    npy.write_bytes(bytes(blob))


def test_a_dsprites_cache_with_flipped_bytes_is_rebuilt_with_a_warning(tmp_path, capsys):
    params = ds.DSpritesParams(subset=SUBSET, held_out=0)
    first = ds.dsprites_dataset(params, TRAIN).train.images.clone()
    npy, = (tmp_path / "cache" / "dsprites").glob("*.npy")
    flip_bytes(npy)
    gc.collect()  # the live-dataset reuse must not hide the cache
    again = ds.dsprites_dataset(params, TRAIN)
    warning, = warnings_in(capsys.readouterr().err)
    assert warning == (f"Warning: the cached dSprites images {npy} does not match its SHA-256 (damaged or changed since "
                       "it was written); rebuilding it")
    assert torch.equal(again.train.images, first)
    del again
    gc.collect()
    ds.dsprites_dataset(params, TRAIN)  # rebuilt: quiet again
    assert warnings_in(capsys.readouterr().err) == []


def test_an_image_folder_cache_with_flipped_bytes_is_decoded_again_with_a_warning(tmp_path, capsys):
    root = write_shapes(tmp_path / "shapes", per_class=20)
    first = imf.image_folder_dataset(folder(root), TRAIN)
    npy, = (tmp_path / "cache" / "image_folder").glob("*.npy")
    flip_bytes(npy)
    again = imf.image_folder_dataset(folder(root), TRAIN)
    warning, = warnings_in(capsys.readouterr().err)
    assert warning.startswith(f"Warning: the cached decoded images of {root} {npy} does not match its SHA-256")
    assert torch.equal(again.train.images, first.train.images) and torch.equal(again.test.images, first.test.images)


@pytest.mark.parametrize("dataset", ["dsprites", "image_folder"])
def test_a_cache_location_that_cannot_be_written_runs_uncached_with_one_warning(tmp_path, monkeypatch, capsys, dataset):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("GENFW_CACHE", str(blocker))
    if dataset == "dsprites":
        data = ds.dsprites_dataset(ds.DSpritesParams(subset=SUBSET, held_out=0.1, limit=50), TRAIN)
        assert len(data.train) == 50
    else:
        data = imf.image_folder_dataset(folder(write_shapes(tmp_path / "shapes", per_class=5)), TRAIN)
        assert len(data.train) + len(data.test) == 10
    warning, = warnings_in(capsys.readouterr().err)
    assert warning == (f"Warning: cannot write the cache in {blocker / dataset} (Not a directory); running without it "
                       "(set $GENFW_CACHE to a folder you can write to, or turn the dataset's cache off)")
