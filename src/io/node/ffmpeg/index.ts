/** ffmpeg for video files: find the binary, probe a file, stream decoded frames, encode a video. */
export { locateFfmpeg, packagedFfmpegPath } from './locate.js';
export type { FfmpegBinary, FfmpegSource, LocateFfmpegOptions } from './locate.js';
export { checkInputFile, parseFfmpegInfo, probeVideo } from './probe.js';
export type { VideoInfo } from './probe.js';
export { decodeArgs, noFramesError, VideoFrameReader } from './decode.js';
export type { DecodedFrame, DecodeOptions, DecodeOutcome } from './decode.js';
export { DEFAULT_ENCODER_CRF, DEFAULT_ENCODER_PRESET, encodeArgs, VideoEncoder } from './encode.js';
export type { VideoEncoderOptions } from './encode.js';
