// genfw-web.js: run a genfw generator in the browser with onnxruntime-web.
//
// The JavaScript counterpart of genfw.runtime (docs/onnx.md): it reads the sidecar
// (generator.json: onnxruntime-web cannot read ONNX metadata), checks that generator.onnx is the
// file the sidecar was written for (SHA-256, WebCrypto), draws codes from their priors, runs the
// model and draws image grids on a canvas. It does not import onnxruntime-web itself: pass the
// `ort` module you loaded, so it works on the main thread or in a Web Worker with any ort build.
//
//   import * as ort from "./ort/ort.min.mjs";
//   import { loadGenerator, drawGrid } from "./genfw-web.js";
//   ort.env.wasm.wasmPaths = new URL("./ort/", import.meta.url).href;  // serve the .wasm yourself
//   const g = await loadGenerator(ort, "generator.onnx");
//   const codes = g.sampleCodes(16, 1, { digit: 3 });         // fix codes by index, label or value
//   const images = await g.run(codes);                         // Float32Array [16, C, H, W] in [0, 1]
//   drawGrid(canvas, images, g.imageShape, { columns: 4, scale: 3 });
//
// Values are code *parameters*, exactly as genfw.runtime takes them: a categorical code takes an
// index, a label or a length-k vector; a continuous code of dim d a number, a vector of length d,
// or n*d numbers; an angle code the angle in radians (its cos/sin encoding is inside the model).

/** An error the caller caused (a bad file, code name or value): one line, like genfw's. */
export class GenfwError extends Error {
  constructor(message) {
    super(message);
    this.name = "GenfwError";
  }
}

/** The prior kinds this module draws (docs/onnx.md); any other must be given values. */
export const PRIOR_KINDS = ["normal", "uniform", "categorical", "bernoulli"];

/** Hex SHA-256 of bytes with WebCrypto, or null where it is unavailable (a page served over plain
 * http from another host than localhost is not a secure context and has no crypto.subtle). */
