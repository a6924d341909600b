/**
 * The one inference interface of the core: the emotion classifier and the landmark detector run their
 * models through it and never import an inference engine themselves. Node provides it with onnxruntime-node
 * (`src/io/node/onnx-backend.ts`); the web app with onnxruntime-web. A backend owns one loaded model.
 */
export interface InferenceBackend {
  /**
   * Runs the model on `batch` inputs packed in `input` (float32, NCHW, `batch * 1 * size * size` values)
   * and resolves to its raw outputs, row-major: `batch * classes` logits for the emotion model,
   * `batch * 68 * 2` crop coordinates for the landmark model.
   */
  run(input: Float32Array, batch: number): Promise<Float32Array>;
  /** Frees the model; the backend cannot run afterwards. Calling it again does nothing. */
  dispose(): Promise<void>;
}
