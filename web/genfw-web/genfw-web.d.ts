// Types of genfw-web (genfw-web.js): the JavaScript API of genfw's generator contract, spec 1.x
// (docs/onnx.md in genfw's repository).

/** The onnxruntime module the caller loaded (onnxruntime-web, or onnxruntime-node): only what genfw-web uses. */
export interface OrtModule {
  InferenceSession: { create(model: Uint8Array, options?: Record<string, unknown>): Promise<OrtSession> };
  Tensor: new (type: "float32", data: Float32Array, dims: readonly number[]) => unknown;
}
export interface OrtSession {
  readonly inputNames: readonly string[];
  run(feeds: Record<string, unknown>): Promise<Record<string, { data: Float32Array | unknown }>>;
}

export type PriorKind = "uniform" | "normal" | "categorical" | "bernoulli";
export interface UniformPrior { kind: "uniform"; low?: number; high?: number }
export interface NormalPrior { kind: "normal"; mean?: number; std?: number }
export interface CategoricalPrior { kind: "categorical"; probs?: number[] }
export interface BernoulliPrior { kind: "bernoulli"; p?: number }
/** A kind this spec does not name: such a code must be given values. */
export interface OtherPrior { kind: string; [field: string]: unknown }
export type Prior = UniformPrior | NormalPrior | CategoricalPrior | BernoulliPrior | OtherPrior;

/** What a category came to mean (from `genfw eval`). */
export interface CategoryMeaning { class: number; label: string; share: number }

/** One latent code: one model input [batch, dim] of its parameters. */
export interface CodeSpec {
  name: string;
  type: string;
  dim: number;
  role?: "control" | "noise";
  prior: Prior;
  /** The suggested slider range of every parameter: [low, high]. */
  range?: [number, number];
  /** An angle: low and high are the same angle (wrap the slider). */
  periodic?: boolean;
  encoding?: string;
  k?: number;
  labels?: string[];
  classes?: CategoryMeaning[];
  /** Per dimension of a continuous control code: the image property it moves, measured by the run's evaluation. */
  meaning?: ControlMeaning[];
  from_labels?: boolean;
  [field: string]: unknown;
}

export interface ControlMeaning { property: string; statistic: string; correlation: number; label: string; [field: string]: unknown }

export interface ImageSpec { channels: number; height: number; width: number; range: [number, number] }

export interface ExportInfo {
  weights: "fp32" | "fp16" | "int8";
  tolerance: Record<string, number>;
  opset: number;
  ir_version: number;
  max_abs_diff?: number;
  mean_abs_diff?: number;
  verified_batches?: number[];
}

/** generator.json: the sidecar (`genfw schema --sidecar` prints its JSON Schema). */
export interface Sidecar {
  $schema?: string;
  /** MAJOR.MINOR.PATCH; missing in files from before versioning (the legacy 1.x). */
  spec_version?: string;
  latent: { codes: CodeSpec[] };
  image: ImageSpec;
  version?: string;
  export?: ExportInfo;
  inputs: string[];
  output: "image";
  sha256?: string;
}

/** A loaded generator's spec: the sidecar's fields, sha256 null when not verified. */
export interface GeneratorSpec {
  latent: { codes: CodeSpec[] };
  image: ImageSpec;
  version: string | null;
  export: ExportInfo | string | null;
  spec_version: string | null;
  inputs: string[];
  output: "image";
  sha256: string | null;
}

/** Codes as the model takes them: {name: Float32Array [n * dim]} (one-hot for categorical codes). */
export type Codes = Record<string, Float32Array>;
/** A value for one code: an index or a label (categorical), a number, or numbers (1, dim or n * dim of them). */
export type CodeValue = number | string | ArrayLike<number>;
/** A seed: an integer 0 .. 2^64 - 1 (a Number up to 2^53 - 1, or a BigInt). */
export type Seed = number | bigint;

export interface LoadOptions {
  /** Check the model against its sidecar (SHA-256, metadata); default true. */
  verify?: boolean;
  /** Origins besides the page's own that may serve models (browser); "*" allows any. */
  allowOrigins?: string[];
  /** With bytes as the source: the sidecar, parsed or as JSON text. */
  sidecar?: Sidecar | string;
  /** With bytes as the source: a name for messages. */
  name?: string;
  executionProviders?: string[];
  sessionOptions?: Record<string, unknown>;
}

/** A URL (string or URL), in Node also a file path or file: URL, or the model's bytes (with options.sidecar). */
export type GeneratorSource = string | URL | Uint8Array | ArrayBuffer;

/** An error the caller caused (a bad file, code name or value): one line. */
export class GenfwError extends Error {}

