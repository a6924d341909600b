import { OnnxRuntimeBackend, type OrtModule, type OrtSignature } from '../../emotion/onnx-runtime-backend.js';
import { fetchAsset, type FetchLike } from './fetch-asset.js';

/** onnxruntime-web as the web backend uses it: the common API plus its wasm settings (`ort.env.wasm`). */
export interface OrtWebModule extends OrtModule {
  readonly env: {
    readonly wasm: {
      /** A URL prefix (what MoodLens sets) or per-file URLs. */
      wasmPaths?: unknown;
      numThreads?: number;
      proxy?: boolean;
    };
  };
}

/** ONNX Runtime Web's wasm settings; each documented with its default. */
export interface OrtWasmSettings {
  /**
   * Absolute URL of the folder holding `ort-wasm-simd-threaded.mjs` and `.wasm` of the same
   * onnxruntime-web version as the JavaScript (required: the app serves them itself, never from a CDN).
   */
  readonly wasmPaths: string;
  /**
   * Threads of one inference (default 1: the emotion model is small, and on few cores one thread per
   * session was fastest; more needs a crossOriginIsolated page).
   */
  readonly numThreads?: number;
}

export const DEFAULT_ORT_WASM_THREADS = 1;

/**
 * Points ONNX Runtime Web at locally served wasm files and sets its thread count. Settings are global
 * to the `ort` module and apply to sessions created afterwards.
 */
export function configureOrtWasm(ort: OrtWebModule, settings: OrtWasmSettings): void {
  const { wasmPaths, numThreads = DEFAULT_ORT_WASM_THREADS } = settings;
  if (typeof wasmPaths !== 'string' || !wasmPaths.endsWith('/')) {
    throw new TypeError(
      `Expected a folder URL ending in '/' for wasmPaths but received ${String(wasmPaths)}`,
    );
  }
  if (!Number.isInteger(numThreads) || numThreads < 1) {
    throw new RangeError(`Expected a positive integer for numThreads but received ${String(numThreads)}`);
  }
  ort.env.wasm.wasmPaths = wasmPaths;
  ort.env.wasm.numThreads = numThreads;
  ort.env.wasm.proxy = false; // the app already runs inference in its own worker
}

/**
 * The browser {@link InferenceBackend}: one onnxruntime-web (WebAssembly) session on one model, the
 * same .onnx file Node runs (see {@link OnnxRuntimeBackend}). The `ort` module is passed in, so the
 * page decides how it is bundled and where its wasm files are (see {@link configureOrtWasm}).
 */
export class OnnxWebBackend extends OnnxRuntimeBackend {
  /**
   * Creates a backend from a model's bytes; `source` (a URL) names it in messages.
   * @throws MoodLensError `MOODLENS_ERR_MODEL_LOAD` naming `source` and what arrived instead of a model,
   *   or ONNX Runtime's reason when it cannot start or refuses the model.
   */
  static async fromBytes(
    ort: OrtModule,
    bytes: Uint8Array,
    source: string,
    signature: OrtSignature = {},
  ): Promise<OnnxWebBackend> {
    const opened = await OnnxRuntimeBackend.openSession(
      () => Promise.resolve(ort),
      bytes,
      source,
      { executionProviders: ['wasm'], graphOptimizationLevel: 'all' },
      signature,
    );
    return new OnnxWebBackend(
      opened.session,
      source,
      opened.model,
      opened.inputName,
      opened.outputName,
      opened.sampleShape,
      opened.ort,
    );
  }

  /** Downloads the model at `url` (see {@link fetchAsset} for the errors) and creates a backend on it. */
  static async fromUrl(
    ort: OrtModule,
    url: string,
    signature: OrtSignature = {},
    fetchImpl?: FetchLike,
  ): Promise<OnnxWebBackend> {
    return OnnxWebBackend.fromBytes(ort, await fetchAsset(url, 'emotion model', fetchImpl), url, signature);
  }
}
