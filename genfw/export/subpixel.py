"""Rewrite short runs of upsampling ConvTranspose nodes as plain convolutions on a sub-pixel grid.

onnxruntime's CPU ConvTranspose is a GEMM into a column buffer, then a scatter-add, once per
image. A ConvTranspose with stride s and kernel k = s + 2 * pad produces an image s times larger
whose s x s *phases* (output pixels (s*i + a, s*j + b) for fixed a, b) are each an ordinary
convolution of the input. So a segment

    ConvTranspose -> elementwise ops -> ConvTranspose

is computed here on the input's grid: the first layer maps the input to a stack of phases with
ordinary Conv nodes (one per group of phases with the same footprint: exactly the original
multiply-adds), the elementwise ops between (Relu, Sigmoid, ...) act on the stack unchanged, the
last layer maps the stack to the finer phases with one Conv, and one DepthToSpace interleaves
them into the image. The weights of every new Conv are read off the original ConvTranspose
weights (exact up to float rounding); the export still verifies the rewritten graph against torch.

The rewrite only pays while its new weights stay close to the original ones. Each layer after
the first reads a stack of f x f phases and writes (f*s) x (f*s) of them through one dense
kernel, so its weights grow about f^4 times. Hence (docs/onnx.md, "Export size and speed", has
the measurements behind each rule):

- chains are cut into segments of at most :data:`MAX_SEGMENT_LAYERS` layers, counted from the
  chain's end (the last layer of a segment is the costly one, and it is cheapest at the image,
  where channels are fewest);
- a segment is rewritten only where its weights are at most :data:`MAX_WEIGHT_GROWTH` times
  the original ones;
- a single layer is never rewritten: alone, its phases need the 3x3-footprint conv (2.25x the
  weights and multiply-adds of the ConvTranspose).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np

# Ops that act on each element alone, so they commute with any re-arrangement of pixels.
ELEMENTWISE = {"Relu", "LeakyRelu", "Sigmoid", "Tanh", "Elu", "Selu", "Softplus", "HardSigmoid", "Clip", "Identity"}
#: The longest run of layers rewritten as one: a third layer would read a 4x4 phase stack through
#: one dense kernel (16x the second layer's weights again).
MAX_SEGMENT_LAYERS = 2
#: A segment is rewritten only where its new weights (and so the file) are at most this many
#: times the original ones (where the speed-up was measured to end: docs/onnx.md).
MAX_WEIGHT_GROWTH = 1.4


@dataclass
class _Upsampling:
    """A ConvTranspose node this pass can rewrite, with its constant weights."""

    node: Any  # an onnx NodeProto (onnx is imported lazily)
    weight: np.ndarray  # [Cin, Cout, kh, kw]
    bias: np.ndarray  # [Cout]
    stride: tuple[int, int]
    pad: tuple[int, int]


def _attrs(node) -> dict:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _as_upsampling(node, inits: dict[str, np.ndarray]) -> _Upsampling | None:
    """The node as an exact s-times upsampling ConvTranspose with constant weights, or None."""
    if node.op_type != "ConvTranspose" or len(node.input) < 2 or node.input[1] not in inits:
        return None
    if len(node.input) > 2 and node.input[2] and node.input[2] not in inits:
        return None
    w = inits[node.input[1]]
    if w.ndim != 4:
        return None
    a = _attrs(node)
    kh, kw = w.shape[2:]
    stride = tuple(a.get("strides", [1, 1]))
    pads = list(a.get("pads", [0, 0, 0, 0]))
    if (
        a.get("group", 1) != 1
        or any(d != 1 for d in a.get("dilations", [1, 1]))
        or any(a.get("output_padding", [0, 0]))
        or a.get("output_shape")
        or a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET")
        or pads[0] != pads[2]
        or pads[1] != pads[3]
        or kh != stride[0] + 2 * pads[0]
        or kw != stride[1] + 2 * pads[1]
    ):
        return None
    bias = inits[node.input[2]] if len(node.input) > 2 and node.input[2] else np.zeros(w.shape[1], w.dtype)
    return _Upsampling(node, w, bias, (int(stride[0]), int(stride[1])), (int(pads[0]), int(pads[1])))


def _taps(phase: int, in_factor: int, stride: int, pad: int, k: int) -> list[tuple[int, int, int]]:
    """For output phase ``phase`` of a layer whose input is a stack of ``in_factor`` phases:
    ``(kernel tap, input phase, offset on the base grid)`` for every tap that reaches it.

    Output pixel ``F*I + phase`` (F = in_factor * stride) reads input pixel
    ``(F*I + phase + pad - tap) / stride`` where that is whole, i.e. ``in_factor*I + t``, which is
    input phase ``t mod in_factor`` at base-grid offset ``floor(t / in_factor)``.
    """
    out = []
    for tap in range(k):
        num = phase + pad - tap
        if num % stride == 0:
            t = num // stride
            out.append((tap, t % in_factor, t // in_factor))
    return out


def _layer_convs(layer: _Upsampling, in_factor: tuple[int, int], in_layout: list[tuple[int, int, int]], whole: bool):
    """Ordinary convolutions computing ``layer`` from a phase stack.

    ``in_layout[channel] = (phase row, phase col, input channel)``. Returns a list of
    ``(weight [n, C_stack, kh, kw], bias [n], pads [top, left, bottom, right], out_layout)``:
    one conv over every output phase when ``whole`` (its output channels ordered
    ``(channel, phase row, phase col)``, ready for DepthToSpace in CRD mode), else one conv per
    group of phases sharing the same footprint (fewer wasted multiply-adds).
    """
    fy, fx = in_factor
    sy, sx = layer.stride
    FY, FX = fy * sy, fx * sx
    cin, cout, kh, kw = layer.weight.shape
    where = {key: i for i, key in enumerate(in_layout)}
    rows = {r: _taps(r, fy, sy, layer.pad[0], kh) for r in range(FY)}
    cols = {q: _taps(q, fx, sx, layer.pad[1], kw) for q in range(FX)}

    def footprint(phases_r, phases_q):
        dys = [d for r in phases_r for _, _, d in rows[r]]
        dxs = [d for q in phases_q for _, _, d in cols[q]]
        return min(dys), max(dys), min(dxs), max(dxs)

    if whole:
        groups = [[(r, q) for r in range(FY) for q in range(FX)]]
    else:
        by_fp: dict[tuple, list] = {}
        for r in range(FY):
            for q in range(FX):
                by_fp.setdefault(footprint([r], [q]), []).append((r, q))
        groups = list(by_fp.values())

    convs = []
    for phases in groups:
        y0, y1, x0, x1 = footprint({r for r, _ in phases}, {q for _, q in phases})
        if whole:
            out_layout = [(r, q, o) for o in range(cout) for r in range(FY) for q in range(FX)]
        else:
            out_layout = [(r, q, o) for r, q in phases for o in range(cout)]
        index = {key: i for i, key in enumerate(out_layout)}
        w = np.zeros((len(out_layout), len(in_layout), y1 - y0 + 1, x1 - x0 + 1), np.float64)
        for r, q in phases:
            dst = [index[(r, q, o)] for o in range(cout)]
            for ty, ay, dy in rows[r]:
                for tx, ax, dx in cols[q]:
                    for c in range(cin):
                        w[dst, where[(ay, ax, c)], dy - y0, dx - x0] += layer.weight[c, :, ty, tx]
        bias = np.array([layer.bias[o] for _, _, o in out_layout], np.float64)
        convs.append((w.astype(layer.weight.dtype), bias.astype(layer.weight.dtype), [-y0, -x0, y1, x1], out_layout))
    return convs


Chain = list[tuple[_Upsampling, list]]  # each layer with the elementwise ops that follow it in the chain


def _find_chains(graph, inits: dict[str, np.ndarray]) -> list[Chain]:
    """Every maximal chain of upsampling ConvTranspose nodes joined by elementwise ops (each
    output used once), in graph order."""
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    outputs = {o.name for o in graph.output}

    def only_consumer(name):
        users = consumers.get(name, [])
        return users[0] if len(users) == 1 and name not in outputs else None

    def follow(layer_node):
        """(elementwise nodes, next upsampling layer or None) after ``layer_node``."""
        between: list = []
        name = layer_node.output[0]
        while True:
            nxt = only_consumer(name)
            if nxt is None:
                return between, None
            up = _as_upsampling(nxt, inits)
            if up is not None:
                return between, up
            if nxt.op_type not in ELEMENTWISE or len(nxt.output) != 1:
                return between, None
            between.append(nxt)
            name = nxt.output[0]

    chains, inside = [], set()
    for node in graph.node:
        first = _as_upsampling(node, inits)
        if first is None or node.output[0] in inside:
            continue
        chain: Chain = [(first, [])]
        while True:
            between, nxt = follow(chain[-1][0].node)
            if nxt is None:
                break
            chain[-1] = (chain[-1][0], between)
            chain.append((nxt, []))
            inside.add(nxt.node.output[0])
        chains.append(chain)
    return chains


def _segments(chain: Chain, max_layers: int) -> list[Chain]:
    """``chain`` cut into consecutive segments of at most ``max_layers`` layers, counted from its
    end. A segment ends in its own DepthToSpace, so the ops after its last layer stay where they are."""
    cuts = list(range(len(chain), 0, -max_layers)) + [0]
    pieces = [chain[start:stop] for stop, start in pairwise(cuts)][::-1]
    return [piece[:-1] + [(piece[-1][0], [])] for piece in pieces]


def _factor(segment: Chain) -> tuple[int, int]:
    return (
        int(np.prod([layer.stride[0] for layer, _ in segment])),
        int(np.prod([layer.stride[1] for layer, _ in segment])),
    )


def _segment_convs(segment: Chain) -> list[list[tuple]]:
    """Per layer, the convolutions :func:`_layer_convs` computes it with on the segment's grid."""
    factor, layout = (1, 1), [(0, 0, c) for c in range(segment[0][0].weight.shape[0])]
    per_layer = []
    for i, (layer, _) in enumerate(segment):
        convs = _layer_convs(layer, factor, layout, whole=i == len(segment) - 1)
        per_layer.append(convs)
        layout = [key for *_, out_layout in convs for key in out_layout]
        factor = (factor[0] * layer.stride[0], factor[1] * layer.stride[1])
    return per_layer


