/**
 * The one inference interface of the core: the emotion classifier runs its model through it and never
 * imports an inference engine itself. Node provides it with onnxruntime-node
 * (`src/io/node/onnx-backend.ts`); the web app with onnxruntime-web. A backend owns one loaded model.
 */
export interface InferenceBackend {
  /**
   * Runs the model on `batch` inputs packed in `input` (float32, NCHW, `batch * 1 * size * size` values)
   * and resolves to its raw outputs, `batch * classes` float32 logits, row-major.
   */
  run(input: Float32Array, batch: number): Promise<Float32Array>;
  /** Frees the model; the backend cannot run afterwards. Calling it again does nothing. */
  dispose(): Promise<void>;
}
