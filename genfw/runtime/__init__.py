"""Run an exported genfw generator with numpy and onnxruntime only (no torch).

This is the app side of the ONNX contract (docs/onnx.md): it reads the latent spec that the
export stored in the model (metadata_props ``genfw.latent`` / ``genfw.image``, or the sidecar
``generator.json``), draws codes from their priors, lets you fix any code by value, and runs
the model. It must never import torch, so apps and ``genfw sample`` on an .onnx file start
fast and ship small; a test checks that. PIL (PNG) and h5py (.h5) are imported only when used.

    >>> g = Generator.load("runs/mnist/generator.onnx")
    >>> images, codes = g.generate(16, seed=0, digit=3, c1=0.5)   # [16, 1, 28, 28] in [0, 1]
    >>> sweep = g.traverse("c1", steps=9, seed=0, digit=7)         # c1 from -1 to 1, rest fixed
    >>> save_grid(sweep.images, "c1.png", nrow=9)

One concept per module (this package re-exports the names apps use):

- :mod:`~genfw.runtime.generator`: :class:`Generator` (load, sample codes, generate, traverse) and :class:`Batch`
- :mod:`~genfw.runtime.encoder`: :class:`Encoder` (load, encode images into codes) and :func:`reconstruct`
- :mod:`~genfw.runtime.file_contract`: the spec read from the model's metadata or its sidecar,
  and the pair verified (SHA-256, same spec) before a file runs
- :mod:`~genfw.runtime.codes`: the checks a code's spec must pass, draws from its prior, the
  values a caller gives turned into model inputs
- :mod:`~genfw.runtime.resources`: the CPUs and the memory a run may use
- :mod:`~genfw.runtime.sweeps`: several codes traversed at once, interpolation between two
  latents (linear or spherical), the codes of an animation
- :mod:`~genfw.runtime.images`: pixels as bytes, PNG grids, animated GIFs, HDF5 files of images and codes
- :mod:`~genfw.runtime.errors`: the one-line errors all of these raise
"""

from __future__ import annotations

from genfw.runtime.encoder import Encoder, reconstruct
from genfw.runtime.errors import (
    CodeError,
    GeneratorFileError,
    MemoryNeedError,
    RuntimeUsageError,
    UnverifiedError,
)
from genfw.runtime.file_contract import file_sha256, parse_version, verify_fix
from genfw.runtime.generator import Batch, Generator
from genfw.runtime.images import grid, save_gif, save_grid, save_h5
from genfw.runtime.resources import available_memory, check_memory, check_threads, size_text, usable_cpus
from genfw.runtime.sweeps import Grid, animation_codes, interpolate, traverse_codes

__all__ = [
    "Batch",
    "CodeError",
    "Encoder",
    "Generator",
    "GeneratorFileError",
    "Grid",
    "MemoryNeedError",
    "RuntimeUsageError",
    "UnverifiedError",
    "animation_codes",
    "available_memory",
    "check_memory",
    "check_threads",
    "file_sha256",
    "grid",
    "interpolate",
    "parse_version",
    "reconstruct",
    "save_gif",
    "save_grid",
    "save_h5",
    "size_text",
    "traverse_codes",
    "usable_cpus",
    "verify_fix",
]
