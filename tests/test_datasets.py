"""The built-in datasets beyond MNIST, through their factories: image_folder (a few hundred PNG/JPEG
files the test writes), hdf5 (a small file the test writes), fashion_mnist (small IDX files the
test writes; nothing is downloaded) and dsprites (a small subset of the factor grid)."""

from __future__ import annotations

import os
import re
import socket
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from genfw.data import dsprites as ds
from genfw.data import image_folder as imf
from genfw.data import mnist
from genfw.data.base import DatasetContext
from genfw.data.common import held_out_split
from genfw.data.fashion_mnist import FASHION_MNIST, FashionMNISTParams, fashion_mnist_dataset
from genfw.data.hdf5 import HDF5Params, hdf5_dataset
from genfw.errors import DataError
from genfw_testing import synthetic_images, write_idx, write_shapes

TRAIN, EVAL = DatasetContext(seed=0, purpose="train"), DatasetContext(seed=0, purpose="evaluate")


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Every test caches into a folder of its own."""
    monkeypatch.setenv("GENFW_CACHE", str(tmp_path / "cache"))


# -- image_folder ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def shapes_folder(tmp_path_factory) -> Path:
    return write_shapes(tmp_path_factory.mktemp("images") / "shapes")


def folder(path: Path, **kw) -> imf.ImageFolderParams:
    return imf.ImageFolderParams(path=str(path), **kw)


def test_a_folder_of_classes_gives_labels_a_seeded_split_and_one_size(shapes_folder):
    data = imf.image_folder_dataset(folder(shapes_folder, size=32), TRAIN)
    assert data.train.image_shape == (3, 32, 32) and data.test.image_shape == (3, 32, 32)
    assert len(data.train) + len(data.test) == 300 and len(data.test) == 30  # held_out 0.1
    assert data.train.class_names == ("circle", "square")
    assert sorted(torch.bincount(torch.cat([data.train.labels, data.test.labels])).tolist()) == [150, 150]
    # The same seed holds out the same images; another seed others.
    again = imf.image_folder_dataset(folder(shapes_folder, size=32), TRAIN)
    other = imf.image_folder_dataset(folder(shapes_folder, size=32), DatasetContext(seed=1))
    assert torch.equal(again.test.images, data.test.images)
    assert not torch.equal(other.test.images, data.test.images)


def test_grey_images_and_a_rectangular_size(shapes_folder):
    data = imf.image_folder_dataset(folder(shapes_folder, size=[24, 40], channels=1, labels="none"), TRAIN)
    assert data.train.image_shape == (1, 24, 40) and data.train.labels is None


def test_resize_and_center_crop_keep_the_shape_centred(tmp_path):
    (tmp_path / "one").mkdir()
    im = Image.new("L", (100, 50), 0)  # a wide image: the crop keeps its middle square
    ImageDraw.Draw(im).rectangle([40, 15, 59, 34], fill=255)
    im.save(tmp_path / "one" / "a.png")
    x = imf.image_folder_dataset(folder(tmp_path / "one", size=20, channels=1, held_out=0), TRAIN).train.images[0, 0]
    ys, xs = torch.nonzero(x > 128, as_tuple=True)
    assert abs(xs.float().mean() - 9.5) < 1 and abs(ys.float().mean() - 9.5) < 1 and 30 < len(xs) < 80


def test_a_corrupt_file_is_named_in_one_warning_line(tmp_path, capsys):
    root = write_shapes(tmp_path / "shapes", per_class=20)
    (root / "square" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (root / "circle" / "empty.jpg").write_bytes(b"")
    data = imf.image_folder_dataset(folder(root, size=16), TRAIN)
    assert len(data.train) + len(data.test) == 40
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("Warning: 2 of 42 image files")
    assert "square/broken.png (" in err[0] and "circle/empty.jpg (" in err[0]
    # From the cache too: the warning comes back on the next run.
    imf.image_folder_dataset(folder(root, size=16), TRAIN)
    assert "square/broken.png" in capsys.readouterr().err


def test_the_second_load_reads_the_cache_and_a_touched_file_decodes_again(tmp_path, monkeypatch):
    root = write_shapes(tmp_path / "shapes", per_class=40)
    t0 = time.perf_counter()
    first = imf.image_folder_dataset(folder(root, size=32), TRAIN)
    cold = time.perf_counter() - t0
    cached = list((tmp_path / "cache" / "image_folder").glob("*.npy"))
    assert len(cached) == 1 and cached[0].with_suffix(".json").is_file()

    decoded = []
    real_decode = imf.decode_image
    monkeypatch.setattr(imf, "decode_image", lambda *a: decoded.append(a[0]) or real_decode(*a))
    t0 = time.perf_counter()
    second = imf.image_folder_dataset(folder(root, size=32), TRAIN)
    warm = time.perf_counter() - t0
    assert decoded == [] and torch.equal(first.train.images, second.train.images)
    assert warm < cold
    # Another size is another cache entry; a touched file invalidates the entry.
    os.utime(root / "circle" / "000.jpg", ns=(time.time_ns(), time.time_ns() + 10**9))
    imf.image_folder_dataset(folder(root, size=32), TRAIN)
    assert len(decoded) == 80


def test_given_train_and_test_folders_are_the_split(tmp_path):
    write_shapes(tmp_path / "data" / "train", per_class=10)
    write_shapes(tmp_path / "data" / "test", per_class=3, seed=1)
    data = imf.image_folder_dataset(folder(tmp_path / "data", size=16), TRAIN)
    assert (len(data.train), len(data.test)) == (20, 6) and data.test.class_names == ("circle", "square")
    assert torch.bincount(data.test.labels).tolist() == [3, 3]


def test_limit_is_for_training_only(shapes_folder):
    assert len(imf.image_folder_dataset(folder(shapes_folder, size=16, limit=25), TRAIN).train) == 25
    assert len(imf.image_folder_dataset(folder(shapes_folder, size=16, limit=25), EVAL).train) == 270


def test_folder_errors_are_one_line_data_errors(tmp_path, monkeypatch):
    monkeypatch.delenv("GENFW_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match=r"image folder not found: looked for .*nowhere \(\$GENFW_DATA is not set\)"):
        imf.image_folder_dataset(folder(Path("nowhere")), TRAIN)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    with pytest.raises(DataError, match=r"no PNG or JPEG files under .*empty \(it holds notes.txt\)"):
        imf.image_folder_dataset(folder(Path("empty")), TRAIN)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.png").write_bytes(b"nope")
    with pytest.raises(DataError, match="none of the 1 image files"):
        imf.image_folder_dataset(folder(Path("bad")), TRAIN)
    write_shapes(tmp_path / "sizes", per_class=3)
    with pytest.raises(DataError, match=r"images differ in size: .* \(set dataset.size"):
        imf.image_folder_dataset(folder(Path("sizes"), size=None), TRAIN)
    with pytest.raises(DataError, match="images outside them"):
        Image.new("L", (8, 8)).save(tmp_path / "sizes" / "loose.png")
        imf.image_folder_dataset(folder(Path("sizes"), labels="folders"), TRAIN)


def test_a_relative_path_is_found_under_genfw_data(tmp_path, monkeypatch, shapes_folder):
    monkeypatch.setenv("GENFW_DATA", str(shapes_folder.parent))
    monkeypatch.chdir(tmp_path)
    assert len(imf.image_folder_dataset(folder(Path("shapes"), size=8), TRAIN).train) == 270


# -- hdf5 -----------------------------------------------------------------------------------------
def write_h5(path: Path, images: np.ndarray, layout: str, **extra) -> Path:
    stored = {"NCHW": images, "NHWC": images.transpose(0, 2, 3, 1), "NHW": images[:, 0]}[layout]
    with h5py.File(path, "w") as f:
        f.create_dataset("images", data=stored, chunks=True)
        for name, value in extra.items():
            f.create_dataset(name, data=value)
    return path


@pytest.mark.parametrize("layout", ["NCHW", "NHWC", "NHW"])
def test_hdf5_layouts_read_to_the_same_images(tmp_path, layout):
    images, labels = synthetic_images(300, c=1 if layout == "NHW" else 3)
    path = write_h5(tmp_path / "d.h5", images, layout, labels=labels)
    data = hdf5_dataset(HDF5Params(path=str(path), layout=layout, held_out=0.0, chunk_mb=1), EVAL)
    assert torch.equal(data.train.images, torch.from_numpy(images)) and data.test is None
    assert torch.equal(data.train.labels, torch.from_numpy(labels))


def test_hdf5_labels_factors_names_and_a_seeded_held_out_split(tmp_path):
    images, labels = synthetic_images(200)
    factors = np.stack([np.linspace(0, 1, 200) ** 2, np.repeat([0.5, 2.0], 100)], axis=1)  # float values
    path = tmp_path / "d.h5"
    write_h5(path, images, "NCHW", labels=labels.astype(np.int16), factors=factors)
    with h5py.File(path, "a") as f:
        f["labels"].attrs["class_names"] = ["left", "right"]
        f["factors"].attrs["names"] = ["curve", "half"]
    data = hdf5_dataset(HDF5Params(path=str(path), layout="NCHW"), TRAIN)
    test_rows, train_rows = held_out_split(200, 0.1, 0)
    assert torch.equal(data.test.images, torch.from_numpy(images[test_rows]))
    assert torch.equal(data.train.images, torch.from_numpy(images[train_rows]))
    assert data.train.class_names == ("left", "right") and data.train.factor_names == ("curve", "half")
    assert data.train.factors.dtype == torch.int64 and int(data.train.factors[:, 0].max()) <= 199
    assert torch.equal(data.train.factors[:, 1], torch.from_numpy((train_rows >= 100).astype(np.int64)))


def test_hdf5_given_test_group_and_limit(tmp_path):
    a, la = synthetic_images(120)
    b, lb = synthetic_images(30, seed=1)
    path = tmp_path / "split.h5"
    with h5py.File(path, "w") as f:
        for group, (x, y) in {"train": (a, la), "test": (b, lb)}.items():
            f.create_dataset(f"{group}/images", data=x)
            f.create_dataset(f"{group}/labels", data=y)
    params = dict(path=str(path), layout="NCHW", group="train", test_group="test", limit=50)
    data = hdf5_dataset(HDF5Params(**params), TRAIN)
    assert len(data.train) == 50 and torch.equal(data.test.images, torch.from_numpy(b))
    assert torch.equal(data.train.images, torch.from_numpy(a[:50]))
    assert len(hdf5_dataset(HDF5Params(**params), EVAL).train) == 120


def test_hdf5_problems_name_the_dataset_inside_the_file(tmp_path):
    images, labels = synthetic_images(20)
    floats = write_h5(tmp_path / "floats.h5", images.astype(np.float32), "NCHW")
    with pytest.raises(DataError, match=r"dataset /images in floats.h5 holds float32, not uint8 images"):
        hdf5_dataset(HDF5Params(path=str(floats), layout="NCHW"), TRAIN)
    good = write_h5(tmp_path / "good.h5", images, "NCHW", labels=labels[:5], meta=np.zeros(3))
    with pytest.raises(DataError, match=r"dataset /images in good.h5 has shape \[20, 3, 16, 16\]: 4 axes, but layout NHW has 3"):
        hdf5_dataset(HDF5Params(path=str(good), layout="NHW"), TRAIN)
    with pytest.raises(DataError, match=r"that is 16 channels of 3x16"):
        hdf5_dataset(HDF5Params(path=str(good), layout="NHWC"), TRAIN)
    with pytest.raises(DataError, match=r"dataset /labels in good.h5 is \[5\] int64; labels must be integers \[N\] with N = 20"):
        hdf5_dataset(HDF5Params(path=str(good), layout="NCHW"), TRAIN)
    with pytest.raises(DataError, match=r"the images dataset /pixels in good.h5 is missing \(it has /images \[20, 3, 16, 16\] uint8"):
        hdf5_dataset(HDF5Params(path=str(good), layout="NCHW", images="pixels"), TRAIN)
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(DataError, match="is not a readable HDF5 file"):
        hdf5_dataset(HDF5Params(path=str(tmp_path / "text.h5"), layout="NCHW"), TRAIN)
    with pytest.raises(DataError, match="HDF5 file not found"):
        hdf5_dataset(HDF5Params(path=str(tmp_path / "absent.h5"), layout="NCHW"), TRAIN)


# -- fashion_mnist --------------------------------------------------------------------------------
def test_fashion_mnist_reads_idx_files_in_torchvisions_layout(tmp_path, monkeypatch):
    write_idx(tmp_path / "FashionMNIST" / "raw")
    monkeypatch.setenv("GENFW_DATA", str(tmp_path))
    data = fashion_mnist_dataset(FashionMNISTParams(download=False), TRAIN)
    assert (len(data.train), len(data.test)) == (60, 20) and data.train.image_shape == (1, 28, 28)
    assert data.train.class_names == FASHION_MNIST.class_names and data.train.class_names[9] == "Ankle boot"
    assert data.train.name == "fashion_mnist-train" and data.train.labels[:12].tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    assert len(fashion_mnist_dataset(FashionMNISTParams(download=False, limit=7), TRAIN).train) == 7
    assert len(fashion_mnist_dataset(FashionMNISTParams(download=False, limit=7), EVAL).train) == 60


def test_fashion_mnist_gz_files_work_too(tmp_path):
    write_idx(tmp_path / "FashionMNIST" / "raw", gz=True)
    data = fashion_mnist_dataset(FashionMNISTParams(root=str(tmp_path), download=False), TRAIN)
    assert len(data.train) == 60


def test_fashion_mnist_missing_or_damaged_files_are_named(tmp_path):
    with pytest.raises(DataError, match=r"Fashion-MNIST not found under .*FashionMNIST/raw"):
        fashion_mnist_dataset(FashionMNISTParams(root=str(tmp_path), download=False), TRAIN)
    raw = tmp_path / "FashionMNIST" / "raw"
    write_idx(raw)
    name = "train-images-idx3-ubyte"
    (raw / name).write_bytes((raw / name).read_bytes()[:1000])
    with pytest.raises(DataError, match=re.escape(f"{name} is truncated or damaged (1,000 bytes, expected {16 + 60 * 784:,})")):
        fashion_mnist_dataset(FashionMNISTParams(root=str(tmp_path), download=False), TRAIN)


def test_a_download_that_fails_says_why_in_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    """A real download through a proxy that refuses every connection (as on a machine without
    network): the line says where, the reason torchvision got, and what to do; no folder is left."""
    with socket.socket() as refusing:  # bound, never listening: every connection is refused
        refusing.bind(("127.0.0.1", 0))
        proxy = f"http://127.0.0.1:{refusing.getsockname()[1]}"
        for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
            monkeypatch.setenv(var, proxy)
        for var in ("no_proxy", "NO_PROXY"):
            monkeypatch.delenv(var, raising=False)
        with pytest.raises(DataError) as caught:
            fashion_mnist_dataset(FashionMNISTParams(root=str(tmp_path), download=True), TRAIN)
    line = str(caught.value)
    raw = tmp_path / "FashionMNIST" / "raw"
    assert re.fullmatch(
        rf"could not download Fashion-MNIST into {re.escape(str(raw))} \(urlopen error \[Errno \d+\] [^()]+\) "
        r"\(on a machine without network, copy the four IDX files .* there yourself, or point GENFW_DATA / "
        r"dataset\.root at a folder that has FashionMNIST/raw/\)",
        line,
    ), line
    assert "\n" not in line and "Tried" not in line
    assert list(tmp_path.iterdir()) == []


def test_a_failed_download_names_each_mirrors_reason_once_without_addresses():
    message = ("Error downloading train-images-idx3-ubyte.gz:\nTried https://a.example/mnist/, got:\n"
               "<HTTP Error 403: Forbidden>\nTried http://b.example/mnist/, got:\n<urlopen error timed out>\n"
               "Tried http://c.example/mnist/, got:\n<urlopen error timed out>\n")
    assert mnist._short_reason(RuntimeError(message)) == "HTTP Error 403: Forbidden; urlopen error timed out"
    text = "no space left on device " * 20
    short = mnist._short_reason(RuntimeError(text))
    assert short.endswith(" ...") and len(short) <= 204
    kept = short.removesuffix(" ...")
    assert text.startswith(kept) and text[len(kept)] == " "  # cut between words
    assert mnist._short_reason(OSError()) == "OSError"


# -- dsprites -------------------------------------------------------------------------------------
SUBSET = {"orientation": [0, 10], "x": [0, 10, 20, 31], "y": [0, 15, 31]}  # 3*6*2*4*3 = 432 images


def sprites(**kw) -> ds.DSpritesParams:
    return ds.DSpritesParams(**{"subset": SUBSET, **kw})


def test_dsprites_grid_factors_and_split():
    data = ds.dsprites_dataset(sprites(held_out=0.25), TRAIN)
    assert data.image_shape == (1, 64, 64) and len(data.train) + len(data.test) == 432 and len(data.test) == 108
    assert data.train.factor_names == ("shape", "scale", "orientation", "x", "y") and data.train.labels is None
    both = torch.cat([data.test.factors, data.train.factors])
    assert len({tuple(r) for r in both.tolist()}) == 432  # every combination once
    assert sorted(set(both[:, 2].tolist())) == [0, 10] and sorted(set(both[:, 3].tolist())) == [0, 10, 20, 31]
    assert set(torch.unique(data.train.images).tolist()) == {0, 255}
    # The images are those of their factors.
    rows = torch.arange(0, len(data.train), 37)
    expected = ds.render(data.train.factors[rows].numpy()) * 255
    assert np.array_equal(data.train.images[rows, 0].numpy(), expected)


def test_dsprites_sprites_follow_their_factors():
    base = np.array([[0, 5, 0, 16, 16]])
    def pixels(**change):
        f = base.copy()
        for name, value in change.items():
            f[0, ds.FACTOR_NAMES.index(name)] = value
        return ds.render(f)[0].astype(bool)

    ys, xs = np.nonzero(pixels(x=31))
    ys0, xs0 = np.nonzero(pixels(x=0))
    assert xs.mean() > xs0.mean() + 30 and abs(ys.mean() - ys0.mean()) < 1  # x moves it right
    assert pixels(scale=5).sum() > 3 * pixels(scale=0).sum()  # area grows with scale squared
    assert pixels(shape=0).sum() != pixels(shape=1).sum() != pixels(shape=2).sum()
    assert not np.array_equal(pixels(orientation=5), pixels(orientation=0))
    everything = ds.render(ds.factor_grid({"scale": [5], "orientation": [0, 5, 9]}))
    assert everything[:, [0, -1], :].sum() == 0 and everything[:, :, [0, -1]].sum() == 0  # sprites stay inside


def test_dsprites_is_deterministic_and_cached_bit_packed(tmp_path):
    first = ds.dsprites_dataset(sprites(), TRAIN)
    npy = list((tmp_path / "cache" / "dsprites").glob("*.npy"))
    assert len(npy) == 1 and np.load(npy[0], mmap_mode="r").shape == (432, 512)  # one bit a pixel
    fresh = ds.dsprites_dataset(sprites(cache=False), TRAIN)
    assert torch.equal(first.train.images, fresh.train.images)


def test_dsprites_limit_is_for_training_and_a_rebuild_reuses_the_live_dataset():
    limited = ds.dsprites_dataset(sprites(limit=30), TRAIN)
    assert len(limited.train) == 30 and len(limited.test) == 22  # 5% of 432, rounded
    full = ds.dsprites_dataset(sprites(limit=30), EVAL)
    assert len(full.train) == 410
    assert ds.dsprites_dataset(sprites(), TRAIN) is full  # same data, same process: one copy in memory
    assert full.train.images.untyped_storage().data_ptr() == full.test.images.untyped_storage().data_ptr()


def test_dsprites_subset_errors_are_clear():
    with pytest.raises(ValueError, match="unknown factor 'colour'; dSprites' factors are shape, scale"):
        ds.DSpritesParams(subset={"colour": [0]})
    with pytest.raises(ValueError, match=r"subset.x: 32 is not a value index of x \(0..31\)"):
        ds.DSpritesParams(subset={"x": [1, 32]})


def test_full_dsprites_size_and_memory_note():
    grid = ds.factor_grid()
    assert grid.shape == (737_280, 5) and len(grid) * 64 * 64 == 3_019_898_880  # 3.0 GB as uint8
    assert len(grid) * 512 == 377_487_360  # the bit-packed cache
