/**
 * Where the page finds the files the build ships beside it (LOCAL_ASSETS in web/vite.config.mjs: keep
 * the two lists in step), as absolute URLs: the worker's own location is its script's, so the page
 * resolves them against its address before handing them over.
 */
import type { WebEnhancerUrls } from '../../src/io/web/index.js';

export interface AssetUrls {
  readonly modelUrl: string;
  readonly cascadeUrl: string;
  /** The learned face detector (`?detector=cnn`). */
  readonly detectorModelUrl: string;
  readonly landmarkModelUrl: string;
  readonly templateUrl: string;
  /** FSRNet: the model trained on x2-x4 and the x2 and x4 specialists it routes faces to. */
  readonly enhancer: Required<WebEnhancerUrls>;
  /** ONNX Runtime's folder of .mjs and .wasm files. */
  readonly wasmPaths: string;
}

/** The app's files relative to the page at `base` (`document.baseURI`). */
export function assetUrls(base: string): AssetUrls {
  const url = (path: string): string => new URL(path, base).href;
  return {
    modelUrl: url('models/emotion.onnx'),
    cascadeUrl: url('models/haarcascade_frontalface_default.xml'),
    detectorModelUrl: url('models/face-detector.onnx'),
    landmarkModelUrl: url('models/landmarks.onnx'),
    templateUrl: url('models/template48.json'),
    enhancer: {
      modelUrl: url('models/fsrnet.onnx'),
      specialistUrls: [url('models/fsrnet-x2.onnx'), url('models/fsrnet-x4.onnx')],
    },
    wasmPaths: url('ort/'),
  };
}
