"""A downstream app: every category of a categorical code x several styles, as one PNG.

It uses only onnxruntime + numpy (and Pillow to save), no genfw and no torch, to show that the
exported file is all an app needs (the contract is in docs/onnx.md):

    python examples/digit_styles.py runs/infogan_mnist-.../generator.onnx -o digit_styles.png

Row r shows category r; column j uses style j (the same draw of every other code in the whole
column), so the columns show what the categorical code controls and the rows what the rest do.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort


def read_spec(session: ort.InferenceSession, model_path: Path) -> dict:
    """The genfw spec: metadata_props of the model, else the sidecar JSON next to it."""
    meta = session.get_modelmeta().custom_metadata_map
    if "genfw.latent" in meta:
        return {"latent": json.loads(meta["genfw.latent"]), "image": json.loads(meta["genfw.image"])}
    return json.loads(model_path.with_suffix(".json").read_text(encoding="utf-8"))


def draw(prior: dict, n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` draws of a code from its prior, float32 ``[n, dim]``."""
    kind = prior["kind"]
    if kind == "uniform":
        x = rng.uniform(prior.get("low", -1.0), prior.get("high", 1.0), (n, dim))
    elif kind == "normal":
        x = prior.get("mean", 0.0) + prior.get("std", 1.0) * rng.standard_normal((n, dim))
    elif kind == "bernoulli":
        x = rng.random((n, dim)) < prior.get("p", 0.5)
    elif kind == "categorical":
        probs = np.asarray(prior.get("probs") or [1.0 / dim] * dim)
        x = np.eye(dim)[rng.choice(dim, size=n, p=probs / probs.sum())]
    else:
        raise SystemExit(f"prior kind {kind!r} is unknown to this app")
    return np.asarray(x, np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description="Grid of every category x several styles")
    parser.add_argument("model", type=Path, help="generator.onnx written by `genfw export`")
    parser.add_argument("-o", "--output", type=Path, default=Path("digit_styles.png"))
    parser.add_argument("--code", help="the categorical code to sweep (default: the first one)")
    parser.add_argument("--styles", type=int, default=8, help="columns: draws of the other codes")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    session = ort.InferenceSession(str(args.model), providers=["CPUExecutionProvider"])
    spec = read_spec(session, args.model)
    codes = spec["latent"]["codes"]
    # Files from genfw >= 0.2 give each code a role; a categorical *noise* code is no style to show.
    categorical = [c for c in codes if c["prior"]["kind"] == "categorical" and c.get("role", "control") == "control"]
    if not categorical:
        raise SystemExit("this generator has no categorical code")
    swept = next((c for c in categorical if c["name"] == args.code), None) if args.code else categorical[0]
    if swept is None:
        raise SystemExit(f"no categorical code {args.code!r}; choose from {[c['name'] for c in categorical]}")

    k, styles = swept["dim"], args.styles
    rng = np.random.default_rng(args.seed)
    feed = {}
    for code in codes:  # image i = (category i // styles, style i % styles)
        if code["name"] == swept["name"]:
            feed[code["name"]] = np.repeat(np.eye(k, dtype=np.float32), styles, axis=0)
        else:
            feed[code["name"]] = np.tile(draw(code["prior"], styles, code["dim"], rng), (k, 1))
    images = session.run(["image"], feed)[0]  # [k * styles, C, H, W] in [0, 1]

    n, c, h, w = images.shape
    pixels = (np.clip(images, 0, 1) * 255 + 0.5).astype(np.uint8)
    tiles = pixels.reshape(k, styles, c, h, w).transpose(0, 3, 1, 4, 2).reshape(k * h, styles * w, c)
    from PIL import Image

    Image.fromarray(tiles[..., 0] if c == 1 else tiles).save(args.output)
    labels = swept.get("labels") or [str(i) for i in range(k)]
    print(f"wrote {args.output}: rows = {swept['name']} {', '.join(labels)}; {styles} styles per row")


if __name__ == "__main__":
    main()
