import { readFile, stat } from 'node:fs/promises';
import type { InferenceSession } from 'onnxruntime-node';
import { MoodLensError } from '../../core/errors.js';
import type { InferenceBackend } from '../../emotion/backend.js';
import { readOnnxMetadata, type OnnxModelInfo } from '../../emotion/onnx-metadata.js';

/** Options of {@link OnnxNodeBackend}; each documented with its default. */
export interface OnnxNodeBackendOptions {
  /**
   * Threads ONNX Runtime uses inside one inference (default 1: on small models and few cores one thread
   * per session was fastest; run several sessions or workers to use more cores).
   */
  readonly intraOpNumThreads?: number;
  /** Name of the model input fed by `run` (default `input`). */
  readonly inputName?: string;
  /** Name of the model output `run` returns (default `logits`). */
  readonly outputName?: string;
}

export const DEFAULT_ONNX_NODE_BACKEND_OPTIONS: Readonly<Required<OnnxNodeBackendOptions>> = {
  intraOpNumThreads: 1,
  inputName: 'input',
  outputName: 'logits',
};

/**
 * The Node {@link InferenceBackend}: one ONNX Runtime (onnxruntime-node, CPU) session on one model, loaded
 * once. The model file is read once; its `metadata_props`, which ONNX Runtime's JavaScript API does not
 * expose, are read from the same bytes ({@link OnnxNodeBackend.model}). onnxruntime-node itself is
 * imported only when a backend is created, so the rest of the package loads without it.
 */
export class OnnxNodeBackend implements InferenceBackend {
  private session: InferenceSession | undefined;

  private constructor(
    session: InferenceSession,
    /** Where the model came from (a path), for messages. */
    readonly source: string,
    /** The model's IR/opset versions and metadata. */
    readonly model: OnnxModelInfo,
    private readonly inputName: string,
    private readonly outputName: string,
    /** The input shape after the batch dimension, e.g. `[1, 48, 48]`. */
    readonly sampleShape: readonly number[],
    private readonly ort: typeof import('onnxruntime-node'),
  ) {
    this.session = session;
  }

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
    const { intraOpNumThreads, inputName, outputName } = { ...DEFAULT_ONNX_NODE_BACKEND_OPTIONS, ...options };
    if (!Number.isInteger(intraOpNumThreads) || intraOpNumThreads < 1) {
      throw new RangeError(
        `Expected a positive integer for intraOpNumThreads but received ${String(intraOpNumThreads)}`,
      );
    }
    const model = readOnnxMetadata(bytes, source); // coded error for anything that is not ONNX
    const ort = await import('onnxruntime-node');
    let session: InferenceSession;
    try {
      session = await ort.InferenceSession.create(bytes, {
        intraOpNumThreads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
      });
    } catch (cause) {
      throw new MoodLensError(
        'MOODLENS_ERR_MODEL_LOAD',
        `ONNX Runtime cannot load the model ${source}: ${firstLine(cause)}`,
        { cause },
      );
    }
    try {
      const sampleShape = checkSignature(session, source, inputName, outputName);
      return new OnnxNodeBackend(session, source, model, inputName, outputName, sampleShape, ort);
    } catch (error) {
      await session.release();
      throw error;
    }
  }

  async run(input: Float32Array, batch: number): Promise<Float32Array> {
    const session = this.session;
    if (session === undefined) throw new Error(`The ONNX backend for ${this.source} has been disposed`);
    if (!Number.isInteger(batch) || batch < 1) {
      throw new RangeError(`Expected a positive integer for batch but received ${String(batch)}`);
    }
    const sample = this.sampleShape.reduce((a, b) => a * b, 1);
    if (input.length !== batch * sample) {
      throw new RangeError(
        `Expected ${batch * sample} values for a batch of ${batch} [${this.sampleShape.join(', ')}] inputs ` +
          `but received ${input.length}`,
      );
    }
    const tensor = new this.ort.Tensor('float32', input, [batch, ...this.sampleShape]);
    const results = await session.run({ [this.inputName]: tensor });
    const output = results[this.outputName];
    if (!(output.data instanceof Float32Array) || output.data.length % batch !== 0) {
      throw new MoodLensError(
        'MOODLENS_ERR_MODEL_LOAD',
        `The model ${this.source} returned ${output.type} [${output.dims.join(', ')}] for '${this.outputName}' ` +
          `from a batch of ${batch}; expected float32 [${batch}, ...]`,
      );
    }
    return output.data;
  }

  async dispose(): Promise<void> {
    const session = this.session;
    this.session = undefined;
    if (session !== undefined) await session.release();
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

/** Checks the model has the named float32 input and output; returns the input's shape after the batch. */
function checkSignature(
  session: InferenceSession,
  source: string,
  inputName: string,
  outputName: string,
): number[] {
  const input = session.inputMetadata.find((m) => m.name === inputName);
  if (input === undefined || !session.outputNames.includes(outputName)) {
    throw new MoodLensError(
      'MOODLENS_ERR_MODEL_LOAD',
      `The model ${source} has inputs [${session.inputNames.join(', ')}] and outputs ` +
        `[${session.outputNames.join(', ')}]; expected an input '${inputName}' and an output '${outputName}'`,
    );
  }
  const shape = input.isTensor ? input.shape.slice(1) : [];
  if (!input.isTensor || input.type !== 'float32' || !shape.every((d) => typeof d === 'number' && d > 0)) {
    const type = input.isTensor ? `${input.type} [${input.shape.join(', ')}]` : 'not a tensor';
    throw new MoodLensError(
      'MOODLENS_ERR_MODEL_LOAD',
      `The model ${source} input '${inputName}' is ${type}; expected float32 [N, ...fixed sizes]`,
    );
  }
  return shape as number[];
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n')[0];
}
