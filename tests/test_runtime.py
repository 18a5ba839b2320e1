"""genfw.runtime: torch-free loading, sampling, fixing codes, errors, saving."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnx
import pytest
from genfw_testing import REPO, export_small_generator, web_node_modules

from genfw.runtime import CodeError, Generator, GeneratorFileError, grid, interpolate, save_grid, traverse_codes



@pytest.fixture(scope="module")
def onnx_path(tmp_path_factory) -> Path:
    """A small InfoGAN MNIST generator (the config's latent codes), exported."""
    return export_small_generator(tmp_path_factory.mktemp("rt"))


@pytest.fixture(scope="module")
def gen(onnx_path) -> Generator:
    return Generator.load(onnx_path, threads=1)


def with_latent(src: Path, dst: Path, edit=None, keep_metadata: bool = True) -> Path:
    """A copy of ``src`` whose genfw.latent metadata is changed by ``edit(codes)`` (or removed)."""
    model = onnx.load(str(src))
    props = {p.key: p.value for p in model.metadata_props}
    del model.metadata_props[:]
    if keep_metadata:
        latent = json.loads(props["genfw.latent"])
        if edit:
            edit(latent["codes"])
        props["genfw.latent"] = json.dumps(latent)
        for k, v in props.items():
            model.metadata_props.append(onnx.StringStringEntryProto(key=k, value=v))
    onnx.save(model, str(dst))
    return dst


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and isinstance(exc, ValueError)
    return text


def test_import_and_use_never_import_torch(onnx_path, tmp_path):
    script = textwrap.dedent(f"""
        import sys
        import genfw.runtime as rt
        g = rt.Generator.load({str(onnx_path)!r}, threads=1)
        b = g.generate(5, seed=0, digit=3, c1=0.5)
        t = g.traverse("c1", steps=4, seed=1)
        rt.save_grid(b.images, {str(tmp_path / 'a.png')!r}, nrow=5)
        rt.save_h5(b.images, b.codes, {str(tmp_path / 'a.h5')!r}, g.latent_spec)
        assert b.images.shape == (5, 1, 28, 28) and t.images.shape == (4, 1, 28, 28)
        heavy = sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))
        print("TORCH" if heavy else "CLEAN", heavy[:3])
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("CLEAN"), proc.stdout


def test_the_contract_is_defined_once_and_torch_free():
    """Exporter and runtime use the one definition of the contract's names (genfw.export.contract),
    which imports neither torch nor the exporter."""
    proc = subprocess.run([sys.executable, "-c", "import sys, genfw.export.contract, genfw.export; "
                           "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('genfw.export.onnx')))"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stdout + proc.stderr
    import genfw.export.onnx_export as exporter
    import genfw.runtime.file_contract as runtime  # where the runtime reads the contract
    from genfw.export import contract

    for name in ("OUTPUT_NAME", "META_LATENT", "META_IMAGE", "META_VERSION", "META_EXPORT", "sidecar_path"):
        assert getattr(exporter, name) is getattr(contract, name) is getattr(runtime, name), name
    assert runtime.PAIRED_KEYS is contract.PAIRED_KEYS and runtime.sidecar_of is contract.sidecar_path
    assert contract.sidecar_path("a/model.onnx") == Path("a/model.json")


def test_load_reads_the_spec(gen):
    assert gen.code_names == ["z", "digit", "c1", "c2"]
    assert [c["dim"] for c in gen.codes] == [62, 10, 1, 1]
    assert gen.image_shape == (1, 28, 28)
    assert gen.code("digit")["labels"] == [str(i) for i in range(10)]
    assert Generator.load(gen.path.parent).code_names == gen.code_names  # a folder with generator.onnx


def test_sidecar_fallback_and_non_genfw_files(onnx_path, tmp_path):
    bare = with_latent(onnx_path, tmp_path / "generator.onnx", keep_metadata=False)
    with pytest.raises(GeneratorFileError, match="not a genfw generator") as info:
        Generator.load(bare)
    one_line(info.value)
    sidecar = json.loads(onnx_path.with_suffix(".json").read_text())
    sidecar["sha256"] = __import__("hashlib").sha256(bare.read_bytes()).hexdigest()  # the sidecar of these bytes
    (tmp_path / "generator.json").write_text(json.dumps(sidecar))
    g = Generator.load(bare)  # what onnxruntime-web apps do: metadata from the sidecar
    assert g.code_names == ["z", "digit", "c1", "c2"] and g.image_shape == (1, 28, 28)

    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"this is not a model")
    with pytest.raises(GeneratorFileError, match="not a loadable ONNX model") as info:
        Generator.load(junk)
    one_line(info.value)
    with pytest.raises(GeneratorFileError, match="file not found"):
        Generator.load(tmp_path / "missing.onnx")

    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])
    y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])
    plain = onnx.helper.make_model(onnx.helper.make_graph([onnx.helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y]),
                                   opset_imports=[onnx.helper.make_opsetid("", 18)])
    onnx.save(plain, str(tmp_path / "plain.onnx"))
    with pytest.raises(GeneratorFileError, match="not a genfw generator"):
        Generator.load(tmp_path / "plain.onnx")


def test_damaged_genfw_metadata_is_named(onnx_path, tmp_path):
    model = onnx.load(str(onnx_path))
    props = {p.key: p.value for p in model.metadata_props}
    for name, edit, needle in [("bad_json", {"genfw.latent": "{not json"}, "genfw.latent metadata is not valid JSON"),
                               ("no_image", {"genfw.image": None}, "no genfw.image metadata")]:
        del model.metadata_props[:]
        for k, v in {**props, **edit}.items():
            if v is not None:
                model.metadata_props.append(onnx.StringStringEntryProto(key=k, value=v))
        onnx.save(model, str(tmp_path / f"{name}.onnx"))
        with pytest.raises(GeneratorFileError, match=needle) as info:
            Generator.load(tmp_path / f"{name}.onnx")
        one_line(info.value)


def test_sample_codes_priors_and_seeds(gen):
    a = gen.sample_codes(500, seed=3)
    b = gen.sample_codes(500, seed=3)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["z"], gen.sample_codes(500, seed=4)["z"])
    assert {k: v.shape for k, v in a.items()} == {"z": (500, 62), "digit": (500, 10), "c1": (500, 1), "c2": (500, 1)}
    assert all(v.dtype == np.float32 for v in a.values())
    # The shipped priors: z ~ N(0, 1.5^2) (31,000 draws: the mean and std are within 0.03), c1 ~ U(-1, 1).
    assert gen.codes[0]["prior"] == {"kind": "normal", "mean": 0.0, "std": 1.5}
    assert abs(a["z"].mean()) < 0.03 and abs(a["z"].std() - 1.5) < 0.03 and np.abs(a["z"]).max() > 4.5
    assert a["c1"].min() >= -1 and a["c1"].max() <= 1
    assert np.array_equal(a["digit"].sum(1), np.ones(500)) and set(np.unique(a["digit"])) == {0.0, 1.0}
    assert len(set(a["digit"].argmax(1))) == 10
    fixed = gen.sample_codes(500, seed=3, digit=4)
    assert np.array_equal(fixed["z"], a["z"]) and np.array_equal(fixed["c1"], a["c1"])  # same styles, other digit
    assert (fixed["digit"].argmax(1) == 4).all()


def test_fixing_codes_by_value(gen):
    n = 4
    assert (gen.sample_codes(n, digit="7")["digit"].argmax(1) == 7).all()
    assert (gen.sample_codes(n, digit=np.int64(2))["digit"].argmax(1) == 2).all()
    blend = [0.5, 0.5] + [0.0] * 8
    assert np.allclose(gen.sample_codes(n, digit=blend)["digit"], np.tile(blend, (n, 1)))
    per_sample = np.eye(10, dtype=np.float32)[[0, 1, 2, 3]]
    assert np.array_equal(gen.sample_codes(n, digit=per_sample)["digit"], per_sample)
    assert (gen.sample_codes(n, c1=0.25)["c1"] == 0.25).all()
    assert np.array_equal(gen.sample_codes(n, c1=[0.1, 0.2, 0.3, 0.4])["c1"].ravel(), np.float32([0.1, 0.2, 0.3, 0.4]))
    assert (gen.sample_codes(n, z=np.zeros(62))["z"] == 0).all()


def test_generate_runs_the_model_on_the_codes_it_returns(gen):
    images, codes = gen.generate(6, seed=0, digit=1)
    assert images.shape == (6, 1, 28, 28) and images.dtype == np.float32
    assert 0 <= images.min() and images.max() <= 1
    direct = gen.session.run(["image"], codes)[0]
    assert np.array_equal(images, direct)
    again = gen.generate(codes=codes, dtype="uint8")
    assert again.images.dtype == np.uint8 and again.images.shape == (6, 1, 28, 28)
    assert np.abs(again.images.astype(int) - np.round(images * 255)).max() <= 1
    assert gen.generate().images.shape == (1, 1, 28, 28)
    chunked = gen.generate(codes=codes, batch_size=4).images
    assert np.allclose(chunked, images, atol=1e-6)


def test_traverse(gen):
    cat = gen.traverse("digit", seed=0)
    assert cat.images.shape == (10, 1, 28, 28)
    assert list(cat.codes["digit"].argmax(1)) == list(range(10))
    assert (cat.codes["z"] == cat.codes["z"][0]).all() and (cat.codes["c1"] == cat.codes["c1"][0]).all()
    cont = gen.traverse("c1", steps=5, seed=0, digit="3")
    assert np.allclose(cont.codes["c1"].ravel(), np.linspace(-2, 2, 5))  # the spec's suggested range
    assert (cont.codes["digit"].argmax(1) == 3).all()
    custom = gen.traverse("c2", seed=0, values=[-2.0, 0.0, 2.0])
    assert custom.codes["c2"].ravel().tolist() == [-2.0, 0.0, 2.0]


def test_errors_are_one_line_value_errors(gen):
    with pytest.raises(CodeError) as info:
        gen.generate(2, dgit=3)
    assert "dgit" in one_line(info.value) and "did you mean 'digit'? valid codes: z, digit, c1, c2" in str(info.value)
    with pytest.raises(CodeError) as info:
        gen.generate(2, digit=10)
    assert "0..9" in one_line(info.value)
    with pytest.raises(CodeError) as info:
        gen.generate(2, digit=-1)
    assert "0..9" in one_line(info.value)
    with pytest.raises(CodeError) as info:
        gen.generate(2, digit="seven")
    assert "seven" in one_line(info.value)
    with pytest.raises(CodeError) as info:
        gen.generate(2, z=np.zeros(61))
    assert "dim 62" in one_line(info.value)
    with pytest.raises(CodeError):
        gen.generate(2, digit=np.zeros((3, 10)))
    with pytest.raises(CodeError):
        gen.generate(2, c1=float("nan"))
    with pytest.raises(CodeError):
        gen.generate(0)
    with pytest.raises(CodeError):
        gen.traverse("nope", steps=3)
    with pytest.raises(CodeError):
        gen.generate(2, dtype="float16")
    for bad in (3.5, True, None):
        with pytest.raises(CodeError, match="category index") as info:
            gen.generate(2, digit=bad)
        one_line(info.value)
    assert (gen.sample_codes(2, digit=3.0)["digit"].argmax(1) == 3).all()  # an integral float is an index
    assert (gen.sample_codes(2, c1="0.5")["c1"] == 0.5).all()  # numbers as text, as a command line gives them
    for bad in ("inf", "nan", 1e39):  # float32 cannot hold 1e39 either
        with pytest.raises(CodeError, match="not a finite float32 number") as info:
            gen.generate(2, c1=bad)
        one_line(info.value)
    with pytest.raises(CodeError, match="steps must be a positive integer"):
        gen.traverse("c1", steps=0)


def test_bernoulli_and_unknown_priors(onnx_path, tmp_path):
    def edit(codes):
        codes[2]["prior"] = {"kind": "laplace", "scale": 1.0}
        codes[3]["prior"] = {"kind": "bernoulli", "p": 0.3}

    g = Generator.load(with_latent(onnx_path, tmp_path / "edited.onnx", edit), verify=False)  # no sidecar
    with pytest.raises(CodeError, match="explicitly") as info:
        g.sample_codes(3)
    assert "c1" in one_line(info.value)
    codes = g.sample_codes(2000, seed=0, c1=0.0)
    assert set(np.unique(codes["c2"])) == {0.0, 1.0}
    assert 0.25 < codes["c2"].mean() < 0.35
    assert g.generate(2, seed=0, c1=[0.5, -0.5]).images.shape == (2, 1, 28, 28)
    swept = g.traverse("c1", values=[-0.5, 0.5], seed=0)  # values for the code genfw.runtime cannot draw
    assert swept.codes["c1"].ravel().tolist() == [-0.5, 0.5]


def test_save_grid(gen, tmp_path):
    from PIL import Image

    images = gen.generate(10, seed=0).images
    path = save_grid(images, tmp_path / "sub" / "grid.png", nrow=5)
    with Image.open(path) as im:
        assert im.size == (5 * 30 + 2, 2 * 30 + 2) and im.mode == "L"
    assert grid(np.zeros((3, 3, 4, 4), np.float32), nrow=2).shape == (2 * 6 + 2, 2 * 6 + 2, 3)
    with pytest.raises(CodeError):
        grid(np.zeros((2, 28, 28)))
    with pytest.raises(CodeError, match="nrow"):
        grid(images, nrow=0)
    with pytest.raises(CodeError, match="PNG"):
        save_grid(images, tmp_path / "sub" / "grid.jpg")
    assert not [p for p in (tmp_path / "sub").iterdir() if p.name != "grid.png"]  # no temp files left


def test_docs_snippets_and_example_app_run_without_torch(onnx_path, tmp_path):
    """docs/onnx.md's Python blocks and examples/digit_styles.py, as an app would run them."""
    import re

    doc = (REPO / "docs" / "onnx.md").read_text(encoding="utf-8")
    encoder = doc.index("## Encoder: from an image to its codes")  # its blocks need an encoder: tests/test_encoder.py runs them
    doc = doc[:encoder] + doc[doc.index("\n## ", encoder + 1) :]
    blocks = re.findall(r"```python\n(.*?)```", doc, re.S)
    assert len(blocks) >= 3
    from genfw.runtime import save_h5

    batch = Generator.load(onnx_path).generate(5, seed=0)  # what the HDF5 snippet reads
    save_h5(batch.images, batch.codes, onnx_path.parent / "samples.h5", {"codes": []}, {"channels": 1})
    script = "\n".join(blocks) + "\nimport sys\nprint('TORCH' if 'torch' in sys.modules else 'CLEAN')\n"
    proc = subprocess.run([sys.executable, "-c", script], cwd=str(onnx_path.parent), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("CLEAN")
    assert (onnx_path.parent / "category3.png").is_file() and (onnx_path.parent / "c1.png").is_file()

    out = tmp_path / "styles.png"
    proc = subprocess.run([sys.executable, str(REPO / "examples" / "digit_styles.py"), str(onnx_path), "-o", str(out), "--styles", "5"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    from PIL import Image

    with Image.open(out) as im:
        assert im.size == (5 * 28, 10 * 28)


# -- issue #13: parameters vs network input, the spec apps build UIs from, the sidecar's hash ------
def test_vector_values_broadcast_only_by_the_documented_rule(gen):
    n = 5
    assert (gen.sample_codes(n, z=[0.25])["z"] == 0.25).all()  # length 1: every dimension of every sample
    row = np.linspace(-1, 1, 62, dtype=np.float32)
    assert np.array_equal(gen.sample_codes(n, z=row)["z"], np.tile(row, (n, 1)))  # length dim: every sample
    assert gen.sample_codes(n, c1=[0.5])["c1"].ravel().tolist() == [0.5] * n  # dim 1, length 1
    per_sample = np.float32([0.1, 0.2, 0.3, 0.4, 0.5])
    assert np.array_equal(gen.sample_codes(n, c1=per_sample)["c1"].ravel(), per_sample)  # dim 1, length n
    for name, bad, needle in [("z", np.zeros(n), "code 'z' has dim 62: got a vector of length 5"),  # n is not a width of z
                              ("z", [0.1, 0.2], "got a vector of length 2"),
                              ("c1", [0.1, 0.2, 0.3], "code 'c1' has dim 1: got a vector of length 3")]:
        with pytest.raises(CodeError, match=needle) as info:
            gen.sample_codes(n, **{name: bad})
        one_line(info.value)
    with pytest.raises(CodeError, match="5 numbers \\(one per sample\\)"):
        gen.generate(n, c1=[0.1, 0.2])


def test_spec_has_roles_ranges_and_how_it_was_exported(gen, onnx_path):
    from genfw.runtime import file_sha256

    assert [gen.code(name)["role"] for name in gen.code_names] == ["noise", "control", "control", "control"]
    assert gen.code("c1")["range"] == [-2.0, 2.0] and "range" not in gen.code("z")
    import genfw

    meta = {p.key: p.value for p in onnx.load(str(onnx_path)).metadata_props}
    assert gen.version == json.loads(meta["genfw.version"]) == genfw.__version__
    assert gen.export["weights"] == "fp32" and gen.export["ir_version"] == 8 and gen.export["tolerance"] == {"max_abs": 1e-4}
    assert gen.sha256 == file_sha256(onnx_path) == json.loads(onnx_path.with_suffix(".json").read_text())["sha256"]


def test_a_sidecar_for_other_bytes_is_refused(onnx_path, tmp_path):
    import shutil

    from genfw.runtime import file_sha256

    model = onnx.load(str(onnx_path))
    model.doc_string = "the same network, other bytes"
    onnx.save(model, str(tmp_path / "generator.onnx"))
    shutil.copy(onnx_path.with_suffix(".json"), tmp_path / "generator.json")
    with pytest.raises(GeneratorFileError, match="its sidecar generator.json was written for another file") as info:
        Generator.load(tmp_path / "generator.onnx")
    assert "keep each .onnx with the .json exported with it" in one_line(info.value)
    shutil.copy(onnx_path.with_suffix(".json"), tmp_path / "generator.json")
    (tmp_path / "generator.onnx").write_bytes(onnx_path.read_bytes())
    g = Generator.load(tmp_path / "generator.onnx")
    assert g.sha256 == file_sha256(onnx_path) and g.verified


# -- issue #21: hash checks that cannot be skipped, sidecars checked against the model --------------
def paired(src: Path, dst: Path, edit) -> Path:
    """A copy of ``src`` whose genfw.latent metadata ``edit(codes)`` changed, with a sidecar that
    says the same and records the new bytes' SHA-256: a pair that verifies, and a spec to judge."""
    from genfw.export.pair import write_pair

    model = onnx.load(str(src))
    sidecar = json.loads(src.with_suffix(".json").read_text())
    latent = json.loads(next(p.value for p in model.metadata_props if p.key == "genfw.latent"))
    edit(latent["codes"])
    for prop in model.metadata_props:
        if prop.key == "genfw.latent":
            prop.value = json.dumps(latent)
    write_pair(dst, model.SerializeToString(), {**sidecar, "latent": latent})
    return dst


def copy_pair(src: Path, folder: Path) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / src.name).write_bytes(src.read_bytes())
    (folder / src.with_suffix(".json").name).write_bytes(src.with_suffix(".json").read_bytes())
    return folder / src.name


@pytest.mark.parametrize("damage, needle", [
    (lambda sidecar: sidecar.unlink(), "cannot verify it: its sidecar generator.json is missing"),
    (lambda sidecar: sidecar.write_text("{not json"), "its sidecar generator.json is not valid JSON (Expecting property name"),
    (lambda sidecar: sidecar.write_text(json.dumps({k: v for k, v in json.loads(sidecar.read_text()).items() if k != "sha256"})),
     "its sidecar generator.json records no SHA-256"),
    (lambda sidecar: sidecar.write_text(json.dumps({"app": "settings"})), "its sidecar generator.json is not a genfw sidecar"),
], ids=["deleted", "not_json", "no_sha256", "not_a_sidecar"])
def test_a_model_whose_sidecar_cannot_verify_it_is_refused_unless_verify_is_false(onnx_path, tmp_path, damage, needle):
    model = copy_pair(onnx_path, tmp_path / "pair")
    damage(model.with_suffix(".json"))
    model.write_bytes(model.read_bytes()[:-1] + b"\x01")  # tampered: nothing may run it unchecked by accident
    with pytest.raises(GeneratorFileError) as info:
        Generator.load(model)
    line = one_line(info.value)
    assert line.startswith(f"{model}: ") and needle in line and line.endswith("to run it unverified, load it with verify=False)")
    g = Generator.load(model, verify=False)  # the caller says so: it runs, and says it was not verified
    assert g.sha256 is None and not g.verified and g.generate(2, seed=0).images.shape == (2, 1, 28, 28)


@pytest.mark.parametrize("edit, needle", [
    (lambda codes: codes[1]["labels"].__setitem__(3, "7"), "latent.codes[1].labels[3] ('3' in the model, '7' in the sidecar)"),
    (lambda codes: codes[2].__setitem__("range", [-5.0, 5.0]), "latent.codes[2].range[0] (-2.0 in the model, -5.0 in the sidecar)"),
    (lambda codes: codes[0].__setitem__("dim", 64), "latent.codes[0].dim (62 in the model, 64 in the sidecar)"),
    (lambda codes: codes[1]["prior"].__setitem__("probs", [1.0] + [0.0] * 9), "latent.codes[1].prior.probs[0]"),
], ids=["labels", "range", "dim", "prior"])
def test_a_sidecar_edited_by_hand_is_refused(onnx_path, tmp_path, edit, needle):
    model = copy_pair(onnx_path, tmp_path / "pair")
    sidecar = json.loads(model.with_suffix(".json").read_text())
    edit(sidecar["latent"]["codes"])  # the SHA-256 still matches: only the spec was changed
    model.with_suffix(".json").write_text(json.dumps(sidecar))
    with pytest.raises(GeneratorFileError) as info:
        Generator.load(model)
    line = one_line(info.value)
    assert line.startswith(f"{model.with_suffix('.json')}: its sidecar does not match the model's own metadata at ") and needle in line
    assert "a sidecar is never edited by hand" in line


@pytest.mark.parametrize("edit, needle", [
    (lambda codes: codes[1].__setitem__("k", 1e9),
     "the k of code 'digit' in its metadata is wrong: k = 1000000000.0 but the model takes 10 numbers for it (one per category)"),
    (lambda codes: codes[1].__setitem__("labels", [f"l{i}" for i in range(200_000)]),
     "the label list of code 'digit' in its metadata is wrong: labels has 200000 entries for 10 categories"),
    (lambda codes: codes[2].__setitem__("range", [2.0, -2.0]),
     "the range of code 'c1' in its metadata is wrong: [2.0, -2.0] is not [low, high] with finite low < high"),
    (lambda codes: codes[1].update(dim=12, k=12, labels=[str(i) for i in range(12)], prior={"kind": "categorical", "probs": [1 / 12] * 12}),
     "the dim of code 'digit' in its metadata is wrong: it says 12 but the model's input 'digit' is [batch, 10]"),
], ids=["k_1e9", "200000_labels", "range_2_-2", "dims"])
def test_a_spec_that_does_not_fit_the_model_is_refused(onnx_path, tmp_path, edit, needle):
    """A pair that verifies (the hash and the metadata agree) is still refused when its spec does
    not fit the model: the page would draw nothing, make 200,000 buttons or a dead slider."""
    model = paired(onnx_path, tmp_path / "generator.onnx", edit)
    for verify in (True, False):
        with pytest.raises(GeneratorFileError) as info:
            Generator.load(model, verify=verify)
        assert one_line(info.value) == f"{model}: {needle} (re-export it with `genfw export`)"


def test_an_image_spec_that_does_not_fit_the_output_is_refused(onnx_path, tmp_path):
    model = onnx.load(str(onnx_path))
    for prop in model.metadata_props:
        if prop.key == "genfw.image":
            prop.value = json.dumps({"channels": 3, "height": 28, "width": 28, "range": [0, 1]})
    onnx.save(model, str(tmp_path / "g.onnx"))
    with pytest.raises(GeneratorFileError) as info:
        Generator.load(tmp_path / "g.onnx", verify=False)
    assert "its metadata says images are 3x28x28 but the model's output 'image' has shape [batch, 1, 28, 28]" in one_line(info.value)


def test_categorical_values_must_be_probability_vectors(gen):
    for bad, needle in [([-5, 0, 0, 0, 0, 0, 0, 0, 0, 6], "it has a negative value (-5)"),
                        ([0.2] + [0.0] * 8 + [0.3], "it sums to 0.5"),
                        (np.eye(10)[[1, 2]] * [[1.0], [3.0]], "it sums to 3 (row 1)")]:
        with pytest.raises(CodeError) as info:
            gen.sample_codes(2, digit=bad)
        assert "code 'digit' takes a probability vector (k = 10 numbers >= 0 that sum to 1): " + needle in one_line(info.value)
    thirds = [0.333, 0.333, 0.333] + [0.0] * 7  # typed by hand: within the tolerance
    assert np.allclose(gen.sample_codes(2, digit=thirds)["digit"][0], thirds, atol=1e-6)


def test_threads_beyond_the_cpus_are_refused_in_one_line(onnx_path):
    from genfw.runtime import RuntimeUsageError, usable_cpus

    for bad in (99999999999, 0, usable_cpus() + 1, True, 1.5):
        with pytest.raises(RuntimeUsageError, match=f"threads must be an integer from 1 to {usable_cpus()}") as info:
            Generator.load(onnx_path, threads=bad)
        one_line(info.value)
    assert Generator.load(onnx_path, threads=usable_cpus()).verified


def test_more_images_than_memory_holds_are_refused_before_any_work(gen):
    from genfw.runtime import MemoryNeedError, available_memory

    with pytest.raises(MemoryNeedError) as info:
        gen.generate(2**62, seed=0)
    line = one_line(info.value)
    assert line.startswith("4,611,686,018,427,387,904 images of 1x28x28 as float32, would take 18,557.4 EB of memory") and \
        "generate at most" in line
    assert available_memory() > 100 << 20
    float_images = gen.generate(300, seed=1, batch_size=64).images  # in chunks, each written into the result
    as_bytes = gen.generate(300, seed=1, batch_size=64, dtype="uint8").images
    assert as_bytes.dtype == np.uint8 and np.array_equal(as_bytes, (np.clip(float_images, 0, 1) * 255 + 0.5).astype(np.uint8))


def test_version_is_json_and_old_plain_text_still_reads(onnx_path, tmp_path):
    from genfw.runtime import parse_version

    assert parse_version('"0.2.0"') == "0.2.0" and parse_version("0.1.0") == "0.1.0"
    assert parse_version("1.0") == "1.0" and parse_version(b'"0.3"') == "0.3" and parse_version(None) is None
    for stored, expected in [("0.1.0", "0.1.0"), ('"0.2.0"', "0.2.0")]:
        model = onnx.load(str(onnx_path))
        for p in model.metadata_props:
            if p.key == "genfw.version":
                p.value = stored
        onnx.save(model, str(tmp_path / "g.onnx"))
        assert Generator.load(tmp_path / "g.onnx", verify=False).version == expected


def test_default_sweeps_use_the_range_and_unknown_priors_are_never_guessed(onnx_path, tmp_path):
    import genfw.runtime.codes as rt

    def edit(codes):
        codes[2]["range"] = [-3.0, 3.0]
        del codes[3]["range"]  # without a range: the prior's, U(-1, 1)

    g = Generator.load(with_latent(onnx_path, tmp_path / "ranges.onnx", edit), verify=False)
    assert np.allclose(g.traverse("c1", steps=3, seed=0).codes["c1"].ravel(), [-3, 0, 3])
    assert np.allclose(g.traverse("c2", steps=3, seed=0).codes["c2"].ravel(), [-1, 0, 1])
    spec = {"name": "w", "dim": 2, "prior": {"kind": "laplace", "scale": 1.0}}
    with pytest.raises(CodeError, match="prior of kind 'laplace' that genfw.runtime cannot sample") as info:
        rt._draw(spec, 3, 0, 0)  # was drawn as categorical before
    one_line(info.value)


# -- issue #23: portable seeds (genfw.export.seeds and genfw-web.js draw the same codes) -------------
WEB_PACKAGE = REPO / "web" / "genfw-web"
WEB_LIBRARY = WEB_PACKAGE / "genfw-web.js"
ALL_PRIORS = [
    {"name": "u", "dim": 5, "prior": {"kind": "uniform", "low": -1.5, "high": 0.25}},
    {"name": "cat", "dim": 10, "k": 10, "prior": {"kind": "categorical", "probs": [0.1] * 10}},
    {"name": "normal", "dim": 3, "prior": {"kind": "normal", "mean": 0.5, "std": 2.0}},
    {"name": "bits", "dim": 4, "prior": {"kind": "bernoulli", "p": 0.3}},
    {"name": "skewed", "dim": 3, "k": 3, "prior": {"kind": "categorical", "probs": [0.7, 0.2, 0.1]}},
    {"name": "default_normal", "dim": 2, "prior": {"kind": "normal"}},
]
SEEDS = [0, 1, 42, 2**53 - 1, 2**64 - 1]


def node_draws(codes: list[dict], n: int, seeds: list[int], tmp_path: Path) -> dict[int, dict[str, np.ndarray]]:
    """genfw-web.js's drawCodes(codes, n, seed) for each seed, run in Node."""
    library = WEB_LIBRARY  # an ES module: its package.json says "type": "module"
    script = textwrap.dedent("""
        const [library, codes, n, seeds] = process.argv.slice(1);
        const { drawCodes } = await import(library);
        const out = {};
        for (const seed of JSON.parse(seeds)) out[seed] = Object.fromEntries(
          Object.entries(drawCodes(JSON.parse(codes), Number(n), BigInt(seed))).map(([k, v]) => [k, Array.from(v)]));
        console.log(JSON.stringify(out));
    """)
    proc = subprocess.run(["node", "--input-type=module", "-e", script, str(library), json.dumps(codes), str(n),
                           json.dumps([str(s) for s in seeds])], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return {int(seed): {name: np.asarray(v, np.float32).reshape(n, -1) for name, v in drawn.items()}
            for seed, drawn in json.loads(proc.stdout).items()}


def test_a_seed_gives_the_same_codes_in_python_and_in_node(gen, tmp_path):
    from genfw.export.seeds import draw_prior, splitmix64

    # SplitMix64's published sequence for seed 1234567 (the generator every port starts from).
    assert splitmix64(1234567, np.arange(2, dtype=np.uint64)).tolist() == [6457827717110365317, 3203168211198807973]
    for codes, n in ((ALL_PRIORS, 40), (gen.codes, 9)):
        js = node_draws(codes, n, SEEDS, tmp_path)
        for seed in SEEDS:
            ours = {c["name"]: draw_prior(c["prior"], c["dim"], n, seed, j) for j, c in enumerate(codes)}
            for name, values in ours.items():
                assert values.dtype == np.float32 and np.array_equal(values, js[seed][name]), (seed, name)
    for seed in SEEDS:  # and the runtime's own sample_codes is that stream
        drawn = gen.sample_codes(9, seed=seed)
        js = node_draws(gen.codes, 9, [seed], tmp_path)[seed]
        assert all(np.array_equal(drawn[name], js[name]) for name in drawn), seed


def test_seeded_draws_follow_the_priors_and_do_not_depend_on_n_or_fixed_codes():
    from genfw.export.seeds import draw_prior

    (u, cat, normal, bits, skewed, _) = [draw_prior(c["prior"], c["dim"], 20000, 7, j) for j, c in enumerate(ALL_PRIORS)]
    assert -1.5 <= u.min() and u.max() < 0.25 and abs(u.mean() - (-0.625)) < 0.01
    assert np.all(cat.sum(1) == 1) and np.allclose(cat.mean(0), 0.1, atol=0.01)
    assert abs(normal.mean() - 0.5) < 0.05 and abs(normal.std() - 2.0) < 0.05
    assert set(np.unique(bits)) == {0.0, 1.0} and abs(bits.mean() - 0.3) < 0.01
    assert np.allclose(skewed.mean(0), [0.7, 0.2, 0.1], atol=0.01)
    few = draw_prior(ALL_PRIORS[0]["prior"], 5, 16, 7, 0)
    assert np.array_equal(few, u[:16])  # sample i is the same whatever n is
    assert not np.array_equal(few, draw_prior(ALL_PRIORS[0]["prior"], 5, 16, 8, 0))
    assert not np.array_equal(few, draw_prior(ALL_PRIORS[0]["prior"], 5, 16, 7, 1))  # each code its own stream


def test_the_runtime_seeds_codes_portably(gen):
    a, b = gen.sample_codes(64, seed=5), gen.sample_codes(16, seed=5)
    assert all(np.array_equal(a[name][:16], b[name]) for name in a)
    fixed = gen.sample_codes(16, seed=5, digit=2)
    assert all(np.array_equal(fixed[name], b[name]) for name in b if name != "digit")
    assert not np.array_equal(gen.sample_codes(16)["z"], gen.sample_codes(16)["z"])  # no seed: a fresh one each time
    for bad in (-1, 2**64, 1.5, True, "3"):
        with pytest.raises(CodeError, match="a seed is an integer from 0 to 2"):
            gen.sample_codes(2, seed=bad)


# -- issue #23: genfw-web as an npm package, in Node ------------------------------------------------
NODE_APP = r"""
import * as ort from "onnxruntime-web";
import { loadGenerator, specVersionProblem, SPEC_VERSION, OUTPUT_NAME, META_KEYS, PAIRED_KEYS } from "genfw-web";
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
ort.env.wasm.numThreads = 1;
const [model, newer, tampered] = process.argv.slice(2);
const out = { constants: { SPEC_VERSION, OUTPUT_NAME, META_KEYS, PAIRED_KEYS }, errors: {} };
const byPath = await loadGenerator(ort, model);                                   // a file path
const byUrl = await loadGenerator(ort, pathToFileURL(model));                     // a file: URL
const byBytes = await loadGenerator(ort, readFileSync(model), { sidecar: JSON.parse(readFileSync(model.replace(/\.onnx$/, ".json"), "utf8")) });
out.verified = [byPath.verified, byUrl.verified, byBytes.verified];
const codes = byBytes.sampleCodes(6, 3, { digit: 2 });
out.codes = Object.fromEntries(Object.entries(codes).map(([k, v]) => [k, Array.from(v)]));
out.images = Array.from(await byPath.run(codes));
for (const [name, load] of [["newer", () => loadGenerator(ort, newer)], ["tampered", () => loadGenerator(ort, tampered)],
                            ["bytes_without_sidecar", () => loadGenerator(ort, readFileSync(model))],
                            ["missing", () => loadGenerator(ort, model + ".nothing.onnx")]]) {
  try { await load(); out.errors[name] = null; } catch (err) { out.errors[name] = `${err.name}: ${err.message}`; }
}
out.versionProblems = [specVersionProblem(null), specVersionProblem("1.9.0"), specVersionProblem("2.0.0")];
const plain = (codes) => Object.fromEntries(Object.entries(codes).map(([k, v]) => [k, Array.from(v)]));
const grid = await byPath.traverseCodes(null, 5, 7, { digit: 4 });
out.traverse = { rows: grid.rows, columns: grid.columns, codes: plain(grid.codes) };
const path = await byPath.interpolate(byPath.sampleCodes(1, 1), byPath.sampleCodes(1, 2, { digit: 6 }), 6);
out.interpolate = { codes: plain(path.codes), images: Array.from(path.images) };
console.log(JSON.stringify(out));
"""


def test_the_npm_package_runs_a_generator_in_node_as_python_does(onnx_path, tmp_path):
    """web/genfw-web imports in Node as a package and runs an exported generator with onnxruntime-web
    (WASM): loaded from a path, a file: URL and bytes, verified, the same codes and images as
    genfw.runtime; a newer MAJOR spec and a tampered file refused in one line."""
    from genfw.export.contract import META_EXPORT, META_IMAGE, META_LATENT, META_SPEC_VERSION, META_VERSION, OUTPUT_NAME, \
        PAIRED_KEYS, SPEC_VERSION
    from genfw.export.pair import write_pair

    package = json.loads((WEB_PACKAGE / "package.json").read_text())
    assert package["type"] == "module" and package["exports"]["."]["types"] == "./genfw-web.d.ts"
    assert all((WEB_PACKAGE / name).is_file() for name in package["files"])
    app = tmp_path / "app"
    (app / "node_modules").mkdir(parents=True)  # an app that installed both packages
    (app / "node_modules" / "genfw-web").symlink_to(WEB_PACKAGE)
    (app / "node_modules" / "onnxruntime-web").symlink_to(web_node_modules() / "onnxruntime-web")
    (app / "main.mjs").write_text(NODE_APP)
    model = onnx.load(str(onnx_path))
    for prop in model.metadata_props:
        if prop.key == META_SPEC_VERSION:
            prop.value = json.dumps("2.0.0")
    write_pair(tmp_path / "newer.onnx", model.SerializeToString(),
               {**json.loads(onnx_path.with_suffix(".json").read_text()), "spec_version": "2.0.0"})
    tampered = copy_pair(onnx_path, tmp_path / "tampered")
    tampered.write_bytes(tampered.read_bytes()[:-1] + b"\x01")
    proc = subprocess.run(["node", "main.mjs", str(onnx_path), str(tmp_path / "newer.onnx"), str(tampered)], cwd=app,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["constants"] == {"SPEC_VERSION": SPEC_VERSION, "OUTPUT_NAME": OUTPUT_NAME, "PAIRED_KEYS": list(PAIRED_KEYS),
                                "META_KEYS": {"latent": META_LATENT, "image": META_IMAGE, "version": META_VERSION,
                                              "export": META_EXPORT, "spec_version": META_SPEC_VERSION}}
    assert out["verified"] == [True, True, True]
    g = Generator.load(onnx_path)
    ours = g.generate(6, seed=3, digit=2)
    assert all(np.array_equal(ours.codes[name], np.asarray(v, np.float32).reshape(6, -1)) for name, v in out["codes"].items())
    theirs = np.asarray(out["images"], np.float32).reshape(ours.images.shape)
    assert np.abs(theirs - ours.images).max() < 1e-5  # onnxruntime-web's WASM kernels vs onnxruntime's CPU ones
    errors = out["errors"]
    assert errors["newer"] == f"GenfwError: {tmp_path / 'newer.onnx'}: it follows generator spec 2.0.0, newer than the 1.x " \
                              f"this genfw-web reads (use a newer genfw-web, or export it with a genfw that writes spec {SPEC_VERSION})"
    assert errors["tampered"].startswith(f"GenfwError: {tampered} does not match its sidecar (SHA-256")
    assert "its sidecar generator.json was not given (pass it with the bytes as options.sidecar)" in errors["bytes_without_sidecar"]
    assert errors["missing"].endswith("could not read the model (ENOENT): pass an .onnx file written by `genfw export`")
    assert all("\n" not in e for e in errors.values())
    assert out["versionProblems"][:2] == [None, None] and "newer than the 1.x" in out["versionProblems"][2]
    # Traversals and interpolations follow genfw.runtime's rules (float64 maths, float32 codes).
    grid = traverse_codes(g, None, 5, 7, {"digit": 4})
    assert out["traverse"]["rows"] == grid.rows and out["traverse"]["columns"] == grid.columns == 5
    for name, values in out["traverse"]["codes"].items():
        assert np.allclose(np.asarray(values, np.float32).reshape(grid.codes[name].shape), grid.codes[name], atol=1e-6)
    path = interpolate(g, g.sample_codes(1, 1), g.sample_codes(1, 2, digit=6), 6)
    for name, values in out["interpolate"]["codes"].items():
        assert np.allclose(np.asarray(values, np.float32).reshape(path.codes[name].shape), path.codes[name], atol=1e-6)
    assert np.abs(np.asarray(out["interpolate"]["images"], np.float32).reshape(path.images.shape) - path.images).max() < 1e-5
