/**
 * MoodLens for Node: the browser-safe core plus the Node adapters (image decoding with sharp, cascade
 * files, the worker-thread detector). Browser code imports `moodlens/core` instead.
 */
export * from './core.js';
export { DEFAULT_CASCADE_PATH, loadFaceDetector, readCascadeFile } from './io/node/cascade-file.js';
export { ParallelFaceDetector } from './io/node/parallel-detector.js';
export type { ParallelDetectorOptions } from './io/node/parallel-detector.js';
export { decodeImage, DEFAULT_MAX_PIXELS, readImage } from './io/node/read-image.js';
export type { DecodeOptions } from './io/node/read-image.js';