def _weight_growth(segment: Chain, per_layer: list[list[tuple]]) -> float:
    """How many times the original weights (and biases) the rewritten ones are."""
    before = sum(layer.weight.size + layer.bias.size for layer, _ in segment)
    after = sum(w.size + b.size for convs in per_layer for w, b, *_ in convs)
    return after / before


def _segment_nodes(segment: Chain, per_layer: list[list[tuple]], prefix: str) -> tuple[list, list]:
    """The nodes and initializers computing ``segment``; the elementwise ops inside it are
    rewired onto the phase stacks and returned among the nodes."""
    from onnx import helper, numpy_helper

    x, nodes, inits = segment[0][0].node.input[0], [], []
    for i, ((_layer, between), convs) in enumerate(zip(segment, per_layer)):
        parts = []
        for g, (w, b, pads, _) in enumerate(convs):
            wn, bn, yn = f"{prefix}_l{i}_g{g}_w", f"{prefix}_l{i}_g{g}_b", f"{prefix}_l{i}_g{g}"
            inits += [numpy_helper.from_array(w, wn), numpy_helper.from_array(b, bn)]
            nodes.append(
                helper.make_node("Conv", [x, wn, bn], [yn], kernel_shape=list(w.shape[2:]), pads=pads, name=yn)
            )
            parts.append(yn)
        x = parts[0]
        if len(parts) > 1:
            x = f"{prefix}_l{i}_stack"
            nodes.append(helper.make_node("Concat", parts, [x], axis=1, name=x))
        for op in between:  # elementwise: rewire onto the stack, keep the node as it is
            op.input[0] = x
            x = op.output[0]
            nodes.append(op)
    last = segment[-1][0].node
    nodes.append(
        helper.make_node(
            "DepthToSpace",
            [x],
            [last.output[0]],
            blocksize=_factor(segment)[0],
            mode="CRD",
            name=f"{prefix}_interleave",
        )
    )
    return nodes, inits