export class Generator {
  readonly ort: OrtModule;
  readonly session: OrtSession;
  readonly spec: GeneratorSpec;
  readonly codes: CodeSpec[];
  readonly image: ImageSpec;
  /** [C, H, W] */
  readonly imageShape: [number, number, number];
  /** Whether the file was checked against its sidecar. */
  readonly verified: boolean;
  /** The model file's size in bytes. */
  readonly bytes: number;
  /** The spec of one code; a GenfwError naming the valid codes if there is none. */
  code(name: string): CodeSpec;
  /** The category of code `name` that draws class `classLabel` (the spec's `classes`). */
  select(name: string, classLabel: string | number): number;
  /** `value` for code `name` as the model input: Float32Array [n * dim]. */
  codeValues(name: string, value: CodeValue, n: number): Float32Array;
  /** `fixed` values, the rest drawn with `seed`: the codes genfw.runtime's sample_codes(n, seed, **fixed) gives. */
  sampleCodes(n: number, seed?: Seed, fixed?: Record<string, CodeValue>): Codes;
  /** The settings a traversal sweeps code `name` over by default (genfw.runtime's sweep_values). */
  sweepValues(name: string, steps?: number | null): CodeValue[];
  /** One row per code, each sweeping its code while the others keep one draw (genfw.runtime's traverse_codes). */
  traverseCodes(names?: string[] | null, steps?: number, seed?: Seed, fixed?: Record<string, CodeValue>): Promise<TraversalGrid>;
  /** Images along a path from `start` to `end`, both included (genfw.runtime's interpolate). */
  interpolate(start: Record<string, CodeValue>, end: Record<string, CodeValue>, steps?: number,
    method?: "auto" | "linear" | "spherical"): Promise<{ images: Float32Array; codes: Codes }>;
  /** Images for complete codes: Float32Array [n, C, H, W] in [0, 1]. */
  run(codes: Codes): Promise<Float32Array>;
}

export interface TraversalGrid {
  /** Float32Array [rows * columns, C, H, W] in [0, 1], row by row. */
  images: Float32Array;
  codes: Codes;
  /** Each row's code name. */
  rows: string[];
  columns: number;
}

export function loadGenerator(ort: OrtModule, source: GeneratorSource, options?: LoadOptions): Promise<Generator>;

/** An exported encoder (`genfw export --encoder`): images -> the codes that draw them. */
export class Encoder {
  readonly ort: OrtModule;
  readonly session: OrtSession;
  /** The whole latent spec (the codes the encoder gives and those it does not), plus kind, inputs, outputs. */
  readonly spec: GeneratorSpec & { kind: "encoder"; inputs: ["image"]; outputs: string[] };
  readonly codes: CodeSpec[];
  /** The codes it gives, each named as the generator's input for that code. */
  readonly outputs: string[];
  readonly image: ImageSpec;
  /** [C, H, W] */
  readonly imageShape: [number, number, number];
  readonly verified: boolean;
  readonly bytes: number;
  /** n images (Float32Array [n, C, H, W] in [0, 1], or Uint8Array 0..255) -> {name: Float32Array [n * dim]}. */
  encode(images: Float32Array | Uint8Array | Uint8ClampedArray | ArrayLike<number>): Promise<Codes>;
  /** generator(encoder(images)); `fixed` sets codes by value; codes it does not give are their prior's center. */
  reconstruct(generator: Generator, images: Float32Array | Uint8Array | ArrayLike<number>,
    fixed?: Record<string, CodeValue>): Promise<{ images: Float32Array; codes: Codes }>;
}

export function loadEncoder(ort: OrtModule, source: GeneratorSource, options?: LoadOptions): Promise<Encoder>;
/** The center of a code's prior: a normal's mean, a uniform's middle, a Bernoulli's p, a categorical's probabilities. */
export function priorCenter(code: CodeSpec): Float32Array;
export const ENCODER_META_KEYS: { kind: string; outputs: string };
export const ENCODER_INPUT: "image";

export const PRIOR_KINDS: PriorKind[];
export const OUTPUT_NAME: "image";
export const META_KEYS: { latent: string; image: string; version: string; export: string; spec_version: string };
export const PAIRED_KEYS: string[];
/** The generator spec this module reads; files of a newer MAJOR are refused. */
export const SPEC_VERSION: string;
export const PROBABILITY_SUM_TOLERANCE: number;
/** Why a file of `version` cannot be read (a newer MAJOR, not a version), or null. */
export function specVersionProblem(version: string | null | undefined): string | null;

/** SplitMix64 output number `counter` for `seed` (BigInts modulo 2^64). */
export function splitmix64(seed: bigint, counter: bigint): bigint;
export function checkSeed(seed: Seed): bigint;
/** n draws of the code at input `position` from its prior: Float32Array [n * dim]. */
export function drawCode(code: CodeSpec, n: number, seed: Seed, position: number): Float32Array;
/** Every code of `codes` drawn with `seed`: {name: Float32Array [n * dim]}. */
export function drawCodes(codes: CodeSpec[], n: number, seed: Seed): Codes;
export function suggestedRange(code: CodeSpec): [number, number] | null;
export function isCategorical(code: CodeSpec): boolean;

export function sha256Hex(bytes: Uint8Array): Promise<string>;
export function sha256HexJs(bytes: Uint8Array): string;
export function sidecarUrl(modelUrl: string): string;
export function allowedModelUrl(modelUrl: string, allowOrigins?: string[]): string;
export interface OnnxFacts {
  metadata: Record<string, string>;
  inputs: Record<string, (number | string | null)[] | null>;
  outputs: Record<string, (number | string | null)[] | null>;
}
export function readOnnx(bytes: Uint8Array): OnnxFacts;
export function checkSpec(spec: GeneratorSpec, model: OnnxFacts, url: string, source: string): void;
export function firstDifference(ours: unknown, theirs: unknown, where?: string): string | null;

export interface GridOptions { columns?: number; scale?: number; padding?: number; background?: string }
/** Draw images [n, C, H, W] in [0, 1] on a canvas (browser). */
export function drawGrid(canvas: HTMLCanvasElement | OffscreenCanvas, images: Float32Array,
  imageShape: readonly [number, number, number] | number[], options?: GridOptions): void;
