/**
 * A whole video (a job that is not a chunk) through `analyzeVideo`, the very function behind
 * `moodlens video`, into a temporary folder: the job returns the frames.csv and report.json it wrote,
 * so the queue's results are that command's files whatever it computes (persons, summaries...).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageVersion } from '../cli/main.js';
import type { FfmpegBinary } from '../io/node/ffmpeg/locate.js';
import type { VideoInfo } from '../io/node/ffmpeg/probe.js';
import { analyzeVideo } from '../io/node/video-analysis.js';
import type { EmotionPipeline } from '../pipeline/pipeline.js';
import type { ModelQuality, SessionReport } from '../report/report.js';

/** What a whole-video job returns (stored in Redis): moodlens video's files, as text and JSON. */
export interface WholeVideoResult {
  readonly kind: 'video-whole';
  readonly file: string;
  readonly framesCsv: string;
  readonly report: SessionReport;
  readonly frames: number;
  readonly complete: boolean;
  readonly reason?: string;
}

export interface WholeVideoOptions {
  readonly ffmpeg: FfmpegBinary;
  readonly info: VideoInfo;
  readonly pipeline: EmotionPipeline;
  readonly detectEvery: number;
  readonly smoothingAlpha: number;
  readonly model?: ModelQuality;
  readonly onProgress?: (done: number) => void;
}

export async function analyzeWholeVideo(options: WholeVideoOptions): Promise<WholeVideoResult> {
  const dir = await mkdtemp(join(tmpdir(), 'moodlens-job-'));
  try {
    const expected = options.info.expectedFrames;
    const result = await analyzeVideo({
      ffmpeg: options.ffmpeg,
      info: options.info,
      pipeline: options.pipeline,
      outDir: dir,
      detectEvery: options.detectEvery,
      smoothingAlpha: options.smoothingAlpha,
      writeVideo: false,
      stills: {},
      ...(options.model === undefined ? {} : { model: options.model }),
      generator: `moodlens ${packageVersion()}`,
      onFrame: (frame) => {
        if (expected !== undefined && frame.index % 10 === 0) {
          options.onProgress?.(Math.min(1, (frame.index + 1) / expected));
        }
      },
    });
    const { outcome } = result;
    return {
      kind: 'video-whole',
      file: options.info.file,
      framesCsv: await readFile(join(dir, 'frames.csv'), 'utf8'),
      report: JSON.parse(await readFile(join(dir, 'report.json'), 'utf8')) as SessionReport,
      frames: outcome.frames,
      complete: outcome.complete,
      ...(outcome.reason === undefined ? {} : { reason: outcome.reason }),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
