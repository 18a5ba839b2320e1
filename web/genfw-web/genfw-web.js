// genfw-web: run a genfw generator with onnxruntime-web, in the browser or in Node.
//
// The JavaScript counterpart of genfw.runtime (docs/onnx.md): it reads the model's own metadata
// and its inputs' shapes from the .onnx bytes (onnxruntime-web cannot read metadata), checks the
// spec against the model, checks that generator.onnx is the file its sidecar (generator.json) was
// written for (SHA-256) and that the sidecar says what the model says, draws codes from their
// priors, runs the model and draws image grids on a canvas. Models load only from the page's own
// origin unless the caller allows others (allowOrigins). It does not import onnxruntime-web
// itself: pass the `ort` module you loaded, so it works on the main thread, in a Web Worker or in
// Node, with any ort build. No dependencies; the package is web/genfw-web in genfw's repository
// (types: genfw-web.d.ts).
//
//   import * as ort from "./ort/ort.wasm.min.mjs";      // Node: import * as ort from "onnxruntime-web";
//   import { loadGenerator, drawGrid } from "./genfw-web.js";
//   ort.env.wasm.wasmPaths = new URL("./ort/", import.meta.url).href;  // serve the .wasm yourself
//   const g = await loadGenerator(ort, "generator.onnx");     // a URL; in Node also a path; or bytes
//   const codes = g.sampleCodes(16, 1, { digit: 3 });         // fix codes by index, label or value
//   const images = await g.run(codes);                         // Float32Array [16, C, H, W] in [0, 1]
//   drawGrid(canvas, images, g.imageShape, { columns: 4, scale: 3 });
//
// Seeds are portable: sampleCodes(n, seed) gives the codes genfw.runtime gives for the same seed.
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
/** The model's output: images [n, C, H, W] in [0, 1]. */
export const OUTPUT_NAME = "image";
/** The model's metadata_props keys (JSON text each); the sidecar holds the same under the part after "genfw.". */
export const META_KEYS = { latent: "genfw.latent", image: "genfw.image", version: "genfw.version", export: "genfw.export",
  spec_version: "genfw.spec_version" };
/** What a sidecar repeats of the model's own metadata: each must be equal (a hand-edited sidecar
 * would make the page show other labels, ranges or sizes than the model states about itself). */
export const PAIRED_KEYS = ["latent", "image", "version", "export", "spec_version"];
/** An encoder's metadata besides a generator's (genfw export --encoder): what the file is, and its outputs. */
export const ENCODER_META_KEYS = { kind: "genfw.kind", outputs: "genfw.outputs" };
/** The encoder's one input: images [batch, C, H, W] in [0, 1], the generator's output format. */
export const ENCODER_INPUT = "image";
/** The generator spec this module reads (semver): it refuses files of a newer MAJOR version; a
 * file without spec_version is from before versioning and reads as the legacy 1.x. */
export const SPEC_VERSION = "1.0.0";

/** Why a reader of SPEC_VERSION cannot read a file of `version`, or null when it can. */
export function specVersionProblem(version) {
  if (version === null || version === undefined) return null;
  const parts = typeof version === "string" ? version.split(".") : [];
  if (parts.length !== 3 || !parts.every((p) => /^[0-9]+$/.test(p))) {
    return `its spec_version ${JSON.stringify(version)} is not a version (MAJOR.MINOR.PATCH)`;
  }
  const ours = Number(SPEC_VERSION.split(".")[0]);
  return Number(parts[0]) > ours ? `it follows generator spec ${version}, newer than the ${ours}.x this genfw-web reads` : null;
}
/** How far from 1 a probability vector given for a categorical code may sum (as genfw.runtime). */
export const PROBABILITY_SUM_TOLERANCE = 0.01;

// -- SHA-256 ----------------------------------------------------------------------------------------
/** Hex SHA-256 of bytes: WebCrypto where the page is a secure context (https, localhost), else
 * this module's own implementation (plain http from another host has no crypto.subtle), so the
 * hash is checked everywhere. */
export async function sha256Hex(bytes) {
  const subtle = globalThis.crypto && globalThis.crypto.subtle;
  if (!subtle) return sha256HexJs(bytes);
  const digest = await subtle.digest("SHA-256", bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

const SHA256_K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01,
  0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc,
  0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
  0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08,
  0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
  0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2]);