def rewrite_upsampling_chains(
    model, max_layers: int = MAX_SEGMENT_LAYERS, max_growth: float = MAX_WEIGHT_GROWTH
) -> list[str]:
    """Rewrite, in place, the upsampling ConvTranspose chains (layers joined by elementwise ops,
    each output used once) in segments of 2 to ``max_layers`` layers, each only where its new
    weights are at most ``max_growth`` times the original ones. Returns a note per segment
    rewritten."""
    from onnx import numpy_helper

    graph = model.graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    notes: list[str] = []
    replaced: set[str] = set()
    inserted: dict[str, list] = {}
    new_inits: list = []
    stale: set[str] = set()
    for segment in [s for chain in _find_chains(graph, inits) for s in _segments(chain, max_layers)]:
        fy, fx = _factor(segment)
        if len(segment) < 2 or fy != fx:  # DepthToSpace needs square blocks
            continue
        per_layer = _segment_convs(segment)
        growth = _weight_growth(segment, per_layer)
        if growth > max_growth:
            continue
        nodes, new = _segment_nodes(segment, per_layer, f"subpixel{len(notes)}")
        inserted[segment[0][0].node.output[0]] = nodes
        new_inits += new
        replaced.update(layer.node.output[0] for layer, _ in segment)
        replaced.update(op.output[0] for _, between in segment for op in between)
        stale.update(name for _, between in segment for op in between for name in op.output)
        notes.append(
            f"{len(segment)} ConvTranspose layers -> Conv on a {fy}x{fx} sub-pixel grid + DepthToSpace "
            f"(weights {growth:.2g}x)"
        )
    if notes:
        _replace_nodes(graph, inserted, replaced, stale, new_inits)
    return notes


def _replace_nodes(graph, inserted: dict[str, list], replaced: set[str], stale: set[str], new_inits: list) -> None:
    """Put each segment's nodes where its first layer was, drop the nodes they replace, the
    initializers nothing reads any more and the value_info of tensors that now hold phase stacks.

    Nodes are keyed by their first output's name (unique in a graph): ``id()`` of protobuf
    wrappers is not, since a wrapper nothing holds any more is freed and its id reused."""
    order = []
    for node in graph.node:
        if node.output[0] in inserted:
            order += inserted[node.output[0]]
        elif node.output[0] not in replaced:
            order.append(node)
    infos = [v for v in graph.value_info if v.name not in stale]
    del graph.value_info[:]
    graph.value_info.extend(infos)
    used = {name for node in order for name in node.input}
    keep_inits = [i for i in graph.initializer if i.name in used]
    del graph.node[:]
    graph.node.extend(order)
    del graph.initializer[:]
    graph.initializer.extend(keep_inits + new_inits)
