"""genfw.runtime.sweeps and save_gif: several codes traversed at once, interpolation between two
latents, animations (issue #23, point 5), on a real exported generator in onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from genfw_testing import cli_in_process, error_line, export_small_generator
from PIL import Image

from genfw.runtime import CodeError, Generator, animation_codes, interpolate, save_gif, traverse_codes
from genfw.runtime.sweeps import _shortest_arc, _slerp


@pytest.fixture(scope="module")
def onnx_path(tmp_path_factory) -> Path:
    return export_small_generator(tmp_path_factory.mktemp("sweeps"))


@pytest.fixture(scope="module")
def gen(onnx_path) -> Generator:
    return Generator.load(onnx_path, threads=1)


def test_a_grid_has_a_row_per_code_and_changes_only_that_code_along_it(gen):
    controls = [c["name"] for c in gen.codes if c["role"] == "control" and c["name"] != "digit"]
    assert traverse_codes(gen, steps=5, seed=3).rows == ["digit", *controls]
    grid = traverse_codes(gen, steps=5, seed=3, fixed={"digit": 2})  # by default, the controls not fixed
    assert grid.rows == controls and grid.columns == 5 and grid.images.shape == (5 * len(controls), 1, 28, 28)
    base = gen.sample_codes(1, seed=3, digit=2)
    for row, name in enumerate(grid.rows):
        block = {k: v[row * 5 : (row + 1) * 5] for k, v in grid.codes.items()}
        assert np.allclose(block[name][:, 0], np.linspace(*gen.code(name)["range"], 5), atol=1e-6)
        for other, values in block.items():
            if other != name:  # every other code: one draw, the same in every row
                assert np.array_equal(values, np.repeat(base[other], 5, axis=0))
    assert np.array_equal(grid.codes["digit"], np.repeat(np.eye(10, dtype=np.float32)[2][None], 10, axis=0))
    assert np.array_equal(grid.images, gen.run(grid.codes))


def test_a_categorical_row_steps_through_its_categories(gen):
    grid = traverse_codes(gen, ["digit"], steps=12, seed=0)
    assert np.array_equal(grid.codes["digit"].argmax(axis=1), [i % 10 for i in range(12)])
    # 9 steps and 10 categories: 10 columns, so every category shows and the rows line up
    grid = traverse_codes(gen, seed=0)
    assert grid.columns == 10 and grid.images.shape[0] == 10 * len(grid.rows)
    assert np.array_equal(grid.codes["digit"][:10].argmax(axis=1), np.arange(10))
    assert np.allclose(grid.codes["c1"][10:20, 0], np.linspace(-2, 2, 10), atol=1e-6)


def test_a_grid_refuses_what_it_cannot_do(gen):
    with pytest.raises(CodeError, match="no latent code named 'nope'"):
        traverse_codes(gen, ["nope"])
    with pytest.raises(CodeError, match="both traversed and fixed"):
        traverse_codes(gen, ["c1"], fixed={"c1": 0.5})
    with pytest.raises(CodeError, match="steps must be a positive integer"):
        traverse_codes(gen, ["c1"], steps=0)
    with pytest.raises(CodeError, match="steps must be a positive integer"):
        traverse_codes(gen, ["c1"], steps=None)  # type: ignore[arg-type]


def test_an_interpolation_starts_and_ends_at_its_codes(gen):
    a, b = gen.sample_codes(1, seed=1), gen.sample_codes(1, seed=2, digit=7)
    path = interpolate(gen, a, b, steps=7, method="spherical")
    assert path.images.shape == (7, 1, 28, 28)
    for name in a:
        assert np.allclose(path.codes[name][0], a[name][0], atol=1e-6)
        assert np.allclose(path.codes[name][-1], b[name][0], atol=1e-6)
    # Spherical: the noise goes along the great circle, its norm changing linearly.
    norms = np.linalg.norm(path.codes["z"], axis=1)
    assert np.allclose(norms, np.linspace(norms[0], norms[-1], 7), atol=1e-4)
    straight = interpolate(gen, a, b, steps=7, method="linear")
    middle = (a["z"][0] + b["z"][0]) / 2
    assert np.allclose(straight.codes["z"][3], middle, atol=1e-6)
    assert np.linalg.norm(straight.codes["z"][3]) < np.linalg.norm(path.codes["z"][3])  # the chord cuts inside
    # auto: spherical only for codes with a normal prior (here the noise z, not the uniform c1 and c2).
    priors = {c["name"]: c["prior"]["kind"] for c in gen.codes}
    assert priors["z"] == "normal" and priors["c1"] == priors["c2"] == "uniform"
    auto = interpolate(gen, a, b, steps=7)
    assert np.allclose(auto.codes["z"], path.codes["z"]) and not np.allclose(auto.codes["z"], straight.codes["z"])
    assert np.allclose(auto.codes["c1"], straight.codes["c1"]) and np.allclose(auto.codes["c2"], straight.codes["c2"])
    # A categorical code blends its two categories: probability rows all the way.
    assert np.allclose(path.codes["digit"].sum(axis=1), 1.0) and path.codes["digit"][3].max() == pytest.approx(0.5)
    assert np.allclose(path.images, gen.run(path.codes), atol=1e-6)


def test_an_interpolation_refuses_what_it_cannot_do(gen):
    a = gen.sample_codes(1, seed=1)
    with pytest.raises(CodeError, match="gives no value for code"):
        interpolate(gen, a, {"digit": 3}, steps=3)
    with pytest.raises(CodeError, match="steps >= 2"):
        interpolate(gen, a, a, steps=1)
    with pytest.raises(CodeError, match="unknown interpolation method"):
        interpolate(gen, a, a, method="cubic")  # type: ignore[arg-type]


def test_slerp_and_the_short_arc_follow_their_geometry():
    t = np.linspace(0, 1, 5)
    a, b = np.array([[1.0, 0.0]]), np.array([[0.0, 2.0]])
    path = _slerp(a, b, t)
    angles = np.arctan2(path[:, 1], path[:, 0])
    assert np.allclose(angles, np.linspace(0, np.pi / 2, 5)) and np.allclose(np.linalg.norm(path, axis=1), 1 + t)
    assert np.allclose(_slerp(a, 3 * a, t), a + 2 * a * t[:, None])  # parallel: the straight line
    spec = {"range": [-np.pi, np.pi]}
    arc = _shortest_arc(np.array([[3.0]]), np.array([[-3.0]]), t, spec)[:, 0]
    step = 2 * np.pi - 6.0  # from 3 rad to -3 rad the short way crosses pi
    assert np.allclose(np.diff(np.unwrap(arc)), step / 4) and np.all((arc > -np.pi) & (arc <= np.pi))


def test_an_animation_loops_and_holds_every_other_code(gen):
    frames = animation_codes(gen, "c1", frames=24, n=4, seed=5, fixed={"digit": 1})
    assert len(frames) == 24
    c1 = np.array([f["c1"][0, 0] for f in frames])
    low, high = gen.code("c1")["range"]
    assert c1[0] == pytest.approx(low) and c1.max() == pytest.approx(high)
    assert np.allclose(c1[:13], np.linspace(low, high, 13), atol=1e-6) and np.allclose(c1[13:], c1[11:0:-1])
    for f in frames:
        assert np.array_equal(f["z"], frames[0]["z"]) and f["z"].shape[0] == 4
        assert np.array_equal(f["digit"].argmax(axis=1), [1, 1, 1, 1])
    assert len(animation_codes(gen, "c1", frames=5, n=1, seed=0)) == 5  # exactly the frames asked for
    categories = animation_codes(gen, "digit", frames=3, n=2, seed=0)
    assert [int(f["digit"][0].argmax()) for f in categories] == list(range(10))  # each category once


def test_a_gif_holds_the_frames(gen, tmp_path):
    frames = [gen.run(codes, dtype="uint8") for codes in animation_codes(gen, "c2", frames=6, n=4, seed=0)]
    path = save_gif(frames, tmp_path / "c2.gif", nrow=2, fps=10, scale=2)
    with Image.open(path) as gif:
        assert gif.n_frames == 6 and gif.info["duration"] == 100 and gif.info["loop"] == 0
        assert gif.size == ((2 * (28 + 2) + 2) * 2,) * 2  # 2 x 2 tiles of 28 px, 2 px apart, scaled 2x
        gif.seek(3)
        shown = np.asarray(gif.convert("L"))[::2, ::2]
    tiles = frames[3]
    assert np.array_equal(shown[2:30, 2:30], tiles[0, 0])  # nearest-neighbour scaling keeps every pixel
    with pytest.raises(CodeError, match="saved as GIF"):
        save_gif(frames, tmp_path / "c2.png")
    with pytest.raises(CodeError, match="fps must be"):
        save_gif(frames, tmp_path / "c2.gif", fps=0)


def test_genfw_sample_animates_a_code(onnx_path, tmp_path):
    out = tmp_path / "c1.gif"
    result = cli_in_process("sample", onnx_path, "--n", "4", "--nrow", "2", "--animate", "c1", "--frames", "8",
                            "-o", out)
    assert result.returncode == 0 and "wrote 8 frames of 4 images" in result.stdout
    with Image.open(out) as gif:
        assert gif.n_frames == 8
    for args, message in [
        (("--animate", "c1", "-o", tmp_path / "c1.png"), "--animate writes a GIF"),
        (("-o", tmp_path / "x.gif"), "add --animate CODE for a GIF"),
        (("--animate", "nope", "-o", tmp_path / "x.gif"), "no latent code named 'nope'"),
        (("--animate", "c1", "--code", "c1=0.5", "-o", tmp_path / "x.gif"), "both set it"),
        (("--animate", "c1", "--frames", "0", "-o", tmp_path / "x.gif"), "--frames must be at least 1"),
    ]:
        result = cli_in_process("sample", onnx_path, *args)
        assert message in error_line(result), args
