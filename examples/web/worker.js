// The generator runs here, off the main thread, so the page's sliders stay smooth while a grid
// is computed. Messages: {type: "load", model, webgpu, allowOrigins} -> {type: "ready", spec, ...};
// {type: "run", id, codes: {name: Float32Array}} -> {type: "images", id, images, ms};
// {type: "encode", pixels: Float32Array [C*H*W]} -> {type: "encoded", codes} (with an encoder).
import { loadEncoder, loadGenerator } from "./genfw-web.js";

let generator = null;
let encoder = null;

async function loadOrt(webgpu) {
  // The WASM-only build (ort.wasm.min.mjs + a 14 MB .wasm) starts about twice as fast as the
  // build with WebGPU (ort.min.mjs + a 28 MB .wasm), so the page uses it unless asked for WebGPU
  // (?ep=webgpu; `genfw demo --webgpu` copies that build too).
  const ort = await import(webgpu ? "./ort/ort.min.mjs" : "./ort/ort.wasm.min.mjs");
  // The .wasm files sit next to the module in ./ort/ (genfw demo copies them there): never a CDN,
  // so the page works offline.
  ort.env.wasm.wasmPaths = new URL("./ort/", import.meta.url).href;
  // WASM threads need a cross-origin isolated page (COOP/COEP headers); a plain static server
  // gives one thread, which is plenty for a small generator.
  ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
  return ort;
}

self.onmessage = async (event) => {
  const msg = event.data;
  try {
    if (msg.type === "load") {
      const started = performance.now();
      let ort;
      try {
        ort = await loadOrt(msg.webgpu);
      } catch (err) {
        throw new Error(`onnxruntime-web is missing next to the page (ort/): ${err.message}. ` +
          "`genfw demo` copies it from node_modules/onnxruntime-web/dist when it finds one (npm install onnxruntime-web)");
      }
      // The page says which other origins it may load models from (none unless it was built so).
      generator = await loadGenerator(ort, new URL(msg.model, self.location.href).href,
        { executionProviders: msg.webgpu ? ["webgpu", "wasm"] : ["wasm"], allowOrigins: msg.allowOrigins || [] });
      // The encoder (images -> codes) is optional: without it the page only generates.
      let encoderError = null;
      if (msg.encoder) {
        try {
          encoder = await loadEncoder(ort, new URL(msg.encoder, self.location.href).href, { allowOrigins: msg.allowOrigins || [] });
        } catch (err) {
          encoderError = err && err.message ? err.message : String(err);
        }
      }
      self.postMessage({ type: "ready", spec: generator.spec, verified: generator.verified, bytes: generator.bytes,
        loadMs: performance.now() - started, encoder: encoder ? { outputs: encoder.outputs, verified: encoder.verified } : null,
        encoderError });
    } else if (msg.type === "encode") {
      const codes = await encoder.encode(msg.pixels);
      self.postMessage({ type: "encoded", codes });
    } else if (msg.type === "run") {
      const started = performance.now();
      const images = await generator.run(msg.codes);
      const copy = new Float32Array(images); // a transferable buffer of its own
      self.postMessage({ type: "images", id: msg.id, images: copy, ms: performance.now() - started }, [copy.buffer]);
    }
  } catch (err) {
    self.postMessage({ type: "error", id: msg.id, message: err && err.message ? err.message : String(err) });
  }
};
