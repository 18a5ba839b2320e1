"""Rewrite chains of upsampling ConvTranspose nodes as plain convolutions on a sub-pixel grid.

onnxruntime's CPU ConvTranspose is slow (a GEMM into a column buffer, then a scatter-add), and a
DCGAN-style generator spends most of its large-batch time there. A ConvTranspose with stride s
and kernel k = s + 2 * pad produces an image s times larger whose s x s *phases* (output pixels
(s*i + a, s*j + b) for fixed a, b) are each an ordinary convolution of the input. So a chain

    ConvTranspose -> elementwise ops -> ConvTranspose -> ... -> elementwise ops

is computed here on the input's grid: each layer maps a stack of phases to a stack of finer
phases with ordinary Conv nodes (which onnxruntime runs in its fast blocked layout), the
elementwise ops between them (Relu, Sigmoid, ...) act on the stack unchanged, and one
DepthToSpace at the end interleaves the final phases into the image. The weights of every new
Conv are read off the original ConvTranspose weights (exact up to float rounding); the export
still verifies the rewritten graph against torch.

Only chains of at least two such layers are rewritten: for a single layer the final interleave
costs about what the rewrite saves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Ops that act on each element alone, so they commute with any re-arrangement of pixels.
ELEMENTWISE = {"Relu", "LeakyRelu", "Sigmoid", "Tanh", "Elu", "Selu", "Softplus", "HardSigmoid", "Clip", "Identity"}


@dataclass
class _Upsampling:
    """A ConvTranspose node this pass can rewrite, with its constant weights."""

    node: object
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
    if (a.get("group", 1) != 1 or any(d != 1 for d in a.get("dilations", [1, 1]))
            or any(a.get("output_padding", [0, 0])) or a.get("output_shape") or a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET")
            or pads[0] != pads[2] or pads[1] != pads[3]
            or kh != stride[0] + 2 * pads[0] or kw != stride[1] + 2 * pads[1]):
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


def rewrite_upsampling_chains(model) -> list[str]:
    """Rewrite, in place, every chain of >= 2 upsampling ConvTranspose nodes joined by
    elementwise ops (each output used once). Returns a note per chain rewritten."""
    from onnx import helper, numpy_helper

    graph = model.graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
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
        between, name = [], layer_node.output[0]
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

    notes, replaced, inserted, new_inits = [], set(), {}, []
    starts_after = set()
    chains = []
    for node in graph.node:
        first = _as_upsampling(node, inits)
        if first is None or id(node) in starts_after:
            continue
        chain = [(first, [])]
        while True:
            between, nxt = follow(chain[-1][0].node)
            if nxt is None:
                break
            chain[-1] = (chain[-1][0], between)
            chain.append((nxt, []))
            starts_after.add(id(nxt.node))
        fy = int(np.prod([layer.stride[0] for layer, _ in chain]))
        fx = int(np.prod([layer.stride[1] for layer, _ in chain]))
        if len(chain) >= 2 and fy == fx:  # DepthToSpace needs square blocks
            chains.append(chain)

    for n_chain, chain in enumerate(chains):
        prefix = f"subpixel{n_chain}"
        x = chain[0][0].node.input[0]
        factor, layout = (1, 1), [(0, 0, c) for c in range(chain[0][0].weight.shape[0])]
        new_nodes = []
        for i, (layer, between) in enumerate(chain):
            last = i == len(chain) - 1
            parts = []
            for g, (w, b, pads, out_layout) in enumerate(_layer_convs(layer, factor, layout, whole=last)):
                wn, bn, yn = f"{prefix}_l{i}_g{g}_w", f"{prefix}_l{i}_g{g}_b", f"{prefix}_l{i}_g{g}"
                new_inits += [numpy_helper.from_array(w, wn), numpy_helper.from_array(b, bn)]
                kh, kw = w.shape[2:]
                new_nodes.append(helper.make_node("Conv", [x, wn, bn], [yn], kernel_shape=[kh, kw], pads=pads, name=yn))
                parts.append((yn, out_layout))
            layout = [key for _, lay in parts for key in lay]
            factor = (factor[0] * layer.stride[0], factor[1] * layer.stride[1])
            if len(parts) > 1:
                x = f"{prefix}_l{i}_stack"
                new_nodes.append(helper.make_node("Concat", [p for p, _ in parts], [x], axis=1, name=x))
            else:
                x = parts[0][0]
            if last:
                new_nodes.append(helper.make_node("DepthToSpace", [x], [layer.node.output[0]], blocksize=factor[0],
                                                  mode="CRD", name=f"{prefix}_interleave"))
            else:
                for op in between:  # elementwise: rewire onto the stack, keep the node as it is
                    op.input[0] = x
                    x = op.output[0]
                    new_nodes.append(op)
            replaced.add(id(layer.node))
            replaced.update(id(op) for op in between)
        inserted[id(chain[0][0].node)] = new_nodes
        notes.append(f"{len(chain)} ConvTranspose layers -> Conv on a {factor[0]}x{factor[1]} sub-pixel grid + DepthToSpace")

    if not chains:
        return notes
    order = []
    for node in graph.node:
        if id(node) in inserted:
            order += inserted[id(node)]
        elif id(node) not in replaced:
            order.append(node)
    # The elementwise ops now carry phase stacks: drop their recorded (image-shaped) value_info.
    stale = {name for chain in chains for _, between in chain for op in between for name in op.output}
    infos = [v for v in graph.value_info if v.name not in stale]
    del graph.value_info[:]
    graph.value_info.extend(infos)
    used = {name for node in order for name in node.input}
    keep_inits = [i for i in graph.initializer if i.name in used]
    del graph.node[:]
    graph.node.extend(order)
    del graph.initializer[:]
    graph.initializer.extend(keep_inits + new_inits)
    return notes
