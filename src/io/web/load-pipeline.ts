import { MoodLensError } from '../../core/errors.js';
import type { CnnBoxDetector } from '../../detect/cnn/box-detector.js';
import { HaarFaceDetector } from '../../detect/detector.js';
import type { DetectorKind } from '../../detect/detector-kind.js';
import { EmotionClassifier } from '../../emotion/classifier.js';
import { readOnnxMetadata } from '../../emotion/onnx-metadata.js';
import type { FaceEnhancer } from '../../enhance/face-enhancer.js';
import { DEFAULT_ENHANCE_BELOW, DEFAULT_UPSCALE_BELOW } from '../../enhance/policy.js';
import { EmotionPipeline, type PipelineOptions } from '../../pipeline/pipeline.js';
import { describeBody, fetchAsset, looksLikeHtml, type FetchLike } from './fetch-asset.js';
import { loadWebCnnDetector } from './load-detector.js';
import { loadWebEnhancerModels, type WebEnhancerUrls } from './load-enhancer.js';
import { loadWebLandmarkStages, type WebLandmarkStages, type WebLandmarkUrls } from './load-landmarks.js';
import {
  configureOrtWasm,
  OnnxWebBackend,
  type OrtWasmSettings,
  type OrtWebModule,
} from './onnx-web-backend.js';

/** The files ONNX Runtime Web (`onnxruntime-web/wasm`) loads from `wasmPaths`, and what kind of file each must be. */
export const ORT_WASM_FILES = [
  { name: 'ort-wasm-simd-threaded.wasm', kind: 'WebAssembly module' },
  { name: 'ort-wasm-simd-threaded.mjs', kind: 'JavaScript module' },
] as const;

/**
 * The super-resolution stage as `moodlens analyze --enhance auto` runs it: FSRNet (the model and its
 * specialists) for faces under `enhanceBelow`, a bicubic enlargement for the others under `upscaleBelow`.
 */
export interface WebEnhanceOptions extends WebEnhancerUrls {
  /**
   * Box side in pixels under which FSRNet restores a face; Infinity: every face (the CLI's `--enhance
   * always`). Default {@link DEFAULT_ENHANCE_BELOW}, the CLI's.
   */
  readonly enhanceBelow?: number;
  /**
   * Box side in pixels under which a face FSRNet does not restore is enlarged bicubically; 0: never.
   * Default {@link DEFAULT_UPSCALE_BELOW}, the CLI's. It holds when the models fail to load too.
   */
  readonly upscaleBelow?: number;
}

export interface WebPipelineOptions {
  /** The onnxruntime-web module, as the page imports it (its `onnxruntime-web/wasm` entry). */
  readonly ort: OrtWebModule;
  /** Absolute URL of the emotion model (.onnx with MoodLens metadata). */
  readonly modelUrl: string;
  /**
   * The face detector: `haar`, OpenCV's cascade (`cascadeUrl`), or `cnn`, the learned detector
   * (`detectorModelUrl`; boxes mapped onto the cascade's framing, each with its score). Default `haar`:
   * pages pass their own choice (the app: `DEFAULT_DETECTOR`, src/detect/detector-kind.ts).
   */
  readonly detector?: DetectorKind;
  /** Absolute URL of the OpenCV Haar cascade XML; required with `detector: 'haar'`, unused with `cnn`. */
  readonly cascadeUrl?: string;
  /** Absolute URL of the learned detector's model (.onnx with MoodLens metadata); required with `cnn`. */
  readonly detectorModelUrl?: string;
  /** `cnn` only: keep faces scoring at least this, 0-1. Default: the model's `moodlens.score_threshold`. */
  readonly minScore?: number;
  /** `cnn` only: run the model's pass for faces filling the frame (default false: `loadWebCnnDetector`). */
  readonly coarsePass?: boolean;
  /** Where ONNX Runtime's wasm files are served, and its threads. */
  readonly wasm: OrtWasmSettings;
  /** Detection and crop options of the pipeline (default: OpenCV's detection defaults). */
  readonly pipeline?: PipelineOptions;
  /** Faces per inference call (default 32). */
  readonly batchSize?: number;
  /** Injectable `fetch` (default: the global one). */
  readonly fetch?: FetchLike;
  /**
   * The landmark model and alignment template: each face is then aligned by its 68 points before it is
   * classified, as the CLI does (default: none, box crops).
   */
  readonly landmarks?: WebLandmarkUrls;
  /**
   * Called when the landmark stage cannot load (with its coded error): the pipeline then classifies box
   * crops, unaligned, and the page says so. Without it, a landmark stage that fails to load is fatal.
   */
  readonly onLandmarksUnavailable?: (error: unknown) => void;
  /**
   * The super-resolution stage: small faces are restored by FSRNet before they are classified, as the CLI
   * does (default: none; each face then takes the plain path). Its thresholds replace `pipeline`'s.
   */
  readonly enhance?: WebEnhanceOptions;
  /**
   * Called when the super-resolution models cannot load (with the coded error naming the file): the
   * pipeline then runs without FSRNet, faces under `upscaleBelow` still enlarged bicubically (as the CLI
   * does when the model is not installed), and the page says so. Without it, such a failure is fatal.
   */
  readonly onEnhancerUnavailable?: (error: unknown) => void;
}

