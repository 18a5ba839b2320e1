"""Images/s of the exported generator in onnxruntime vs the same generator in torch eager.

    python bench/onnx_inference.py                      # the paper's MNIST generator, fresh weights
    python bench/onnx_inference.py runs/mnist-...       # a run directory, generator.pt or checkpoint
    python bench/onnx_inference.py --check              # exit 1 unless the floors below hold
    python bench/onnx_inference.py RUN --weights fp32 int8   # only some weight formats (default: all three)
    python bench/onnx_inference.py --sizes                  # every shipped config: export size and speed
    python bench/onnx_inference.py --sizes configs/dcgan_mnist.json   # some configs only

Both engines get 2 threads (``torch.set_num_threads(2)``; onnxruntime ``intra_op_num_threads=2``)
and the same inputs. Each repeat times both engines back to back, so a change in machine load
hits both; the table shows the median over repeats. onnxruntime runs the way ``genfw.runtime``
opens models (worker threads do not spin; ``--spin`` to compare). Floors checked by ``--check``:
onnxruntime >= 4x torch eager at batch 1 and >= 1.0x at batch 256. The ratios depend on machine
load and thread wait policies (torch's OpenMP threads spin by default, which collapses batch-1
throughput on a busy machine; try ``OMP_WAIT_POLICY=PASSIVE``), so compare runs made alike.

Every weight format of ``genfw export --weights`` is exported and timed (fp32, fp16, int8; rows
"onnxruntime fp16" etc.), with its file size; the ratios are against torch eager and against
onnxruntime fp32. The floors apply to fp32.

``--sizes`` is the table in docs/onnx.md "Export size and speed": each config's generator, built
untrained from the config (BatchNorm statistics warmed up; sizes and speed do not depend on
training), exported fp32 and int8 as ``genfw export`` does, with and without the sub-pixel
rewrite (``export_generator(subpixel=False)``), and with the rewrite of whole chains that genfw
applied before it was limited. Times are the CPU time of one onnxruntime thread per batch
(``time.thread_time``, median of interleaved repeats): on a shared machine that is what a quiet
core would take, where wall-clock times move with the other jobs.

The last line is the batch-1 ceiling of this machine: the time numpy needs to read the largest
fp32 weight matrix once (x @ W), which an fp32 engine pays per image at batch 1 (int8 weights
are a quarter of the bytes, which is what can lift batch 1 past it).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FLOORS = {1: 4.0, 256: 1.0}


def fresh_generator():
    """The config's generator with warmed-up BatchNorm statistics (untrained weights are fine for timing)."""
    import torch

    from genfw.building import build_latent, build_network
    from genfw.session import load_config_and_plugins
    from genfw.data.spec import DataSpec

    torch.manual_seed(0)
    _, rc = load_config_and_plugins(REPO / "configs" / "infogan_mnist.json")
    latent = build_latent(rc)
    g = build_network(rc, "generator", latent, DataSpec((1, 28, 28)))
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        g.train()
        for _ in range(3):
            g(latent.encode(latent.sample(64, gen)))
    return g.eval(), latent, (1, 28, 28)


def timer(fn, batch: int, target_s: float):
    """A function timing ``fn``: seconds per call, over enough calls to last about ``target_s``."""
    fn()
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-6)
    calls = max(2, int(target_s / once))

    def measure() -> float:
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        return (time.perf_counter() - start) / calls

    return measure


def weight_read_bound(onnx_path: Path, seconds: float) -> tuple[float, float]:
    """Megabytes of the largest weight matrix, and seconds numpy takes for one row times it.

    At batch 1 every engine has to stream each weight from memory once per image, so this one
    product (timed in numpy, which streams it at close to memory speed) caps batch-1 throughput.
    """
    import numpy as np
    import onnx
    from onnx import numpy_helper

    weights = [numpy_helper.to_array(t) for t in onnx.load(str(onnx_path)).graph.initializer if len(t.dims) == 2]
    w = np.ascontiguousarray(max(weights, key=lambda a: a.size), dtype=np.float32)
    x = np.ones((1, w.shape[0]), np.float32)
    measure = timer(lambda: x @ w, 1, seconds)
    return w.nbytes / 1e6, statistics.median(measure() for _ in range(5))


# -- --sizes: every shipped config's export -----------------------------------------------------
def stand_in_data(resolved):
    """What the config's dataset would provide, without the data: its image shape, and MNIST's
    ten classes or dSprites' factors where a model may ask for them."""
    from genfw.data.dsprites import FACTOR_NAMES
    from genfw.data.spec import DataSpec

    dataset = resolved.dataset
    classes = tuple(str(i) for i in range(10))
    specs = {
        "mnist": lambda: DataSpec((1, 28, 28), classes, (6000,) * 10),
        "fashion_mnist": lambda: DataSpec((1, 28, 28), classes, (6000,) * 10),
        "dsprites": lambda: DataSpec((1, 64, 64), factor_names=FACTOR_NAMES),
        "image_folder": lambda: DataSpec((dataset.params.channels, dataset.params.size, dataset.params.size)),
    }
    return specs[dataset.type]()


