import { MoodLensError } from '../../core/errors.js';
import {
  createOrtSession,
  type OrtModule,
  type OrtSession,
  type OrtSessionOptions,
} from '../../emotion/onnx-runtime-backend.js';
import type { CnnDetectorOutputs } from './decode.js';

/**
 * How the learned face detector runs its model. The emotion and landmark stages share `InferenceBackend`
 * (src/emotion/backend.ts), whose models take fixed-size inputs and give one output; the detector takes
 * any input size and gives three outputs, so it has this sibling interface, served by
 * {@link OrtDetectorBackend} over the same structural ONNX Runtime API (`OrtModule`: onnxruntime-node in
 * Node, onnxruntime-web in the browser). A backend owns one loaded model.
 */
export interface CnnDetectorBackend {
  /**
   * Runs the model on one image: `input` holds `3 * height * width` floats (NCHW, RGB 0-255); resolves to
   * the decoded scores, boxes and keypoints of every anchor point, in input pixels.
   */
  run(input: Float32Array, height: number, width: number): Promise<CnnDetectorOutputs>;
  /** Frees the model; calling it again does nothing. */
  dispose(): Promise<void>;
}

/** The graph's input and output names (training/moodlens_train/detector/export.py). */
export const CNN_DETECTOR_SIGNATURE = {
  input: 'input',
  scores: 'scores',
  boxes: 'boxes',
  kps: 'kps',
} as const;

/** A {@link CnnDetectorBackend} over one ONNX Runtime session, whichever ONNX Runtime package provides it. */
export class OrtDetectorBackend implements CnnDetectorBackend {
  private session: OrtSession | undefined;

  private constructor(
    session: OrtSession,
    private readonly ort: OrtModule,
    /** Where the model came from (a path or URL), for messages. */
    readonly source: string,
  ) {
    this.session = session;
  }

  /**
   * Creates the session (`loadOrt` gives the ONNX Runtime package) and checks the graph has the
   * detector's float32 `input` and its `scores`, `boxes` and `kps` outputs. Check the bytes are a detector
   * model first (`readOnnxMetadata`, `parseCnnDetectorMetadata`): a foreign file is then named as such.
   * @throws MoodLensError `MOODLENS_ERR_MODEL_LOAD` for a model ONNX Runtime refuses or another signature.
   */
  static async open(
    loadOrt: () => Promise<OrtModule>,
    bytes: Uint8Array,
    source: string,
    sessionOptions: OrtSessionOptions,
  ): Promise<OrtDetectorBackend> {
    const ort = await loadOrt();
    const session = await createOrtSession(ort, bytes, sessionOptions, `the face detector ${source}`);
    const { input, scores, boxes, kps } = CNN_DETECTOR_SIGNATURE;
    const meta = session.inputMetadata.find((m) => m.name === input);
    const outputsOk = [scores, boxes, kps].every((name) => session.outputNames.includes(name));
    if (meta === undefined || !meta.isTensor || meta.type !== 'float32' || !outputsOk) {
      await session.release();
      throw new MoodLensError(
        'MOODLENS_ERR_MODEL_LOAD',
        `The face detector ${source} has inputs [${session.inputNames.join(', ')}] and outputs ` +
          `[${session.outputNames.join(', ')}]; expected a float32 input '${input}' and outputs ` +
          `'${scores}', '${boxes}', '${kps}'`,
      );
    }
    return new OrtDetectorBackend(session, ort, source);
  }

  async run(input: Float32Array, height: number, width: number): Promise<CnnDetectorOutputs> {
    const session = this.session;
    if (session === undefined) throw new Error(`The face detector ${this.source} has been disposed`);
    if (input.length !== 3 * height * width) {
      throw new RangeError(
        `Expected ${3 * height * width} values for a 3x${height}x${width} input but received ${input.length}`,
      );
    }
    const tensor = new this.ort.Tensor('float32', input, [1, 3, height, width]);
    const results = await session.run({ [CNN_DETECTOR_SIGNATURE.input]: tensor as never });
    const read = (name: string, per: number): Float32Array => {
      const output = results[name];
      const data = output.data;
      if (!(data instanceof Float32Array) || output.dims[0] !== 1 || data.length % per !== 0) {
        throw new MoodLensError(
          'MOODLENS_ERR_MODEL_LOAD',
          `The face detector ${this.source} returned ${output.type} [${output.dims.join(', ')}] for ` +
            `'${name}'; expected float32 [1, A${per > 1 ? `, ${per}` : ''}]`,
        );
      }
      return data;
    };
    const out = {
      scores: read(CNN_DETECTOR_SIGNATURE.scores, 1),
      boxes: read(CNN_DETECTOR_SIGNATURE.boxes, 4),
      kps: read(CNN_DETECTOR_SIGNATURE.kps, 10),
    };
    const anchors = out.scores.length;
    if (out.boxes.length !== anchors * 4 || out.kps.length !== anchors * 10) {
      throw new MoodLensError(
        'MOODLENS_ERR_MODEL_LOAD',
        `The face detector ${this.source} returned ${anchors} scores, ${out.boxes.length / 4} boxes and ` +
          `${out.kps.length / 10} keypoint sets; expected the same number of each`,
      );
    }
    return out;
  }

  async dispose(): Promise<void> {
    const session = this.session;
    this.session = undefined;
    if (session !== undefined) await session.release();
  }
}