function sha256Block(h, w, data, offset) {
  const ror = (x, n) => (x >>> n) | (x << (32 - n));
  for (let i = 0; i < 16; i++) {
    const j = offset + 4 * i;
    w[i] = (data[j] << 24) | (data[j + 1] << 16) | (data[j + 2] << 8) | data[j + 3];
  }
  for (let i = 16; i < 64; i++) {
    const a = w[i - 15], b = w[i - 2];
    w[i] = w[i - 16] + (ror(a, 7) ^ ror(a, 18) ^ (a >>> 3)) + w[i - 7] + (ror(b, 17) ^ ror(b, 19) ^ (b >>> 10));
  }
  let [a, b, c, d, e, f, g, k] = h;
  for (let i = 0; i < 64; i++) {
    const t1 = (k + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + SHA256_K[i] + w[i]) | 0;
    const t2 = ((ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    k = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
  }
  h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += k; // Uint32Array wraps
}

/** Hex SHA-256 of bytes in plain JavaScript (FIPS 180-4), for pages without WebCrypto. */
export function sha256HexJs(bytes) {
  const h = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
  const w = new Uint32Array(64);
  const whole = bytes.length - (bytes.length % 64);
  for (let offset = 0; offset < whole; offset += 64) sha256Block(h, w, bytes, offset);
  // The rest, a 1 bit, zeros, and the length in bits (64-bit big-endian): one or two more blocks.
  const tail = new Uint8Array(bytes.length % 64 < 56 ? 64 : 128);
  tail.set(bytes.subarray(whole));
  tail[bytes.length - whole] = 0x80;
  const view = new DataView(tail.buffer);
  view.setUint32(tail.length - 8, Math.floor(bytes.length / 2 ** 29));
  view.setUint32(tail.length - 4, (bytes.length * 8) >>> 0);
  for (let offset = 0; offset < tail.length; offset += 64) sha256Block(h, w, tail, offset);
  return Array.from(h, (x) => x.toString(16).padStart(8, "0")).join("");
}

// -- fetching, and where from -------------------------------------------------------------------------
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
 * The absolute URL of a model, once it is from an origin the page allows: its own origin, and
 * those in `allowOrigins` (scheme, host and port of each, as `location.origin` writes them; "*"
 * allows any). A page's `?model=` would otherwise run (and call verified) a model and labels from
 * any site that sends CORS headers. Outside a page (no `location`: Node) no origin is the page's,
 * so none is refused.
 */
export function allowedModelUrl(modelUrl, allowOrigins = []) {
  const here = globalThis.location;
  const url = new URL(modelUrl, here ? here.href : undefined);
  if (!here) return url.href;
  const origin = (o) => {
    try {
      return o === "*" ? "*" : new URL(o).origin;
    } catch {
      throw new GenfwError(`allowOrigins: ${JSON.stringify(o)} is not an origin (scheme, host and port)`);
    }
  };
  const allowed = new Set([here.origin, ...allowOrigins.map(origin)]);
  if (!allowed.has(url.origin) && !allowed.has("*")) {
    throw new GenfwError(`${url.href}: this page loads models only from its own origin (${here.origin}), not from ` +
      `${url.origin} (build the page with that origin allowed: allowOrigins in genfw-page.json)`);
  }
  return url.href;
}

// -- reading the .onnx file itself (protobuf): its metadata and its inputs' and output's shapes ---------
function readVarint(bytes, pos) {
  let value = 0, scale = 1, byte;
  do {
    if (pos >= bytes.length) throw new Error("truncated");
    byte = bytes[pos++];
    value += (byte & 0x7f) * scale;
    scale *= 128;
  } while (byte & 0x80);
  return [value, pos];
}

/** The fields of one protobuf message in bytes[start, end): {field, value} (varints) or {field, start, end}. */
function* protoFields(bytes, start = 0, end = bytes.length) {
  let pos = start;
  while (pos < end) {
    let key, value;
    [key, pos] = readVarint(bytes, pos);
    const field = Math.floor(key / 8), wire = key % 8;
    if (wire === 0) {
      [value, pos] = readVarint(bytes, pos);
      yield { field, value };
    } else if (wire === 2) {
      [value, pos] = readVarint(bytes, pos);
      if (pos + value > end) throw new Error("truncated");
      yield { field, start: pos, end: pos + value };
      pos += value;
    } else if (wire === 1 || wire === 5) {
      pos += wire === 1 ? 8 : 4;
    } else {
      throw new Error(`wire type ${wire}`);
    }
  }
  if (pos !== end) throw new Error("truncated");
}

function* nested(bytes, message, field) {
  for (const f of protoFields(bytes, message.start, message.end)) if (f.field === field && f.start !== undefined) yield f;
}

const utf8 = (bytes, f) => new TextDecoder().decode(bytes.subarray(f.start, f.end));

// ModelProto: graph = 7, metadata_props = 14 (key = 1, value = 2). GraphProto: input = 11,
// output = 12; ValueInfoProto: name = 1, type = 2; TypeProto: tensor_type = 1; its shape = 2;
// TensorShapeProto: dim = 1; Dimension: dim_value = 1, dim_param = 2 (onnx.proto).
function valueInfo(bytes, info) {
  let name = "", shape = null;
  for (const f of protoFields(bytes, info.start, info.end)) {
    if (f.field === 1 && f.start !== undefined) name = utf8(bytes, f);
    if (f.field !== 2 || f.start === undefined) continue;
    for (const tensor of nested(bytes, f, 1)) {
      for (const dims of nested(bytes, tensor, 2)) {
        shape = [];
        for (const dim of nested(bytes, dims, 1)) {
          let size = null;
          for (const d of protoFields(bytes, dim.start, dim.end)) {
            if (d.field === 1 && d.value !== undefined) size = d.value;
            if (d.field === 2 && d.start !== undefined) size = utf8(bytes, d);
          }
          shape.push(size);
        }
      }
    }
  }
  return [name, shape];
}

/** What an .onnx file says about itself: {metadata: {key: text}, inputs: {name: shape}, outputs:
 * {name: shape}}, a shape being an array of numbers (fixed sizes) and names (symbolic ones, "batch"). */
export function readOnnx(bytes) {
  const out = { metadata: {}, inputs: {}, outputs: {} };
  for (const f of protoFields(bytes)) {
    if (f.field === 14 && f.start !== undefined) {
      let key = "", value = "";
      for (const e of protoFields(bytes, f.start, f.end)) {
        if (e.field === 1 && e.start !== undefined) key = utf8(bytes, e);
        if (e.field === 2 && e.start !== undefined) value = utf8(bytes, e);
      }
      out.metadata[key] = value;
    } else if (f.field === 7 && f.start !== undefined) {
      for (const g of protoFields(bytes, f.start, f.end)) {
        if ((g.field === 11 || g.field === 12) && g.start !== undefined) {
          const [name, shape] = valueInfo(bytes, g);
          (g.field === 11 ? out.inputs : out.outputs)[name] = shape;
        }
      }
    }
  }
  return out;
}

// -- the spec: where it comes from, whether it fits the model, whether the sidecar agrees -------------
function parseVersion(text) {
  try {
    const value = JSON.parse(text);
    return typeof value === "string" ? value : text;
  } catch {
    return text; // files before genfw 0.2 hold the plain text
  }
}

/** The spec the model states in its metadata ({latent, image, version, export, spec_version}), or null if none. */
function metadataSpec(metadata, url) {
  const M = META_KEYS;
  if (!(M.latent in metadata) && !(M.image in metadata)) return null;
  const doc = {};
  for (const key of ["latent", "image"]) {
    if (!(M[key] in metadata)) throw new GenfwError(`${url}: it has no ${M[key]} metadata (re-export it with \`genfw export\`)`);
    try {
      doc[key] = JSON.parse(metadata[M[key]]);
    } catch {
      throw new GenfwError(`${url}: its ${M[key]} metadata is not valid JSON (re-export it with \`genfw export\`)`);
    }
  }
  let exported = null;
  if (M.export in metadata) {
    try { exported = JSON.parse(metadata[M.export]); } catch { exported = metadata[M.export]; }
  }
  const version = M.version in metadata ? parseVersion(metadata[M.version]) : null;
  const specVersion = M.spec_version in metadata ? parseVersion(metadata[M.spec_version]) : null;
  return { latent: doc.latent, image: doc.image, version, export: exported, spec_version: specVersion };
}

/** A sidecar's text as {doc}, or why it is none to use ({why}). */
function sidecarFromText(text) {
  let doc;
  try {
    doc = typeof text === "string" ? JSON.parse(text) : text;
  } catch (err) {
    return { why: `is not valid JSON (${err.message})` };
  }
  if (!doc || typeof doc !== "object" || Array.isArray(doc) || !("latent" in doc) || !("image" in doc)) {
    return { why: "is not a genfw sidecar (it has no latent and image)" };
  }
  return { doc };
}

/** The sidecar at a URL ({doc}) or why there is none to use ({why}). */
async function readSidecar(url) {
  let response;
  try {
    response = await fetch(url);
  } catch (err) {
    return { why: `could not be fetched (${err.message})` };
  }
  if (!response.ok) return { why: response.status === 404 ? "is missing" : `could not be fetched (HTTP ${response.status})` };
  return sidecarFromText(await response.text());
}

// -- where a generator comes from: a URL, a file (Node), or bytes in memory ---------------------------
const inNode = () => !globalThis.location && typeof process !== "undefined" && Boolean(process.versions && process.versions.node);

/** Whether a string names a file rather than a URL: in Node, anything without a scheme (a
 * relative or absolute path, "C:\\models\\g.onnx") and file: URLs. */
function isFilePath(text) {
  return inNode() && (/^file:/i.test(text) || /^[a-zA-Z]:[\\/]/.test(text) || !/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(text));
}

/** A model file and its sidecar, read with Node's fs: {bytes, sidecar, label, jsonLabel}. */
async function readFiles(text) {
  const [{ readFile }, { fileURLToPath }] = await Promise.all([import("node:fs/promises"), import("node:url")]);
  const path = /^file:/i.test(text) ? fileURLToPath(text) : text;
  const jsonPath = path.replace(/\.onnx$/i, "") + ".json";
  let bytes;
  try {
    bytes = new Uint8Array(await readFile(path));
  } catch (err) {
    throw new GenfwError(`${path}: could not read the model (${err.code || err.message}): pass an .onnx file written by \`genfw export\``);
  }
  let sidecar;
  try {
    sidecar = sidecarFromText(await readFile(jsonPath, "utf8"));
  } catch (err) {
    sidecar = { why: err.code === "ENOENT" ? "is missing" : `could not be read (${err.code || err.message})` };
  }
  return { bytes, sidecar, label: path, jsonLabel: jsonPath };
}

/** A model at a URL and its sidecar, fetched: {bytes, sidecar, label, jsonLabel}. */
async function fetchFiles(text, allowOrigins) {
  const url = allowedModelUrl(text, allowOrigins);
  const jsonUrl = sidecarUrl(url);
  const [response, sidecar] = await Promise.all([fetchOk(url, "model"), readSidecar(jsonUrl)]);
  return { bytes: new Uint8Array(await response.arrayBuffer()), sidecar, label: url, jsonLabel: jsonUrl };
}

/** Model bytes given by the caller, with the sidecar given as options.sidecar (an object or JSON text). */
function givenBytes(source, options) {
  const bytes = source instanceof ArrayBuffer ? new Uint8Array(source)
    : new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
  const sidecar = options.sidecar === undefined || options.sidecar === null
    ? { why: "was not given (pass it with the bytes as options.sidecar)" } : sidecarFromText(options.sidecar);
  const name = options.name || "generator.onnx";
  return { bytes, sidecar, label: options.name || "the model bytes", jsonLabel: `${name.replace(/\.onnx$/i, "")}.json` };
}

/** The model's bytes and its sidecar, from whatever the caller passed as the source. */
async function readSource(source, options) {
  if (source instanceof ArrayBuffer || ArrayBuffer.isView(source)) return givenBytes(source, options);
  const text = source instanceof URL ? source.href : source;
  if (typeof text !== "string") {
    throw new GenfwError(`loadGenerator: the source is a URL, a file path (Node) or the model's bytes, not ${short(source)}`);
  }
  return isFilePath(text) ? readFiles(text) : fetchFiles(text, options.allowOrigins || []);
}

const isCount = (x) => Number.isInteger(x) && x >= 1;
const finite = (...xs) => xs.every((x) => typeof x === "number" && Number.isFinite(x));
const short = (value) => { const t = JSON.stringify(value) ?? String(value); return t.length <= 40 ? t : `${t.slice(0, 37)}...`; };
const shapeText = (shape) => `[${(shape || []).map((d) => d ?? "?").join(", ")}]`;

function priorProblem(code) {
  const p = code.prior;
  if (!p || typeof p !== "object") return "it is not an object";
  if (p.kind === "categorical" && p.probs !== undefined) {
    const probs = p.probs;
    if (!Array.isArray(probs) || probs.length !== code.dim || !finite(...probs) || probs.some((x) => x < 0) ||
        !(probs.reduce((a, b) => a + b, 0) > 0)) return `probs must be ${code.dim} non-negative numbers with a positive sum`;
  } else if (p.kind === "normal") {
    if (!finite(p.mean ?? 0, p.std ?? 1) || (p.std ?? 1) < 0) return "mean and std must be finite, std >= 0";
  } else if (p.kind === "uniform") {
    if (!finite(p.low ?? -1, p.high ?? 1) || (p.low ?? -1) > (p.high ?? 1)) return "low and high must be finite, low <= high";
  } else if (p.kind === "bernoulli") {
    if (!finite(p.p ?? 0.5) || (p.p ?? 0.5) < 0 || (p.p ?? 0.5) > 1) return "p must be in [0, 1]";
  }
  return null;
}

/** What each code of a spec must satisfy to fit its model, in the order reported (as genfw.runtime). */
const CODE_CHECKS = [
  ["dim", (code, shape) => {
    if (!shape || shape.length !== 2) return `the model's input '${code.name}' has shape ${shapeText(shape)}, not [batch, dim]`;
    return typeof shape[1] === "number" && shape[1] !== code.dim ? `it says ${code.dim} but the model's input '${code.name}' is [batch, ${shape[1]}]` : null;
  }],
  ["prior", (code) => priorProblem(code)],
  ["k", (code) => (isCategorical(code) && (code.k ?? code.dim) !== code.dim
    ? `k = ${short(code.k)} but the model takes ${code.dim} numbers for it (one per category)` : null)],
  ["label list", (code) => {
    if (!isCategorical(code)) return null;
    for (const key of ["labels", "classes"]) {
      const value = code[key];
      if (value !== undefined && value !== null && (!Array.isArray(value) || value.length !== code.dim)) {
        return `${key} has ${Array.isArray(value) ? `${value.length} entries` : short(value)} for ${code.dim} categories`;
      }
    }
    return (code.labels || []).every((label) => typeof label === "string") ? null : "labels must be text";
  }],
  ["range", (code) => (code.range === undefined || (Array.isArray(code.range) && code.range.length === 2 &&
    finite(...code.range) && code.range[0] < code.range[1]) ? null : `${short(code.range)} is not [low, high] with finite low < high`)],
];

/** Refuse a spec that does not fit the model it came with (sizes, categories, labels, ranges,
 * priors): a page would otherwise draw nothing, make a button per bogus label or a dead slider. */
export function checkSpec(spec, model, url, source) {
  const fail = (problem) => { throw new GenfwError(`${url}: ${problem} (re-export it with \`genfw export\`)`); };
  const codes = spec.latent && spec.latent.codes;
  const image = spec.image || {};
  if (!Array.isArray(codes) || !codes.every((c) => c && typeof c.name === "string" && isCount(c.dim)) ||
      !["channels", "height", "width"].every((key) => isCount(image[key]))) fail(`its genfw ${source} is incomplete`);
  const inputs = Object.keys(model.inputs), outputs = Object.keys(model.outputs);
  const names = new Set(codes.map((c) => c.name));
  if (names.size !== codes.length || inputs.length !== codes.length || !inputs.every((n) => names.has(n)) || !outputs.includes(OUTPUT_NAME)) {
    fail(`its inputs (${inputs.join(", ")}) / outputs (${outputs.join(", ")}) do not match its latent spec`);
  }
  for (const code of codes) {
    for (const [what, check] of CODE_CHECKS) {
      const problem = check(code, model.inputs[code.name]);
      if (problem) fail(`the ${what} of code '${code.name}' in its ${source} is wrong: ${problem}`);
    }
  }
  const out = model.outputs[OUTPUT_NAME] || [];
  const size = [image.channels, image.height, image.width];
  if (out.length !== 4 || out.slice(1).some((d, i) => typeof d === "number" && d !== size[i])) {
    fail(`its ${source} says images are ${size.join("x")} but the model's output '${OUTPUT_NAME}' has shape ${shapeText(out)}`);
  }
}

/** The JSON path of the first place two JSON documents differ (with both values), or null. */
export function firstDifference(ours, theirs, where = "") {
  const isObject = (x) => x !== null && typeof x === "object" && !Array.isArray(x);
  if (isObject(ours) && isObject(theirs)) {
    for (const key of [...new Set([...Object.keys(ours), ...Object.keys(theirs)])].sort()) {
      const found = firstDifference(ours[key], theirs[key], where ? `${where}.${key}` : key);
      if (found) return found;
    }
    return null;
  }
  if (Array.isArray(ours) && Array.isArray(theirs) && ours.length === theirs.length) {
    for (let i = 0; i < ours.length; i++) {
      const found = firstDifference(ours[i], theirs[i], `${where}[${i}]`);
      if (found) return found;
    }
    return null;
  }
  return (ours ?? null) === (theirs ?? null) ? null : `${where} (${short(ours ?? null)} in the model, ${short(theirs ?? null)} in the sidecar)`;
}

/** Check that the model is the file its sidecar was written for and that the sidecar says what
 * the spec (the model's own metadata, where it has some) says; returns the SHA-256. */
async function verifyPair(bytes, spec, sidecar, url, jsonUrl, names = null) {
  const name = jsonUrl.split(/[\\/]/).pop();
  const unverified = "keep the .json exported with it next to it, or re-export both with `genfw export`; " +
    "to run it unverified, load it with verify: false";
  if (!sidecar.doc) throw new GenfwError(`${url}: cannot verify it: its sidecar ${name} ${sidecar.why} (${unverified})`);
  const recorded = sidecar.doc.sha256;
  if (typeof recorded !== "string" || !recorded) {
    throw new GenfwError(`${url}: cannot verify it: its sidecar ${name} records no SHA-256 (${unverified})`);
  }
  const digest = await sha256Hex(bytes);
  if (digest !== recorded.toLowerCase()) {
    throw new GenfwError(`${url} does not match its sidecar (SHA-256 ${digest.slice(0, 12)}..., the sidecar expects ` +
      `${recorded.slice(0, 12)}...): copy the .onnx and .json exported together`);
  }
  // A generator's names default to what its spec implies (older sidecars); an encoder's are always written.
  const expected = names ? { ...names } : { inputs: spec.latent.codes.map((c) => c.name), output: OUTPUT_NAME };
  const given = names ? Object.fromEntries(Object.keys(names).map((k) => [k, sidecar.doc[k] ?? null]))
    : { inputs: sidecar.doc.inputs ?? expected.inputs, output: sidecar.doc.output ?? OUTPUT_NAME };
  for (const key of PAIRED_KEYS) {
    expected[key] = spec[key] ?? null;
    given[key] = key === "version" ? (sidecar.doc.version == null ? null : parseVersion(JSON.stringify(sidecar.doc.version))) : sidecar.doc[key] ?? null;
  }
  const difference = firstDifference(expected, given);
  if (difference) {
    throw new GenfwError(`${jsonUrl}: its sidecar does not match the model's own metadata at ${difference} ` +
      `(a sidecar is never edited by hand: copy the ${name} exported with the model, or re-export both with \`genfw export\`)`);
  }
  return digest;
}

/**
 * Load a generator (its .onnx file and its sidecar .json) and open an onnxruntime session.
 * `source` is a URL (fetched, with its sidecar next to it: generator.onnx -> generator.json), in
 * Node also a file path or a file: URL (read from disk, its sidecar next to it), or the model's
 * bytes (a Uint8Array or ArrayBuffer) with the sidecar as options.sidecar (the parsed object or
 * its JSON text) and options.name for messages.
 * The spec comes from the model's own metadata (read from the file), else from the sidecar; a
 * spec of a newer MAJOR spec_version, or one that does not fit the model, is refused. With verify
 * (the default) the model must be the file its sidecar was written for (SHA-256) and the sidecar
 * must say what the model's metadata says; a missing, unreadable or hash-less sidecar is refused.
 * options: {verify: true | false, allowOrigins: [origins besides the page's own], sidecar, name,
 * executionProviders: ["wasm"] | ["webgpu", "wasm"], sessionOptions}. Returns a Generator; its
 * `verified` says whether it was checked.
 */
export async function loadGenerator(ort, source, options = {}) {
  const { bytes, sidecar, url, jsonUrl, model, spec, from } = await openModelFile(source, options, {
    kind: "generator",
    wrongKind: "this is an encoder (images -> codes), not a generator: load it with loadEncoder",
    fix: "pass an .onnx file written by `genfw export`",
  });
  checkSpec(spec, model, url, from);
  const sha256 = options.verify !== false ? await verifyPair(bytes, spec, sidecar, url, jsonUrl) : null;
  const session = await createSession(ort, bytes, options);
  const full = { ...spec, inputs: spec.latent.codes.map((c) => c.name), output: OUTPUT_NAME, sha256 };
  return new Generator(ort, session, full, { verified: sha256 !== null, bytes: bytes.byteLength });
}

/**
 * What both loaders read alike: the file's bytes and sidecar (readSource), the ONNX model, and
 * its spec (from the model's own metadata, else from the sidecar; `from` says which). Refused in
 * one line: a file that is not an ONNX model (`fix` says what to pass), one of the other kind
 * (`wrongKind` says what to do), and a spec of a newer MAJOR spec_version (checked before
 * anything else of a spec it may not understand).
 */
async function openModelFile(source, options, { kind, wrongKind, fix }) {
  const { bytes, sidecar, label: url, jsonLabel: jsonUrl } = await readSource(source, options);
  let model;
  try {
    model = readOnnx(bytes);
  } catch (err) {
    throw new GenfwError(`${url}: not an ONNX model (${err.message}): ${fix}`);
  }
  if ((fileKind(model.metadata, sidecar) === "encoder") !== (kind === "encoder")) {
    throw new GenfwError(`${url}: ${wrongKind}`);
  }
  let spec = metadataSpec(model.metadata, url), from = "metadata";
  if (!spec) {
    if (!sidecar.doc) {
      throw new GenfwError(`${url}: not a genfw ${kind} (no genfw.latent metadata, and its sidecar ${sidecar.why})`);
    }
    const d = sidecar.doc;
    spec = { latent: d.latent, image: d.image, version: d.version ?? null, export: d.export ?? null, spec_version: d.spec_version ?? null };
    from = `sidecar ${jsonUrl.split(/[\\/]/).pop()}`;
  }
  const tooNew = specVersionProblem(spec.spec_version);
  if (tooNew) throw new GenfwError(`${url}: ${tooNew} (use a newer genfw-web, or export it with a genfw that writes spec ${SPEC_VERSION})`);
  return { bytes, sidecar, url, jsonUrl, model, spec, from };
}

/** An onnxruntime session for a verified file: wasm unless options.executionProviders says otherwise. */
function createSession(ort, bytes, options) {
  return ort.InferenceSession.create(bytes, {
    executionProviders: options.executionProviders || ["wasm"],
    graphOptimizationLevel: "all",
    ...(options.sessionOptions || {}),
  });
}

/** What a file says it is: "encoder" or "generator" (a file that says nothing is a generator). */
function fileKind(metadata, sidecar) {
  const raw = metadata[ENCODER_META_KEYS.kind];
  if (raw !== undefined) {
    try { return JSON.parse(raw); } catch { return raw; }
  }
  return (sidecar && sidecar.doc && sidecar.doc.kind) || "generator";
}

/**
 * Load an encoder (encoder.onnx and its sidecar encoder.json, written by `genfw export --encoder`):
 * images -> the codes that draw them, named as the generator's inputs. `source` and `options` as
 * for loadGenerator; the same checks (spec version, spec against the model, SHA-256 pair). A
 * generator passed here is refused in one line.
 */
export async function loadEncoder(ort, source, options = {}) {
  const { bytes, sidecar, url, jsonUrl, model, spec, from } = await openModelFile(source, options, {
    kind: "encoder",
    wrongKind: "not a genfw encoder (a generator: load it with loadGenerator; `genfw export RUN --encoder` writes encoder.onnx)",
    fix: "pass an encoder.onnx written by `genfw export --encoder`",
  });
  let outputs = null;
  if (from === "metadata") {
    if (ENCODER_META_KEYS.outputs in model.metadata) {
      try { outputs = JSON.parse(model.metadata[ENCODER_META_KEYS.outputs]); } catch { outputs = null; }
    }
  } else {
    outputs = sidecar.doc.outputs ?? null;
  }
  checkEncoderSpec(spec, outputs, model, url, from);
  const names = { kind: "encoder", inputs: [ENCODER_INPUT], outputs };
  const sha256 = options.verify !== false ? await verifyPair(bytes, spec, sidecar, url, jsonUrl, names) : null;
  const session = await createSession(ort, bytes, options);
  return new Encoder(ort, session, { ...spec, ...names, sha256 }, { verified: sha256 !== null, bytes: bytes.byteLength });
}

/** Refuse an encoder spec that does not fit its model: the outputs must be codes of the spec, with their dims. */
function checkEncoderSpec(spec, outputs, model, url, source) {
  const fail = (problem) => { throw new GenfwError(`${url}: ${problem} (re-export it with \`genfw export --encoder\`)`); };
  const codes = spec.latent && spec.latent.codes;
  const image = spec.image || {};
  if (!Array.isArray(codes) || !codes.every((c) => c && typeof c.name === "string" && isCount(c.dim)) ||
      !["channels", "height", "width"].every((key) => isCount(image[key])) || !Array.isArray(outputs) || !outputs.length) {
    fail(`its genfw ${source} is incomplete`);
  }
  const inputs = Object.keys(model.inputs), given = Object.keys(model.outputs);
  if (inputs.length !== 1 || inputs[0] !== ENCODER_INPUT || given.length !== outputs.length || !outputs.every((n) => given.includes(n))) {
    fail(`its inputs (${inputs.join(", ")}) / outputs (${given.join(", ")}) do not match its spec (input ${ENCODER_INPUT}, outputs ${outputs.join(", ")})`);
  }
  const size = [image.channels, image.height, image.width];
  const shape = model.inputs[ENCODER_INPUT] || [];
  if (shape.length !== 4 || shape.slice(1).some((d, i) => typeof d === "number" && d !== size[i])) {
    fail(`its ${source} says images are ${size.join("x")} but its input '${ENCODER_INPUT}' has shape ${shapeText(shape)}`);
  }
  for (const name of outputs) {
    const code = codes.find((c) => c.name === name);
    const dim = (model.outputs[name] || [])[1];
    if (!code) fail(`its output '${name}' is not a code of its latent spec`);
    if (typeof dim === "number" && dim !== code.dim) fail(`its output '${name}' has ${dim} numbers but code '${name}' has dim ${code.dim}`);
  }
}

/** The center of a code's prior (genfw's prior_center): a normal's mean, the middle of a uniform,
 * a Bernoulli's p, a categorical's probabilities; what a reconstruction gives a code the encoder does not. */
export function priorCenter(code) {
  const p = code.prior || {};
  const dim = code.dim;
  if (p.kind === "normal") return new Float32Array(dim).fill(p.mean ?? 0);
  if (p.kind === "uniform") return new Float32Array(dim).fill(((p.low ?? -1) + (p.high ?? 1)) / 2);
  if (p.kind === "bernoulli") return new Float32Array(dim).fill(p.p ?? 0.5);
  if (p.kind === "categorical") {
    const w = Array.isArray(p.probs) ? p.probs.map(Number) : new Array(dim).fill(1);
    const sum = w.reduce((a, b) => a + b, 0);
    return Float32Array.from(w, (x) => x / sum);
  }
  throw new GenfwError(`code '${code.name}' has a '${p.kind}' prior with no center: give its value`);
}

export class Encoder {
  constructor(ort, session, spec, info = {}) {
    this.ort = ort;
    this.session = session;
    this.spec = spec;
    this.codes = spec.latent.codes;
    this.outputs = spec.outputs;
    this.image = spec.image;
    this.imageShape = [spec.image.channels, spec.image.height, spec.image.width];
    this.verified = Boolean(info.verified);
    this.bytes = info.bytes;
  }

  /** The codes of n images (Float32Array [n, C, H, W] in [0, 1], or a Uint8Array of 0..255 pixels):
   * {name: Float32Array [n * dim]} for every code the encoder gives (genfw.runtime's Encoder.encode). */
  async encode(images) {
    const [c, h, w] = this.imageShape;
    const size = c * h * w;
    if (!images || typeof images.length !== "number" || images.length === 0 || images.length % size !== 0) {
      throw new GenfwError(`images must be n x ${c}x${h}x${w} numbers (n >= 1), not ${images ? images.length : images}`);
    }
    let pixels;
    if (images instanceof Uint8Array || images instanceof Uint8ClampedArray) pixels = Float32Array.from(images, (v) => v / 255);
    else {
      pixels = Float32Array.from(images);
      if (pixels.some((v) => !(v >= 0 && v <= 1))) throw new GenfwError("float images must be finite and in [0, 1] (divide 0..255 pixels by 255)");
    }
    const n = pixels.length / size;
    const results = await this.session.run({ [ENCODER_INPUT]: new this.ort.Tensor("float32", pixels, [n, c, h, w]) });
    return Object.fromEntries(this.outputs.map((name) => [name, results[name].data]));
  }

  /** generator(encoder(images)) (genfw.runtime's reconstruct): {images, codes}. `fixed` sets any code
   * by value (keep a digit's style, draw another digit); codes the encoder does not give are their
   * prior's center. */
  async reconstruct(generator, images, fixed = {}) {
    const ours = JSON.stringify(this.codes.map((c) => [c.name, c.dim]));
    if (ours !== JSON.stringify(generator.codes.map((c) => [c.name, c.dim]))) {
      throw new GenfwError("the encoder and the generator were exported for different codes: use the two files exported together from one run");
    }
    const encoded = await this.encode(images);
    const n = encoded[this.outputs[0]].length / this.codes.find((c) => c.name === this.outputs[0]).dim;
    const codes = {};
    for (const code of generator.codes) {
      if (code.name in fixed) codes[code.name] = generator.codeValues(code.name, fixed[code.name], n);
      else if (code.name in encoded) codes[code.name] = encoded[code.name];
      else {
        const center = priorCenter(code);
        const all = new Float32Array(n * code.dim);
        for (let i = 0; i < n; i++) all.set(center, i * code.dim);
        codes[code.name] = all;
      }
    }
    return { images: await generator.run(codes), codes };
  }
}

// -- portable seeds: the contract's random draws (docs/onnx.md, "Seeds"; genfw/export/seeds.py) ---------
// SplitMix64, counter-based, in BigInt arithmetic modulo 2^64: the same seed gives the same codes
// here, in genfw.runtime (numpy) and in any app that implements these few lines.
const MASK64 = (1n << 64n) - 1n;
const GAMMA = 0x9e3779b97f4a7c15n, MIX1 = 0xbf58476d1ce4e5b9n, MIX2 = 0x94d049bb133111ebn;
const UNIT = 2 ** -53;

/** Output number `counter` (from 0) of SplitMix64 seeded with `seed` (BigInts): mix64(seed + GAMMA * (counter + 1)). */
export function splitmix64(seed, counter) {
  let z = (seed + GAMMA * (counter + 1n)) & MASK64;
  z = ((z ^ (z >> 30n)) * MIX1) & MASK64;
  z = ((z ^ (z >> 27n)) * MIX2) & MASK64;
  return z ^ (z >> 31n);
}

/** A seed as a BigInt 0 .. 2^64 - 1 (from a Number that is a safe integer >= 0, or a BigInt). */
export function checkSeed(seed) {
  const ok = typeof seed === "bigint" ? seed >= 0n && seed <= MASK64 : Number.isSafeInteger(seed) && seed >= 0;
  if (!ok) throw new GenfwError(`a seed is an integer from 0 to 2^64 - 1 (a Number up to 2^53 - 1, or a BigInt), not ${String(seed)}`);
  return BigInt(seed);
}

/** n draws of one code from its prior: Float32Array [n * dim]; the code at input `position` has its
 * own stream (key = splitmix64(seed, position)), and draw c is u(c) = (splitmix64(key, c) >> 11) * 2^-53. */
export function drawCode(code, n, seed, position) {
  const key = splitmix64(checkSeed(seed), BigInt(position));
  const u = (c) => Number(splitmix64(key, BigInt(c)) >> 11n) * UNIT;
  const p = code.prior || {};
  const dim = code.dim;
  const out = new Float32Array(n * dim);
  if (p.kind === "uniform") {
    const low = p.low ?? -1, high = p.high ?? 1;
    for (let m = 0; m < out.length; m++) out[m] = low + (high - low) * u(m);
  } else if (p.kind === "normal") { // Box-Muller: sqrt(-2 ln(1 - u(2m))) cos(2 pi u(2m + 1))
    const mean = p.mean ?? 0, std = p.std ?? 1;
    for (let m = 0; m < out.length; m++) out[m] = mean + std * (Math.sqrt(-2 * Math.log(1 - u(2 * m))) * Math.cos(2 * Math.PI * u(2 * m + 1)));
  } else if (p.kind === "bernoulli") {
    const prob = p.p ?? 0.5;
    for (let m = 0; m < out.length; m++) out[m] = u(m) < prob ? 1 : 0;
  } else if (p.kind === "categorical") { // the first k with u(i) * total < (running sum of probs up to k)
    const probs = p.probs || new Array(dim).fill(1 / dim);
    const cum = [];
    let total = 0;
    for (const q of probs) cum.push(total += q);
    for (let i = 0; i < n; i++) {
      const t = u(i) * total;
      let k = 0;
      while (k < dim - 1 && !(t < cum[k])) k++;
      out[i * dim + k] = 1;
    }
  } else {
    throw new GenfwError(`code '${code.name}' has a prior of kind '${p.kind}' that genfw-web.js cannot sample: give its values`);
  }
  return out;
}

/** Every code of a spec's `codes` for n samples, drawn from its prior with `seed`: {name: Float32Array [n * dim]}. */
export function drawCodes(codes, n, seed) {
  return Object.fromEntries(codes.map((code, position) => [code.name, drawCode(code, n, seed, position)]));
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

/** A categorical code's values are probability vectors: k numbers >= 0 summing to 1 (as genfw.runtime). */
function checkProbabilities(name, values, k) {
  for (let row = 0; row < values.length; row += k) {
    const probs = values.subarray(row, row + k);
    const sum = probs.reduce((a, b) => a + b, 0);
    const problem = probs.some((x) => x < 0) ? `it has a negative value (${Math.min(...probs)})`
      : Math.abs(sum - 1) > PROBABILITY_SUM_TOLERANCE ? `it sums to ${sum}` : null;
    if (problem) {
      throw new GenfwError(`code '${name}' takes a probability vector (k = ${k} numbers >= 0 that sum to 1): ${problem} ` +
        `(e.g. ${name}=3 for one category, or [0.5, 0.5, 0, ...] to blend two)`);
    }
  }
}

const norm = (v) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));

/** Spherical interpolation of vectors a and b at fraction t (genfw.runtime.sweeps._slerp's rules). */
function slerp(a, b, t) {
  const na = norm(a), nb = norm(b);
  const linear = () => a.map((x, j) => x + (b[j] - x) * t);
  if (na < 1e-12 || nb < 1e-12) return linear();
  const cos = Math.min(1, Math.max(-1, a.reduce((s, x, j) => s + (x / na) * (b[j] / nb), 0)));
  const omega = Math.acos(cos);
  if (omega < 1e-6 || Math.PI - omega < 1e-6) return linear();
  const wa = Math.sin((1 - t) * omega) / Math.sin(omega), wb = Math.sin(t * omega) / Math.sin(omega);
  const dir = a.map((x, j) => wa * (x / na) + wb * (b[j] / nb));
  const length = (1 - t) * na + t * nb, nd = norm(dir);
  return dir.map((x) => (x / nd) * length);
}

/** A periodic code the short way round its range (low, high]. */
function shortestArc(a, b, t, code) {
  const [low, high] = Array.isArray(code.range) ? code.range.map(Number) : [-Math.PI, Math.PI];
  const period = high - low;
  const mod = (x, m) => ((x % m) + m) % m;
  return a.map((x, j) => high - mod(high - (x + (mod(b[j] - x + period / 2, period) - period / 2) * t), period));
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

  /** The category of code `name` that draws class `classLabel` (genfw.runtime's select): of several,
   * the one that draws it most reliably; pass the result as the code's value. */
  select(name, classLabel) {
    const code = this.code(name);
    if (!isCategorical(code) || !Array.isArray(code.classes) || !code.classes.length) {
      throw new GenfwError(`code '${name}' has no category meanings to select from (give a category index or label instead)`);
    }
    const wanted = String(classLabel);
    let best = -1;
    code.classes.forEach((c, i) => {
      if (String(c.label) === wanted && (best < 0 || c.share > code.classes[best].share)) best = i;
    });
    if (best < 0) {
      const drawn = [...new Set(code.classes.map((c) => String(c.label)))].sort();
      throw new GenfwError(`no category of code '${name}' draws '${wanted}' (its categories draw: ${drawn.join(", ")})`);
    }
    return best;
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
    if (isCategorical(code)) checkProbabilities(name, out, dim);
    return out;
  }

  /** Every code for n samples: `fixed` values, the rest drawn from their priors with `seed` (the same
   * codes as genfw.runtime's sample_codes(n, seed, **fixed); each code has its own stream). */
  sampleCodes(n, seed = 0, fixed = {}) {
    for (const name of Object.keys(fixed)) this.code(name);
    checkSeed(seed);
    const out = {};
    this.codes.forEach((code, position) => {
      out[code.name] = code.name in fixed ? this.codeValues(code.name, fixed[code.name], n) : drawCode(code, n, seed, position);
    });
    return out;
  }

  /** The settings a traversal sweeps code `name` over by default (genfw.runtime's sweep_values):
   * a categorical code steps through its categories (`steps` of them, cycling; all k if null); a
   * continuous one goes linearly over its suggested range in `steps` (default 9) steps; a periodic
   * one (an angle) over (low, high], without showing the same angle twice. */
  sweepValues(name, steps = null) {
    const code = this.code(name);
    if (steps !== null && (!Number.isInteger(steps) || steps < 1)) throw new GenfwError(`steps must be a positive integer, not ${steps}`);
    if (isCategorical(code)) return Array.from({ length: steps ?? code.dim }, (_, i) => i % code.dim);
    const count = steps ?? 9;
    const kind = (code.prior || {}).kind;
    // The ranges genfw.runtime sweeps: the spec's range, else a uniform's or a normal's (mean +- 2 std).
    const range = Array.isArray(code.range) || ["uniform", "normal"].includes(kind) ? suggestedRange(code) : null;
    if (!range) throw new GenfwError(`code '${name}' (prior '${kind}') has no default sweep (pass values instead)`);
    const [low, high] = range;
    if (code.periodic && Array.isArray(code.range)) return Array.from({ length: count }, (_, i) => low + (high - low) * ((i + 1) / count));
    return Array.from({ length: count }, (_, i) => low + (high - low) * (count === 1 ? 0 : i / (count - 1)));
  }

  /** One row per code of `names` (default: the control codes, else all), each sweeping its code
   * (sweepValues) while every other code keeps one draw from `seed` (or its `fixed` value), the same
   * in every row: {images, codes, rows, columns}, images row by row (genfw.runtime's traverse_codes);
 * `names` defaults to the control codes not in `fixed`; `columns` is `steps`, or a categorical
 * row's k when that is more. */
  async traverseCodes(names = null, steps = 9, seed = 0, fixed = {}) {
    if (names === null) {
      const free = this.codes.filter((c) => !(c.name in fixed));
      const controls = free.filter((c) => c.role === "control").map((c) => c.name);
      names = controls.length ? controls : free.map((c) => c.name);
    }
    if (!names.length) throw new GenfwError("traverseCodes needs at least one code name");
    for (const name of names) {
      this.code(name);
      if (name in fixed) throw new GenfwError(`code '${name}' is both traversed and fixed`);
    }
    if (!Number.isInteger(steps) || steps < 1) throw new GenfwError(`steps must be a positive integer, not ${steps}`);
    // As many columns as steps, or as a categorical row has categories, so every category shows.
    const columns = Math.max(steps, ...names.map((n) => (isCategorical(this.code(n)) ? this.code(n).dim : 0)));
    const base = this.sampleCodes(1, seed, fixed);
    const sweeps = names.map((name) => this.sweepValues(name, columns));
    const total = names.length * columns;
    const codes = {};
    for (const code of this.codes) codes[code.name] = new Float32Array(total * code.dim);
    names.forEach((name, row) => {
      sweeps[row].forEach((value, column) => {
        const i = row * columns + column;
        for (const code of this.codes) {
          const v = code.name === name ? this.codeValues(name, value, 1) : base[code.name];
          codes[code.name].set(v, i * code.dim);
        }
      });
    });
    return { images: await this.run(codes), codes, rows: names, columns };
  }

  /** Images along a path from the codes `start` to `end` (full sets of codes, e.g. sampleCodes(1, seed),
   * or values codeValues accepts), both ends included: {images, codes} (genfw.runtime's interpolate).
   * `method`: "linear" (a categorical code blends), "spherical" (each code's vector along a great
   * circle, its norm changing linearly), "auto" (spherical for codes with a normal prior); a periodic
   * code always goes the short way round. */
  async interpolate(start, end, steps = 9, method = "auto") {
    if (!["auto", "linear", "spherical"].includes(method)) throw new GenfwError(`unknown interpolation method '${method}' (use auto, linear or spherical)`);
    if (!Number.isInteger(steps) || steps < 2) throw new GenfwError(`an interpolation needs steps >= 2 (its two ends), not ${steps}`);
    const codes = {};
    for (const code of this.codes) {
      for (const [which, given] of [["start", start], ["end", end]]) {
        if (!(code.name in given)) throw new GenfwError(`the ${which} of an interpolation gives no value for code '${code.name}'`);
      }
      const a = Array.from(this.codeValues(code.name, start[code.name], 1));
      const b = Array.from(this.codeValues(code.name, end[code.name], 1));
      const out = new Float32Array(steps * code.dim);
      const spherical = method === "spherical" || (method === "auto" && (code.prior || {}).kind === "normal");
      for (let s = 0; s < steps; s++) {
        const t = s / (steps - 1);
        let row;
        if (code.periodic) row = shortestArc(a, b, t, code);
        else if (spherical && !isCategorical(code)) row = slerp(a, b, t);
        else row = a.map((x, j) => x + (b[j] - x) * t);
        out.set(row, s * code.dim);
      }
      codes[code.name] = out;
    }
    return { images: await this.run(codes), codes };
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