def config_generator(config: Path):
    """The config's generator, untrained, with warmed-up BatchNorm statistics."""
    import torch

    from genfw.building import build_latent, build_model
    from genfw.session import load_config_and_plugins

    torch.manual_seed(0)
    _, resolved = load_config_and_plugins(config)
    data = stand_in_data(resolved)
    latent = build_latent(resolved, data)
    g = build_model(resolved, latent, data).generator
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        g.train()
        for _ in range(3):
            g(latent.encode(latent.sample(64, gen)))
    return g.eval(), latent, data.image_shape


def cpu_seconds_per_call(session, feed) -> float:
    """CPU time of the calling thread per ``session.run`` (onnxruntime runs on it with 1 thread)."""
    session.run(None, feed)
    start = time.thread_time()
    session.run(None, feed)
    calls = max(3, int(0.25 / max(time.thread_time() - start, 1e-6)))
    start = time.thread_time()
    for _ in range(calls):
        session.run(None, feed)
    return (time.thread_time() - start) / calls


def export_variants(g, latent, image_shape, folder: Path) -> dict[str, bytes]:
    """The serialized exports: "rewrite"/"none" (with/without the sub-pixel rewrite where it
    pays) and "chains" (every whole chain rewritten, as genfw did before), each fp32 and int8."""
    import io

    import onnx

    from genfw.export import export_generator
    from genfw.export.onnx_export import calibration_feeds
    from genfw.export.weight_formats import convert_weights
    from genfw.export.subpixel import rewrite_upsampling_chains

    out = {}
    for name, subpixel in (("rewrite", True), ("none", False)):
        for weights in ("fp32", "int8"):
            report = export_generator(g, latent, image_shape, folder / f"{name}-{weights}.onnx", weights=weights,
                                      subpixel=subpixel)
            out[f"{name} {weights}"] = Path(report["path"]).read_bytes()
    chains = onnx.load_from_string(out["none fp32"])
    rewrite_upsampling_chains(chains, max_layers=len(chains.graph.node), max_growth=float("inf"))
    out["chains fp32"] = chains.SerializeToString()
    out["chains int8"] = convert_weights(chains, "int8", io.StringIO(), calibration_feeds(latent)).SerializeToString()
    return out


