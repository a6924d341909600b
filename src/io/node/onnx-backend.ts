import { readFile, stat } from 'node:fs/promises';
import { MoodLensError } from '../../core/errors.js';
import {
  DEFAULT_ORT_SIGNATURE,
  firstLine,
  OnnxRuntimeBackend,
  type OrtSignature,
} from '../../emotion/onnx-runtime-backend.js';

/** Options of {@link OnnxNodeBackend}; each documented with its default. */
export interface OnnxNodeBackendOptions extends OrtSignature {
  /**
   * Threads ONNX Runtime uses inside one inference (default 1: on small models and few cores one thread
   * per session was fastest; run several sessions or workers to use more cores).
   */
  readonly intraOpNumThreads?: number;
}

export const DEFAULT_ONNX_NODE_BACKEND_OPTIONS: Readonly<Required<OnnxNodeBackendOptions>> = {
  intraOpNumThreads: 1,
  ...DEFAULT_ORT_SIGNATURE,
};

/**
 * The Node {@link InferenceBackend}: one ONNX Runtime (onnxruntime-node, CPU) session on one model, loaded
 * once (see {@link OnnxRuntimeBackend}). onnxruntime-node itself is imported only when a backend is
 * created, so the rest of the package loads without it.
 */
export class OnnxNodeBackend extends OnnxRuntimeBackend {
  /**
   * Loads an ONNX model file.
   * @throws MoodLensError `MOODLENS_ERR_MODEL_LOAD` naming the path and what was found there instead: no
   *   file, a directory, or bytes that are not an ONNX model (an HTML page, a Git LFS pointer...), or
   *   ONNX Runtime's own reason when it refuses the model.
   */
  static async load(path: string, options: OnnxNodeBackendOptions = {}): Promise<OnnxNodeBackend> {
    return OnnxNodeBackend.fromBytes(await readModelFile(path), path, options);
  }

  /** Creates a backend from a model's bytes; `source` names it in messages. */
  static async fromBytes(
    bytes: Uint8Array,
    source: string,
    options: OnnxNodeBackendOptions = {},
  ): Promise<OnnxNodeBackend> {
    const intraOpNumThreads =
      options.intraOpNumThreads ?? DEFAULT_ONNX_NODE_BACKEND_OPTIONS.intraOpNumThreads;
    if (!Number.isInteger(intraOpNumThreads) || intraOpNumThreads < 1) {
      throw new RangeError(
        `Expected a positive integer for intraOpNumThreads but received ${String(intraOpNumThreads)}`,
      );
    }
    const opened = await OnnxRuntimeBackend.openSession(
      () => import('onnxruntime-node'),
      bytes,
      source,
      { intraOpNumThreads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' },
      options,
    );
    return new OnnxNodeBackend(
      opened.session,
      source,
      opened.model,
      opened.inputName,
      opened.outputName,
      opened.sampleShape,
      opened.ort,
    );
  }
}

/** Reads a model file, turning every failure into MOODLENS_ERR_MODEL_LOAD naming the path and the reason. */
export async function readModelFile(path: string): Promise<Uint8Array> {
  const info = await stat(path).catch((cause: unknown) => {
    const code = (cause as NodeJS.ErrnoException).code;
    const what = code === 'ENOENT' ? 'no such file' : `cannot be read (${code ?? firstLine(cause)})`;
    throw new MoodLensError('MOODLENS_ERR_MODEL_LOAD', `Model not found: ${path}: ${what}`, { cause });
  });
  if (!info.isFile()) {
    throw new MoodLensError('MOODLENS_ERR_MODEL_LOAD', `Model path is not a file: ${path} is a directory`);
  }
  try {
    return new Uint8Array(await readFile(path));
  } catch (cause) {
    throw new MoodLensError('MOODLENS_ERR_MODEL_LOAD', `Cannot read the model ${path}: ${firstLine(cause)}`, {
      cause,
    });
  }
}
