"""The sub-pixel rewrite of ConvTranspose chains: same numbers as torch, in real onnxruntime, and
applied only where the rewritten weights stay small (where it was measured to pay)."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch
from torch import nn

from genfw.export.subpixel import MAX_WEIGHT_GROWTH, rewrite_upsampling_chains

#: No limits: the arithmetic of the rewrite for any chain, whether or not it pays.
UNLIMITED = {"max_layers": 99, "max_growth": float("inf")}


def export_and_rewrite(module: nn.Module, channels: int, size: int, **limits):
    module.eval()
    example = (torch.randn(2, channels, size, size),)
    program = torch.onnx.export(module, example, None, dynamo=True, input_names=["x"], output_names=["y"],
                                dynamic_shapes=({0: torch.export.Dim("batch")},), verbose=False, report=False)
    model = program.model_proto
    notes = rewrite_upsampling_chains(model, **limits)
    return model, notes


def run(model, x: torch.Tensor) -> np.ndarray:
    options = ort.SessionOptions()
    options.log_severity_level = 1  # warnings too: a stale shape annotation would show up here
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x.numpy()})[0]


CHAINS = {
    "dcgan k4 s2 p1, two layers": (lambda: [nn.ConvTranspose2d(8, 6, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(6, 3, 4, 2, 1), nn.Sigmoid()], 8, 5),
    "three layers, other activations": (lambda: [nn.ConvTranspose2d(8, 6, 4, 2, 1), nn.LeakyReLU(0.2), nn.ConvTranspose2d(6, 5, 4, 2, 1),
                                                 nn.Tanh(), nn.ConvTranspose2d(5, 2, 4, 2, 1)], 8, 3),
    "stride 1 then stride 2 (k6 p2)": (lambda: [nn.ConvTranspose2d(4, 6, 3, 1, 1), nn.ReLU(), nn.ConvTranspose2d(6, 2, 6, 2, 2)], 4, 4),
    "stride 3, no bias": (lambda: [nn.ConvTranspose2d(4, 6, 5, 3, 1), nn.ReLU(), nn.ConvTranspose2d(6, 2, 4, 2, 1, bias=False)], 4, 4),
}


@pytest.mark.parametrize("name", list(CHAINS))
def test_rewritten_chain_matches_torch(name):
    layers, channels, size = CHAINS[name]
    torch.manual_seed(0)
    module = nn.Sequential(*layers())
    model, notes = export_and_rewrite(module, channels, size, **UNLIMITED)
    ops = [n.op_type for n in model.graph.node]
    assert len(notes) == 1 and "ConvTranspose" not in ops and ops.count("DepthToSpace") == 1
    assert_matches_torch(model, module, channels, size)


def assert_matches_torch(model, module: nn.Module, channels: int, size: int) -> None:
    for n in (1, 5):
        x = torch.randn(n, channels, size, size)
        with torch.no_grad():
            expected = module(x).numpy()
        got = run(model, x)
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() < 1e-5


def weight_count(model) -> int:
    return sum(int(np.prod(t.dims)) for t in model.graph.initializer)


def test_single_layers_and_other_ops_are_left_alone():
    torch.manual_seed(0)
    module = nn.Sequential(nn.ConvTranspose2d(4, 6, 4, 2, 1), nn.ReLU(), nn.Conv2d(6, 2, 3, 1, 1))
    model, notes = export_and_rewrite(module, 4, 4)
    assert notes == [] and [n.op_type for n in model.graph.node].count("ConvTranspose") == 1
    # output_padding (not an exact s-times upsampling) stops a chain too
    module = nn.Sequential(nn.ConvTranspose2d(4, 6, 3, 2, 1, output_padding=1), nn.ReLU(), nn.ConvTranspose2d(6, 2, 4, 2, 1))
    model, notes = export_and_rewrite(module, 4, 4)
    assert notes == []


def test_a_pair_whose_weights_would_grow_past_the_limit_is_left_alone():
    # Equal channels: the second layer would read a 2x2 phase stack through one 3x3 kernel for
    # 4x4 phases (36x its weights): the 64x64 generators' case, 10x their file and slower.
    torch.manual_seed(0)
    module = nn.Sequential(nn.ConvTranspose2d(8, 8, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(8, 8, 4, 2, 1))
    model, notes = export_and_rewrite(module, 8, 4)
    assert notes == [] and [n.op_type for n in model.graph.node].count("ConvTranspose") == 2
    unlimited, notes = export_and_rewrite(module, 8, 4, **UNLIMITED)
    assert len(notes) == 1 and weight_count(unlimited) > 10 * weight_count(model)


def test_chains_are_rewritten_in_pairs_from_the_image_end_within_the_weight_limit():
    # The MNIST generators' pair (128 -> 64 -> 1 channels) after one more layer: the pair at the
    # image is rewritten (its weights about 1.3x), the first layer stays a ConvTranspose.
    torch.manual_seed(0)
    module = nn.Sequential(nn.ConvTranspose2d(8, 128, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.ReLU(),
                           nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Sigmoid())
    before, _ = export_and_rewrite(module, 8, 3, max_growth=0)
    model, notes = export_and_rewrite(module, 8, 3)
    ops = [n.op_type for n in model.graph.node]
    assert len(notes) == 1 and notes[0].startswith("2 ConvTranspose layers -> Conv on a 4x4 sub-pixel grid"), notes
    assert ops.count("ConvTranspose") == 1 and ops.index("ConvTranspose") < ops.index("DepthToSpace")
    assert weight_count(model) <= MAX_WEIGHT_GROWTH * weight_count(before)
    assert_matches_torch(model, module, 8, 3)