/**
 * Loads the whole detect-and-classify pipeline in a browser (page or worker): the face detector (the
 * cascade, or the learned detector with `detector: 'cnn'`) and the model fetched from URLs, the model run by onnxruntime-web from locally served wasm files; with `landmarks`,
 * the landmark model and template too, so faces are aligned before they are classified (as in the CLI);
 * with `enhance`, the super-resolution models too, so small faces are restored first (as in the CLI).
 * @throws MoodLensError `MOODLENS_ERR_MODEL_LOAD` naming the file that failed and what arrived instead
 *   (an HTML 404 page where the model, cascade, detector model or a wasm file should be, another model
 *   where the detector model should be...), `MOODLENS_ERR_INVALID_CASCADE` for an XML file that is not a
 *   cascade.
 * @throws TypeError when the chosen detector's URL is missing or the detector is unknown; RangeError for a
 *   `minScore` outside 0-1.
 */
export async function loadWebPipeline(options: WebPipelineOptions): Promise<EmotionPipeline> {
  const { ort, modelUrl, wasm, fetch: fetchImpl } = options;
  const kind = options.detector ?? 'haar';
  const detectorUrl = kind === 'cnn' ? options.detectorModelUrl : options.cascadeUrl;
  if (kind !== 'haar' && kind !== 'cnn') {
    throw new TypeError(`Expected 'haar' or 'cnn' for detector but received ${String(kind)}`);
  }
  if (typeof detectorUrl !== 'string' || detectorUrl === '') {
    throw new TypeError(
      `Expected a URL for ${kind === 'cnn' ? 'detectorModelUrl (detector: cnn)' : 'cascadeUrl (detector: haar)'} ` +
        `but received ${String(detectorUrl)}`,
    );
  }
  const { minScore, coarsePass } = options;
  if (kind === 'haar' && minScore !== undefined) {
    throw new TypeError('minScore applies to the cnn detector only: the Haar cascade gives no scores');
  }
  if (kind === 'haar' && coarsePass !== undefined) {
    throw new TypeError('coarsePass applies to the cnn detector only: the Haar cascade has no passes');
  }
  if (minScore !== undefined && !(minScore >= 0 && minScore <= 1)) {
    throw new RangeError(`Expected a number from 0 to 1 for minScore but received ${String(minScore)}`);
  }
  configureOrtWasm(ort, wasm);
  const [cascadeBytes, modelBytes] = await Promise.all([
    kind === 'haar' ? fetchAsset(detectorUrl, 'face cascade', fetchImpl) : undefined,
    fetchAsset(modelUrl, 'emotion model', fetchImpl),
  ]);
  let haar: HaarFaceDetector | undefined;
  if (cascadeBytes !== undefined) {
    if (looksLikeHtml(cascadeBytes)) {
      throw new MoodLensError(
        'MOODLENS_ERR_MODEL_LOAD',
        `Cannot load the face cascade ${detectorUrl}: the server sent an HTML page ` +
          `(${cascadeBytes.length} bytes) instead of the cascade XML`,
      );
    }
    haar = HaarFaceDetector.fromXml(new TextDecoder().decode(cascadeBytes), detectorUrl);
  }
  readOnnxMetadata(modelBytes, modelUrl); // bytes that are no model are named here, before the runtime
  let backend: OnnxWebBackend;
  try {
    backend = await OnnxWebBackend.fromBytes(ort, modelBytes, modelUrl);
  } catch (error) {
    // The model's bytes were checked above, so a failure here is usually ONNX Runtime not starting:
    // name the wasm file that is missing or wrong rather than quoting the runtime's message alone.
    const wasmProblem = await diagnoseOrtWasmFiles(wasm.wasmPaths, fetchImpl);
    if (wasmProblem !== undefined) {
      throw new MoodLensError('MOODLENS_ERR_MODEL_LOAD', `ONNX Runtime cannot start: ${wasmProblem}`, {
        cause: error,
      });
    }
    throw error;
  }
  let cnn: CnnBoxDetector | undefined;
  let stages: WebLandmarkStages | undefined;
  let enhancer: FaceEnhancer | undefined;
  try {
    // After the emotion model, as the optional stages: ONNX Runtime has started, so a failure here is
    // about the detector's own file.
    if (kind === 'cnn') {
      cnn = await loadWebCnnDetector(
        ort,
        {
          modelUrl: detectorUrl,
          ...(minScore === undefined ? {} : { minScore }),
          ...(coarsePass === undefined ? {} : { coarsePass }),
        },
        fetchImpl,
      );
    }
    const detector = cnn ?? haar;
    if (detector === undefined) throw new Error('unreachable: no face detector was loaded');
    const classifier = await EmotionClassifier.create({
      backend,
      metadata: backend.model.metadata,
      source: modelUrl,
      batchSize: options.batchSize,
    });
    // Both optional stages load after the emotion model: ONNX Runtime has started by then, so a failure
    // there is about their own files.
    const { landmarks, enhance } = options;
    stages = await optionalStage(
      landmarks && (() => loadWebLandmarkStages(ort, landmarks, fetchImpl)),
      options.onLandmarksUnavailable,
    );
    enhancer = await optionalStage(
      enhance && (() => loadWebEnhancerModels(ort, enhance, fetchImpl)),
      options.onEnhancerUnavailable,
    );
    return new EmotionPipeline(detector, classifier, {
      ...options.pipeline,
      ...stages,
      ...(enhance === undefined ? {} : enhanceStage(enhance, enhancer)),
    });
  } catch (error) {
    await backend.dispose();
    await cnn?.close();
    await stages?.landmarks.dispose();
    await enhancer?.dispose();
    throw error;
  }
}

