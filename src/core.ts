/**
 * MoodLens's browser-safe core: pixel maths, the cascade engine, the emotion preprocessing, ONNX metadata
 * reader, the classifier, landmark and face super-resolution stages (which run their models through an
 * injected `InferenceBackend`), and the types.
 * Nothing here imports a Node-only module, so bundlers can take it for the web app (`moodlens/core`).
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
export { DEFAULT_DETECTOR, DETECTOR_KINDS, isDetectorKind } from './detect/detector-kind.js';
export type { DetectorKind } from './detect/detector-kind.js';
export { CnnFaceDetector, resolveCnnDetectOptions } from './detect/cnn/detector.js';
export type { CnnDetectOptions, CnnFaceDetectorOptions } from './detect/cnn/detector.js';
export { boxScore, CnnBoxDetector } from './detect/cnn/box-detector.js';
export type { ScoredBox } from './detect/cnn/box-detector.js';
export { CNN_DETECTOR_SIGNATURE, OrtDetectorBackend } from './detect/cnn/backend.js';
export type { CnnDetectorBackend } from './detect/cnn/backend.js';
export {
  CNN_DETECTOR_FORMAT,
  CNN_DETECTOR_KEYPOINTS,
  parseCnnDetectorMetadata,
} from './detect/cnn/model-info.js';
export type {
  CnnDetectorCoarsePass,
  CnnDetectorFinePass,
  CnnDetectorModelInfo,
} from './detect/cnn/model-info.js';
export type { Corners, DetectedFace as CnnDetection } from './detect/cnn/decode.js';
export { averagePrecision, evaluateDetections } from './detect/cnn/evaluation.js';
export type { DetectionFigures, EvaluatedImage } from './detect/cnn/evaluation.js';
export type { ScaleLevel } from './detect/scales.js';
export { EMOTION_LABELS, emotionIndex, isEmotion } from './emotion/labels.js';
export type { Emotion } from './emotion/labels.js';
export { describeForeignBytes, readOnnxMetadata } from './emotion/onnx-metadata.js';
export type { OnnxModelInfo } from './emotion/onnx-metadata.js';
export {
  cropFace,
  DEFAULT_CROP_FACE_OPTIONS,
  equalizeHist,
  faceCropSquare,
  PIXEL_SCALINGS,
  scalingTable,
  toInputTensor,
} from './emotion/preprocess.js';
export type { CropFaceOptions, FaceResample, PixelScaling } from './emotion/preprocess.js';
export type { InferenceBackend } from './emotion/backend.js';
export {
  DEFAULT_EMOTION_BATCH_SIZE,
  EmotionClassifier,
  parseEmotionModelMetadata,
  softmax,
  SUPPORTED_PREPROCESSING,
} from './emotion/classifier.js';
export type { EmotionClassifierOptions, EmotionModelInfo, EmotionResult } from './emotion/classifier.js';
export { addPrediction, confusionMatrix, emptyConfusion, metricsFromConfusion } from './emotion/metrics.js';
export type { ClassificationMetrics, ClassMetrics } from './emotion/metrics.js';
export { EmotionPipeline } from './pipeline/pipeline.js';
export type {
  AnalyzedFace,
  DetectedFace,
  FaceDetector,
  FaceWithEmotion,
  PipelineOptions,
} from './pipeline/pipeline.js';
export {
  centroid,
  checkLandmarks,
  interocularDistance,
  LANDMARK,
  LANDMARK_COUNT,
  LANDMARK_PARTS,
  partIndices,
} from './landmarks/points.js';
export type { LandmarkPart, Point } from './landmarks/points.js';
export { parseLandmarkModelMetadata, SUPPORTED_LANDMARK_PREPROCESSING } from './landmarks/model-info.js';
export type { LandmarkModelInfo } from './landmarks/model-info.js';
export { fromCropUnits, landmarkCrop, landmarkCropSquare } from './landmarks/crop.js';
export type { LandmarkCropGeometry } from './landmarks/crop.js';
export {
  assessLandmarks,
  DEFAULT_RELIABILITY_THRESHOLDS,
  measureLandmarks,
} from './landmarks/reliability.js';
export type {
  LandmarkMeasures,
  LandmarkReliability,
  ReliabilityThresholds,
} from './landmarks/reliability.js';
export { DEFAULT_LANDMARK_BATCH_SIZE, LandmarkDetector } from './landmarks/detector.js';
export type { FaceLandmarks, LandmarkDetectorOptions } from './landmarks/detector.js';
export {
  applySimilarity,
  composeSimilarity,
  estimateSimilarity,
  similarityAngle,
  similarityScale,
  similarityToAffine,
} from './align/similarity.js';
export type { Similarity } from './align/similarity.js';
export { parseAlignmentTemplate, scaleTemplate } from './align/template.js';
export type { AlignmentTemplate } from './align/template.js';
export { ALIGNMENT_POINTS, DEFAULT_MAX_RESIDUAL, FaceAligner } from './align/aligner.js';
export type { AlignedFace, Alignment, FaceAlignerOptions } from './align/aligner.js';
export { affineScale, applyAffine, invertAffine, warpAffineGray } from './image/warp.js';
export { resizeGrayNearest } from './image/resize.js';
export { grayFromValues, pixelHalfUp } from './image/rounding.js';
export {
  blockMean,
  degrade,
  degradeSigma,
  degradeToSize,
  gaussianBlur,
  gaussianTaps,
} from './enhance/degrade.js';
export { bicubicResize, bicubicResizeGray, CUBIC_A, cubicWeights } from './enhance/bicubic.js';
export { psnr, QualityTally, ssim, SSIM_SIGMA, SSIM_WINDOW } from './enhance/quality.js';
export { parseEnhanceModelMetadata, SUPPORTED_ENHANCE_PREPROCESSING } from './enhance/model-info.js';
export type { EnhanceModelInfo } from './enhance/model-info.js';
export { DEFAULT_ENHANCE_BATCH_SIZE, FaceEnhancer, outputPixel } from './enhance/face-enhancer.js';
export type { FaceEnhancerOptions } from './enhance/face-enhancer.js';
export {
  DEFAULT_ENHANCE_BELOW,
  DEFAULT_UPSCALE_BELOW,
  ENHANCE_MODES,
  enhanceThreshold,
  faceSide,
  restorationFor,
  shouldEnhance,
  upscaleThreshold,
} from './enhance/policy.js';
export type { EnhanceMode } from './enhance/policy.js';
export { enhancedClassifierInput, nativeFaceCrop, restoredToImage } from './enhance/enhanced-face.js';
export type { EnhancedClassifierInput } from './enhance/enhanced-face.js';
export { restoreFaces, RESTORE_METHODS } from './enhance/restore.js';
export type { RestoreMethod } from './enhance/restore.js';
export { sideBySide } from './draw/side-by-side.js';
export type { Panel, SideBySideOptions } from './draw/side-by-side.js';
export type { Affine, WarpOptions } from './image/warp.js';
export { DEFAULT_SEARCH_ANGLES, RotatedSearchDetector, rotateImage } from './detect/rotated-search.js';
export type { RotatedHit, UprightFaceDetector } from './detect/rotated-search.js';
export {
  annotateFaces,
  annotationSizes,
  DEFAULT_ANNOTATE_OPTIONS,
  DEFAULT_FACE_COLOR,
  EMOTION_COLORS,
} from './draw/annotate.js';
export type { AnnotateOptions, FaceAnnotation } from './draw/annotate.js';
export { drawText, fillCircle, fillRect, strokeRect, toRgb } from './draw/canvas.js';
export { measureText } from './draw/font.js';
export { boxIou, DEFAULT_TRACKER_OPTIONS, FaceTracker } from './video/tracker.js';
export type { FaceTrackerOptions, Track } from './video/tracker.js';
export { DEFAULT_SMOOTHING_ALPHA, ScoreSmoother } from './video/smoothing.js';
export { DEFAULT_FRAME_ANALYZER_OPTIONS, FrameAnalyzer, toFrameRecord } from './video/frame-analyzer.js';
export type {
  FrameAnalysis,
  FrameAnalyzerOptions,
  FrameAnalyzerStats,
  TrackedFaceResult,
} from './video/frame-analyzer.js';
export {
  CSV_SCORE_DECIMALS,
  CSV_TIME_DECIMALS,
  emptyFrameRecord,
  FRAME_CSV_COLUMNS,
  FRAME_CSV_HEADER,
  formatFrameCsvRow,
  formatFramesCsv,
  isFaceRecord,
  parseFrames,
  parseFramesCsv,
  parseFramesJson,
  recordScores,
} from './report/records.js';
export type { FrameRecord } from './report/records.js';
export {
  DEFAULT_MIN_TRACK_SECONDS,
  frameTimeline,
  MAX_FRAME_INTERVALS,
  NEGATIVE_EMOTIONS,
  summarizeSession,
  trackTimeline,
  trackTimelines,
} from './report/summary.js';
export type { SessionSummary, SummaryOptions, TimelineBin, TrackSummary } from './report/summary.js';
export { buildReport, modelQualityFromCard, weakestClasses } from './report/report.js';
export type {
  BuildReportOptions,
  ClassQuality,
  ModelQuality,
  ReportSource,
  SessionReport,
} from './report/report.js';
export { formatClock, formatSeconds, renderReportHtml, timelineSvg } from './report/html.js';
export { FrameRecordStore } from './report/record-store.js';
