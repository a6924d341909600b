import { MoodLensError } from '../core/errors.js';
import type { InferenceBackend } from './backend.js';
import { readOnnxMetadata, type OnnxModelInfo } from './onnx-metadata.js';

/**
 * What MoodLens uses of an ONNX Runtime JavaScript package: onnxruntime-node and onnxruntime-web both
 * satisfy it (they share onnxruntime-common's API), so one backend serves both. Written structurally so
 * the core imports neither package.
 */
export interface OrtModule {
  readonly InferenceSession: {
    create(model: Uint8Array, options?: OrtSessionOptions): Promise<OrtSession>;
  };
  readonly Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => unknown;
}

/** The session options MoodLens sets (a subset of onnxruntime-common's `InferenceSession.SessionOptions`). */
export interface OrtSessionOptions {
  readonly executionProviders?: readonly ('cpu' | 'wasm')[];
  readonly intraOpNumThreads?: number;
  readonly interOpNumThreads?: number;
  readonly executionMode?: 'sequential' | 'parallel';
  readonly graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
}

export type OrtValueMetadata =
  | { readonly name: string; readonly isTensor: false }
  | {
      readonly name: string;
      readonly isTensor: true;
      readonly type: string;
      readonly shape: ReadonlyArray<number | string>;
    };

export interface OrtSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputMetadata: readonly OrtValueMetadata[];
  run(feeds: Record<string, never>): Promise<Record<string, OrtOutput>>;
  release(): Promise<void>;
}

export interface OrtOutput {
  readonly data: unknown;
  readonly type: string;
  readonly dims: readonly number[];
}

/** Names of the model's input and output that `run` feeds and reads. */
export interface OrtSignature {
  /** Name of the model input fed by `run` (default `input`). */
  readonly inputName?: string;
  /** Name of the model output `run` returns (default `logits`). */
  readonly outputName?: string;
}

export const DEFAULT_ORT_SIGNATURE: Readonly<Required<OrtSignature>> = {
  inputName: 'input',
  outputName: 'logits',
};

/**
 * An {@link InferenceBackend} over one ONNX Runtime session on one model, loaded once, whichever ONNX
 * Runtime package provides it (`OnnxNodeBackend` in Node, `OnnxWebBackend` in the browser). The model's
 * `metadata_props`, which ONNX Runtime's JavaScript API does not expose, are read from the same bytes
 * ({@link OnnxRuntimeBackend.model}).
 */
export class OnnxRuntimeBackend implements InferenceBackend {
  private session: OrtSession | undefined;

  protected constructor(
    session: OrtSession,
    /** Where the model came from (a path or URL), for messages. */
    readonly source: string,
    /** The model's IR/opset versions and metadata. */
    readonly model: OnnxModelInfo,
    private readonly inputName: string,
    private readonly outputName: string,
    /** The input shape after the batch dimension, e.g. `[1, 48, 48]`. */
    readonly sampleShape: readonly number[],
    private readonly ort: OrtModule,
  ) {
    this.session = session;
  }

  /**
   * Checks the bytes are an ONNX model (a coded error naming `source` and what arrived otherwise), then
   * loads ONNX Runtime (`loadOrt`, called only for bytes that may be a model), creates the session and
   * checks its signature.
   * @throws MoodLensError `MOODLENS_ERR_MODEL_LOAD` for foreign bytes, a model ONNX Runtime refuses, or
   *   one without the named float32 input and output.
   */
  protected static async openSession(
    loadOrt: () => Promise<OrtModule>,
    bytes: Uint8Array,
    source: string,
    sessionOptions: OrtSessionOptions,
    signature: OrtSignature,
  ): Promise<{
    ort: OrtModule;
    session: OrtSession;
    model: OnnxModelInfo;
    inputName: string;
    outputName: string;
    sampleShape: number[];
  }> {
    const { inputName, outputName } = { ...DEFAULT_ORT_SIGNATURE, ...stripUndefined(signature) };
    const model = readOnnxMetadata(bytes, source); // coded error for anything that is not ONNX
    const ort = await loadOrt();
    const session = await createOrtSession(ort, bytes, sessionOptions, `the model ${source}`);
    try {
      const sampleShape = checkSignature(session, source, inputName, outputName);
      return { ort, session, model, inputName, outputName, sampleShape };
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
    const results = await session.run({ [this.inputName]: tensor as never });
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

/** Checks the model has the named float32 input and output; returns the input's shape after the batch. */
function checkSignature(
  session: OrtSession,
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

/**
 * One ONNX Runtime session for the model bytes; `what` names the model in the error ("the model x.onnx").
 * @throws MoodLensError `MOODLENS_ERR_MODEL_LOAD` when ONNX Runtime refuses the bytes.
 */
export async function createOrtSession(
  ort: OrtModule,
  bytes: Uint8Array,
  sessionOptions: OrtSessionOptions,
  what: string,
): Promise<OrtSession> {
  try {
    return await ort.InferenceSession.create(bytes, sessionOptions);
  } catch (cause) {
    throw new MoodLensError(
      'MOODLENS_ERR_MODEL_LOAD',
      `ONNX Runtime cannot load ${what}: ${firstLine(cause)}`,
      { cause },
    );
  }
}

/** The first line of an error's message (ONNX Runtime's messages can run to many lines). */
export function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n')[0];
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