/** The pipeline options of the enhance stage: the enhancer when it loaded, and the thresholds either way. */
function enhanceStage(
  enhance: WebEnhanceOptions,
  enhancer: FaceEnhancer | undefined,
): Pick<PipelineOptions, 'enhancer' | 'enhanceBelow' | 'upscaleBelow'> {
  return {
    ...(enhancer === undefined ? {} : { enhancer }),
    enhanceBelow: enhance.enhanceBelow ?? DEFAULT_ENHANCE_BELOW,
    upscaleBelow: enhance.upscaleBelow ?? DEFAULT_UPSCALE_BELOW,
  };
}

/**
 * A stage the page can run without: undefined when not asked for (`load` undefined); its load error goes to
 * `onUnavailable` when there is one (the stage is then skipped), else it is thrown.
 */
async function optionalStage<T>(
  load: (() => Promise<T>) | undefined,
  onUnavailable: ((error: unknown) => void) | undefined,
): Promise<T | undefined> {
  if (load === undefined) return undefined;
  try {
    return await load();
  } catch (error) {
    if (onUnavailable === undefined) throw error;
    onUnavailable(error);
    return undefined;
  }
}

/**
 * Checks ONNX Runtime's wasm files at `wasmPaths`: undefined when each answers 200 with the right kind
 * of file, else what is wrong with the first that does not (its URL, the status, what arrived).
 */
export async function diagnoseOrtWasmFiles(
  wasmPaths: string,
  fetchImpl: FetchLike = fetch,
): Promise<string | undefined> {
  for (const { name, kind } of ORT_WASM_FILES) {
    const url = new URL(name, wasmPaths).href;
    let response: Response;
    let bytes: Uint8Array;
    try {
      response = await fetchImpl(url);
      bytes = new Uint8Array(await response.arrayBuffer());
    } catch (cause) {
      return `its ${kind} ${url} cannot be downloaded (${cause instanceof Error ? cause.message : String(cause)})`;
    }
    if (!response.ok) {
      return `its ${kind} ${url} answered HTTP ${response.status} with ${describeBody(bytes, response)}`;
    }
    const isWasm = bytes[0] === 0x00 && bytes[1] === 0x61 && bytes[2] === 0x73 && bytes[3] === 0x6d;
    if (name.endsWith('.wasm') ? !isWasm : looksLikeHtml(bytes) || isWasm) {
      return `its ${kind} ${url} is ${describeBody(bytes, response)}, not the ${kind}`;
    }
  }
  return undefined;
}
