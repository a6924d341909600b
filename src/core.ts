/**
 * MoodLens's browser-safe core: pixel maths, the cascade engine and the types. Nothing here imports a
 * Node-only module, so bundlers can take it for the web app (`moodlens/core`).
 */
export { createImage } from './core/image.js';
export type { Box, Channels, GrayImage, Image, RgbImage, RgbaImage } from './core/image.js';
export { ERROR_CATALOGUE, isMoodLensError, MoodLensError } from './core/errors.js';
export type { ErrorCode } from './core/errors.js';
export { toGray } from './image/gray.js';
export { resizeGrayLinearExact } from './image/resize.js';
export { parseCascadeXml } from './detect/cascade.js';
export type { Cascade, HaarCascade, LbpCascade } from './detect/cascade.js';
export { HaarFaceDetector } from './detect/detector.js';
export { DEFAULT_DETECT_OPTIONS, resolveDetectOptions } from './detect/options.js';
export type { DetectOptions } from './detect/options.js';
export { balanceLevels, levelsFor, scanLevels } from './detect/scan.js';
export type { ScaleLevel } from './detect/scales.js';