export async function sha256Hex(bytes) {
  const subtle = globalThis.crypto && globalThis.crypto.subtle;
  if (!subtle) return null;
  const digest = await subtle.digest("SHA-256", bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function fetchOk(url, what) {
  let response;
  try {
    response = await fetch(url);
  } catch (err) {
    throw new GenfwError(`${url}: could not fetch the ${what} (${err.message})`);
  }
  if (!response.ok) throw new GenfwError(`${url}: could not fetch the ${what} (HTTP ${response.status})`);
  return response;
}

/** The sidecar URL of a model URL: generator.onnx -> generator.json. */
export function sidecarUrl(modelUrl) {
  const url = new URL(modelUrl, globalThis.location ? globalThis.location.href : undefined);
  url.pathname = url.pathname.replace(/\.onnx$/i, "") + ".json";
  return url.href;
}

/**
 * Fetch a generator's sidecar and model, check the model's SHA-256 against the sidecar, and open
 * an onnxruntime-web session. options: {executionProviders: ["wasm"] | ["webgpu", "wasm"],
 * verify: true (refuse a file whose hash cannot be checked too), sessionOptions}.
 * Returns a Generator; its `verified` says whether the hash was checked.
 */
export async function loadGenerator(ort, modelUrl, options = {}) {
  const spec = await (await fetchOk(sidecarUrl(modelUrl), "sidecar")).json().catch(() => {
    throw new GenfwError(`${sidecarUrl(modelUrl)}: the sidecar is not JSON`);
  });
  if (!spec || !spec.latent || !Array.isArray(spec.latent.codes) || !spec.image) {
    throw new GenfwError(`${sidecarUrl(modelUrl)}: not a genfw sidecar (no latent codes or image spec)`);
  }
  const bytes = new Uint8Array(await (await fetchOk(modelUrl, "model")).arrayBuffer());
  let verified = false;
  if (spec.sha256) {
    const digest = await sha256Hex(bytes);
    if (digest === null) {
      if (options.verify === true) throw new GenfwError("cannot check the model's SHA-256: WebCrypto needs a secure context (https or localhost)");
      console.warn("genfw: the model's SHA-256 is not checked: WebCrypto needs a secure context (https or localhost)");
    } else if (digest !== String(spec.sha256).toLowerCase()) {
      throw new GenfwError(`${modelUrl} does not match its sidecar (SHA-256 ${digest.slice(0, 12)}..., the sidecar expects ` +
        `${String(spec.sha256).slice(0, 12)}...): copy the .onnx and .json exported together`);
    } else {
      verified = true;
    }
  }
  const session = await ort.InferenceSession.create(bytes, {
    executionProviders: options.executionProviders || ["wasm"],
    graphOptimizationLevel: "all",
    ...(options.sessionOptions || {}),
  });
  return new Generator(ort, session, spec, { verified, bytes: bytes.byteLength });
}

/** A small seeded generator of uniform numbers in [0, 1) (mulberry32): the same seed, the same draws. */
export function seededRandom(seed) {
  let a = (Number(seed) >>> 0) || 0x9e3779b9;
  return function random() {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function standardNormal(random) {
  const u = 1 - random(); // (0, 1]
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

/** n draws of one code from its prior: Float32Array [n * dim]. */
export function drawCode(code, n, random) {
  const p = code.prior || {};
  const dim = code.dim;
  const out = new Float32Array(n * dim);
  if (p.kind === "uniform") {
    const low = p.low ?? -1, high = p.high ?? 1;
    for (let i = 0; i < out.length; i++) out[i] = low + (high - low) * random();
  } else if (p.kind === "normal") {
    const mean = p.mean ?? 0, std = p.std ?? 1;
    for (let i = 0; i < out.length; i++) out[i] = mean + std * standardNormal(random);
  } else if (p.kind === "bernoulli") {
    const prob = p.p ?? 0.5;
    for (let i = 0; i < out.length; i++) out[i] = random() < prob ? 1 : 0;
  } else if (p.kind === "categorical") {
    const probs = p.probs || new Array(dim).fill(1 / dim);
    const total = probs.reduce((a, b) => a + b, 0);
    for (let i = 0; i < n; i++) {
      let u = random() * total, k = 0;
      while (k < dim - 1 && u >= probs[k]) u -= probs[k++];
      out[i * dim + k] = 1;
    }
  } else {
    throw new GenfwError(`code '${code.name}' has a prior of kind '${p.kind}' that genfw-web.js cannot sample: give its values`);
  }
  return out;
}

/** The suggested slider range of a continuous code: the spec's `range`, else from its prior. */
export function suggestedRange(code) {
  if (Array.isArray(code.range) && code.range.length === 2) return [Number(code.range[0]), Number(code.range[1])];
  const p = code.prior || {};
  if (p.kind === "uniform") return [p.low ?? -1, p.high ?? 1];
  if (p.kind === "normal") return [(p.mean ?? 0) - 2 * (p.std ?? 1), (p.mean ?? 0) + 2 * (p.std ?? 1)];
  if (p.kind === "bernoulli") return [0, 1];
  return null;
}

export function isCategorical(code) {
  return code.k !== undefined || (code.prior && code.prior.kind === "categorical");
}

export class Generator {
  constructor(ort, session, spec, info = {}) {
    this.ort = ort;
    this.session = session;
    this.spec = spec;
    this.codes = spec.latent.codes;
    this.image = spec.image;
    this.imageShape = [spec.image.channels, spec.image.height, spec.image.width];
    this.verified = Boolean(info.verified);
    this.bytes = info.bytes;
    const names = new Set(session.inputNames);
    const missing = this.codes.filter((c) => !names.has(c.name)).map((c) => c.name);
    if (missing.length || names.size !== this.codes.length) {
      throw new GenfwError(`the model's inputs (${[...names].join(", ")}) do not match its sidecar's codes`);
    }
  }

  code(name) {
    const c = this.codes.find((x) => x.name === name);
    if (!c) throw new GenfwError(`no latent code named '${name}' (valid codes: ${this.codes.map((x) => x.name).join(", ")})`);
    return c;
  }

  /** A value for code `name` as the model input: Float32Array [n * dim] (the rules of genfw.runtime). */
  codeValues(name, value, n) {
    const code = this.code(name);
    const dim = code.dim;
    const out = new Float32Array(n * dim);
    if (isCategorical(code)) {
      const labels = (code.labels || []).map(String);
      let index = null;
      if (typeof value === "string") index = labels.includes(value) ? labels.indexOf(value) : Number.parseInt(value, 10);
      else if (typeof value === "number") index = value;
      if (index !== null) {
        if (!Number.isInteger(index) || index < 0 || index >= dim) {
          throw new GenfwError(`code '${name}' has no category ${JSON.stringify(value)} (indices 0..${dim - 1} or labels: ${labels.join(", ")})`);
        }
        for (let i = 0; i < n; i++) out[i * dim + index] = 1;
        return out;
      }
    }
    const flat = typeof value === "number" ? [value] : Array.from(value ?? [], Number);
    if (flat.some((x) => !Number.isFinite(x))) throw new GenfwError(`code '${name}' has non-finite values`);
    if (flat.length === 1 && !isCategorical(code)) out.fill(flat[0]);
    else if (flat.length === dim) for (let i = 0; i < n; i++) out.set(flat, i * dim);
    else if (flat.length === n * dim) out.set(flat);
    else {
      const angle = code.periodic ? `; '${name}' is an angle in radians, the model computes its cos and sin itself` : "";
      throw new GenfwError(`code '${name}' has dim ${dim}: got ${flat.length} numbers${angle} (give 1, ${dim} or ${n * dim})`);
    }
    return out;
  }

  /** Every code for n samples: draws from the priors (seeded), overwritten by `fixed` values. */
  sampleCodes(n, seed = 0, fixed = {}) {
    for (const name of Object.keys(fixed)) this.code(name);
    const random = seededRandom(seed);
    const out = {};
    for (const code of this.codes) {
      const drawable = PRIOR_KINDS.includes((code.prior || {}).kind);
      if (code.name in fixed) {
        if (drawable) drawCode(code, n, random); // still drawn, so fixing one code keeps the others' draws
        out[code.name] = this.codeValues(code.name, fixed[code.name], n);
      } else {
        out[code.name] = drawCode(code, n, random);
      }
    }
    return out;
  }

  /** Images for complete codes {name: Float32Array [n * dim]}: Float32Array [n, C, H, W] in [0, 1]. */
  async run(codes) {
    const first = this.codes[0];
    const n = codes[first.name].length / first.dim;
    const feeds = {};
    for (const code of this.codes) {
      const data = codes[code.name];
      if (!data || data.length !== n * code.dim) throw new GenfwError(`code '${code.name}' needs ${n * code.dim} numbers`);
      feeds[code.name] = new this.ort.Tensor("float32", data, [n, code.dim]);
    }
    const results = await this.session.run(feeds);
    return results[this.spec.output || "image"].data;
  }
}

/** Draw images [n, C, H, W] (floats in [0, 1]) as a grid on a canvas, `columns` per row, each
 * image scaled up `scale` times (nearest neighbour) with `padding` pixels between them. */
export function drawGrid(canvas, images, imageShape, { columns = 4, scale = 3, padding = 2, background = "#222" } = {}) {
  const [c, h, w] = imageShape;
  const n = images.length / (c * h * w);
  const cols = Math.max(1, Math.min(columns, n));
  const rows = Math.ceil(n / cols);
  canvas.width = cols * (w * scale + padding) + padding;
  canvas.height = rows * (h * scale + padding) + padding;
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = background;
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.imageSmoothingEnabled = false;
  const tile = typeof OffscreenCanvas !== "undefined" ? new OffscreenCanvas(w, h) : Object.assign(document.createElement("canvas"), { width: w, height: h });
  const tctx = tile.getContext("2d");
  const pixels = tctx.createImageData(w, h);
  const plane = h * w;
  for (let i = 0; i < n; i++) {
    const base = i * c * plane;
    for (let p = 0; p < plane; p++) {
      for (let ch = 0; ch < 3; ch++) {
        const v = images[base + (c === 1 ? 0 : ch) * plane + p];
        pixels.data[p * 4 + ch] = Math.round(Math.min(1, Math.max(0, v)) * 255);
      }
      pixels.data[p * 4 + 3] = c === 4 ? Math.round(Math.min(1, Math.max(0, images[base + 3 * plane + p])) * 255) : 255;
    }
    tctx.putImageData(pixels, 0, 0);
    const x = padding + (i % cols) * (w * scale + padding);
    const y = padding + Math.floor(i / cols) * (h * scale + padding);
    ctx.drawImage(tile, x, y, w * scale, h * scale);
  }
}