def size_table(configs: list[Path], repeats: int) -> None:
    """Print docs/onnx.md's table: per config, file MB and ms per batch (1 and 64) of each export."""
    import onnxruntime as ort
    import torch

    from genfw.export.wrapper import sample_inputs

    torch.set_num_threads(1)
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.log_severity_level = 3
    print("| config | generator | export | fp32 MB | int8 MB | fp32 ms b1 | fp32 ms b64 | int8 ms b1 | int8 ms b64 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for config in configs:
        g, latent, image_shape = config_generator(config)
        params = sum(p.numel() for p in g.parameters())
        with tempfile.TemporaryDirectory() as tmp:
            files = export_variants(g, latent, image_shape, Path(tmp))
        sessions = {k: ort.InferenceSession(v, options, providers=["CPUExecutionProvider"]) for k, v in files.items()}
        ms = {}
        for n in (1, 64):
            feed = {c.name: x.numpy() for c, x in zip(latent, sample_inputs(latent, n))}
            samples = {k: [] for k in sessions}
            for _ in range(repeats):  # interleaved, so a change in load hits every variant alike
                for k, session in sessions.items():
                    samples[k].append(cpu_seconds_per_call(session, feed))
            ms.update({(k, n): statistics.median(v) * 1e3 for k, v in samples.items()})
        shape = "x".join(map(str, image_shape))
        for i, (variant, label) in enumerate((("rewrite", "as exported"), ("none", "no sub-pixel rewrite"),
                                              ("chains", "whole chains (before)"))):
            head = f"{config.name} | {shape}, {params / 1e6:.2f} M params ({params * 4 / 1e6:.2f} MB)" if i == 0 else " | "
            cells = [f"{len(files[f'{variant} {w}']) / 1e6:.2f}" for w in ("fp32", "int8")]
            cells += [f"{ms[(f'{variant} {w}', n)]:.2f}" for w in ("fp32", "int8") for n in (1, 64)]
            print(f"| {head} | {label} | " + " | ".join(cells) + " |", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", nargs="?", help="run directory, generator.pt or checkpoint (default: a fresh generator)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=0.3, help="length of one timed repeat per engine")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 256])
    parser.add_argument("--spin", action="store_true", help="let onnxruntime's worker threads spin while idle")
    parser.add_argument("--straight", action="store_true", help="also time an export without the inference rewrites")
    parser.add_argument("--weights", nargs="+", default=["fp32", "fp16", "int8"], choices=["fp32", "fp16", "int8"],
                        help="weight formats to export and time (fp32 is always included)")
    parser.add_argument("--check", action="store_true", help="exit 1 unless the floors hold")
    parser.add_argument("--sizes", nargs="*", type=Path, metavar="CONFIG",
                        help="export size and speed of these configs' generators (default: every config in configs/)")
    args = parser.parse_args(argv)
    if args.sizes is not None:
        size_table(args.sizes or sorted((REPO / "configs").glob("*.json")), args.repeats)
        return 0

    import torch

    from genfw.export import export_generator
    from genfw.runtime import Generator

    torch.set_num_threads(2)
    if args.source:
        from genfw.artifacts import load_generator

        loaded = load_generator(args.source)
        g, latent, image_shape = loaded.generator.eval(), loaded.latent, loaded.image_shape
    else:
        g, latent, image_shape = fresh_generator()

    with tempfile.TemporaryDirectory() as tmp:
        engines, sizes = {}, {}
        report = export_generator(g, latent, image_shape, Path(tmp) / "generator.onnx")
        engines["onnxruntime"] = Generator.load(report["path"], threads=2, spin=args.spin).session
        sizes["onnxruntime"] = report["bytes"]
        print(f"export fp32: {report['bytes'] / 1e6:.1f} MB, max abs diff vs torch {report['max_abs_diff']:.1e}; "
              f"graph: {' '.join(report['nodes'])}")
        for weights in [w for w in dict.fromkeys(args.weights) if w != "fp32"]:
            variant = export_generator(g, latent, image_shape, Path(tmp) / f"generator-{weights}.onnx", weights=weights)
            engines[f"onnxruntime {weights}"] = Generator.load(variant["path"], threads=2, spin=args.spin).session
            sizes[f"onnxruntime {weights}"] = variant["bytes"]
            print(f"export {weights}: {variant['bytes'] / 1e6:.1f} MB ({variant['bytes'] / report['bytes']:.2f}x fp32), "
                  f"max abs diff vs torch {variant['max_abs_diff']:.1e}, mean {variant['mean_abs_diff']:.1e}")
        if args.straight:
            straight = export_generator(g, latent, image_shape, Path(tmp) / "straight.onnx", optimize=False)
            engines["onnxruntime (straight export)"] = Generator.load(straight["path"], threads=2, spin=args.spin).session
            sizes["onnxruntime (straight export)"] = straight["bytes"]
        print(f"threads: 2 per engine; onnxruntime spinning: {'on' if args.spin else 'off'}; "
              f"median of {args.repeats} repeats (~{args.seconds:g} s each)\n")

        rows: dict[int, dict[str, float]] = {}
        for n in args.batches:
            gen = torch.Generator().manual_seed(n)
            values = latent.sample(n, gen)  # each code's parameters: what the ONNX inputs take
            z = latent.encode(values)  # the generator's input (the encodings are ops in the ONNX graph)
            feed = {name: v.numpy() for name, v in values.items()}

            def torch_eager(z=z):
                with torch.inference_mode():
                    return g(z)

            timers = {"torch eager": timer(torch_eager, n, args.seconds)}
            for name, session in engines.items():
                timers[name] = timer(lambda s=session, f=feed: s.run(["image"], f), n, args.seconds)
            samples: dict[str, list[float]] = {name: [] for name in timers}
            for _ in range(args.repeats):
                for name, measure in timers.items():
                    samples[name].append(measure())
            rows[n] = {name: n / statistics.median(s) for name, s in samples.items()}
        weight_mb, weight_s = weight_read_bound(Path(report["path"]), args.seconds)

    names = list(next(iter(rows.values())))
    width = max(len(x) for x in names)
    print(f"{'images/s':<{width}}  " + "  ".join(f"{'batch ' + str(n):>12}" for n in rows) + f"  {'file MB':>8}")
    for name in names:
        size = f"{sizes[name] / 1e6:>8.1f}" if name in sizes else f"{'':>8}"
        print(f"{name:<{width}}  " + "  ".join(f"{rows[n][name]:>12,.0f}" for n in rows) + f"  {size}")
    ok = True
    print()
    for name in names[1:]:
        ratios = {n: rows[n][name] / rows[n]["torch eager"] for n in rows}
        vs_fp32 = ("" if name == "onnxruntime" else
                   "; vs onnxruntime fp32: " + ", ".join(f"{rows[n][name] / rows[n]['onnxruntime']:.2f}x at batch {n}" for n in rows))
        print(f"{name} / torch eager: " + ", ".join(f"{r:.2f}x at batch {n}" for n, r in ratios.items()) + vs_fp32)
        if name == "onnxruntime":
            for n, r in ratios.items():
                if n in FLOORS:
                    passed = r >= FLOORS[n]
                    ok &= passed
                    print(f"  floor batch {n}: >= {FLOORS[n]:g}x  {'ok' if passed else 'NOT MET'}")
    ceiling = 1 / weight_s
    print(f"\nbatch-1 ceiling: the largest weight matrix ({weight_mb:.1f} MB) is read once per image; "
          f"numpy alone takes {weight_s * 1e3:.2f} ms for it (x @ W), so about {ceiling:,.0f} images/s"
          + (f" = {ceiling / rows[1]['torch eager']:.1f}x torch eager" if 1 in rows else "")
          + " is the most any engine reaches here before the other layers")
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
