import { basename, extname, join } from 'node:path';
import { MoodLensError } from '../core/errors.js';
import { EMOTION_LABELS } from '../emotion/labels.js';
import {
  ENHANCE_HELP,
  ENHANCE_NUMERIC_OPTIONS,
  ENHANCE_OPTIONS,
  parseEnhanceFlags,
  type EnhanceFlags,
} from './enhance-flags.js';
import { locateFfmpeg } from '../io/node/ffmpeg/locate.js';
import { probeVideo } from '../io/node/ffmpeg/probe.js';
import { checkOutputDirectory } from '../io/node/output-path.js';
import { loadModelQuality } from '../io/node/model-card.js';
import { analyzeVideo, type StillsChoice } from '../io/node/video-analysis.js';
import { openPipeline } from './pipeline-stages.js';
import { formatClock, formatSeconds } from '../report/html.js';
import type { SessionSummary } from '../report/summary.js';
import { DEFAULT_SMOOTHING_ALPHA } from '../video/smoothing.js';
import { APP_DETECT_OPTIONS } from '../detect/options.js';
import {
  DETECTOR_HELP,
  DETECTOR_NUMERIC_OPTIONS,
  DETECTOR_OPTIONS,
  parseDetectorFlags,
  type DetectorFlags,
} from './detector-flags.js';
import {
  EXIT_FAILURE,
  EXIT_OK,
  packageVersion,
  parseCommandArgs,
  parseNumberOption,
  usageError,
  type CliCommand,
  type CliIo,
} from './main.js';
import { Progress } from './progress.js';

/**
 * Detection runs on every 3rd frame by default. On the panning and zooming astronaut clip the boxes kept
 * between detections match a fresh (Haar) detection on every frame with a mean IoU of 0.955 (5th percentile
 * 0.886, never below 0.858) and the person keeps one id, while detect + track + classify runs at 89 fps
 * on 2 cores with the learned detector (59 with Haar), against 32 fps detecting on every frame
 * (`npm run bench -- --only video`). From every 4th
 * frame on, a face that reappears after a cut waits longer to be found, and at every 5th the gap can
 * exceed the tracker's 15 missed frames, splitting the person into two ids.
 */
export const DEFAULT_DETECT_EVERY = 3;
export const DEFAULT_STILLS_EVERY_SECONDS = 10;
export const DEFAULT_VIDEO_OUT_ROOT = 'out';

const HELP = `Usage: moodlens video <file> [options]

Follows every face through a video: detects faces (OpenCV's Haar cascade, or the
learned detector with --detector cnn, run on the gray frames), keeps one id per person across frames, classifies the emotion of each face in every
frame (FER-2013 classes: ${EMOTION_LABELS.join(', ')}),
smooths it over time and writes, in the output folder:
  frames.csv     one row per face per frame (and one row with an empty track for a
                 frame without a face): frame,time,track,x,y,width,height,label,
                 confidence,angry,disgust,fear,happy,sad,surprise,neutral,person
                 (label and scores smoothed; times in seconds; person: one number per
                 human, kept when they leave and return; empty for a candidate face
                 never confirmed as a person, which the report leaves out)
  labelled.mp4   the video with each person's box, number and emotion drawn (H.264)
  report.html    the per-person screening summary with timelines and each person's
                 clearest face, persons by time on screen (report.json: the same)
  stills/        labelled PNGs of chosen frames (frame_000123.png)
Any container ffmpeg reads: mp4, webm, mkv, avi, mov, animated GIF...
A screening aid for a professional, never a diagnosis.

Options:
  --out DIR           Output folder (default ${DEFAULT_VIDEO_OUT_ROOT}/<video name>/)
  --every N           Run the face detector on every Nth frame, integer >= 1
                      (default ${DEFAULT_DETECT_EVERY}); faces keep their last box in between and
                      are still classified on every frame
  --smoothing A       Weight of the newest frame in each face's moving average of
                      scores, above 0 and at most 1 (default ${DEFAULT_SMOOTHING_ALPHA}; 1 = no smoothing)
  --stills LIST       Labelled stills of these frame indices, e.g. 0,50,100
  --stills-every S    A labelled still every S seconds of video, > 0
                      (default ${DEFAULT_STILLS_EVERY_SECONDS}, unless --stills is given)
  --no-stills         No stills
  --no-video          Do not write labelled.mp4 (faster)
  --no-align          Classify the plain box crop (default: each face is turned upright by its 68
                      landmarks when the landmark model is installed, as in analyze)
  --json              Print {"file", "video", "records": [...], "complete", "persons", "summary"}
                      on stdout: records as in frames.csv (with each record's "person" as
                      known when it streamed; "persons" maps those ids to the final ones of
                      frames.csv and the report) plus "raw" (unsmoothed scores)
                      "enhanced" (true when FSRNet restored the face; see --enhance) and
                      "restoration" ("fsrnet", "bicubic" or "none"; see --upscale-below) and,
                      with --detector cnn, "score" (the detector's, on frames where the face
                      was detected)
  --ffmpeg PATH       ffmpeg binary (default: FFMPEG_PATH, then the one installed
                      with MoodLens by npm, then ffmpeg on the PATH)
  --model FILE        Emotion model (ONNX with MoodLens metadata), or a shipped one by name:
                      default (fast) or accurate (models/emotion/emotion-ensemble.onnx:
                      2 points better on FER-2013, about 35x slower; see its model card)
${ENHANCE_HELP}
${DETECTOR_HELP}
                      (video, haar: --min-neighbors defaults to ${APP_DETECT_OPTIONS.minNeighbors}, measured for people
                      in video; see docs/people-tracking.md)
  -h, --help          Show this help

Speed (640x480, 2 cores): about 48 fps for everything with the defaults, 26 fps with
--every 1 (Haar: 44 and 18). Detection is the costly stage: --every 5, or --min-size 64
(faces under 64 px are then missed; Haar's scan gets 3x faster, the learned detector
skips its second pass for small faces), make it faster.

Progress with an ETA goes to stderr. A damaged or truncated video gives a partial
result: every frame that could be decoded is written, the report says so, and the
exit code is 1.
Exit codes: 0 done, 1 the video (or model, or ffmpeg) failed or was partial, 2 usage error.

Examples:
  moodlens video examples/astronaut-pan.mp4
  moodlens video --every 1 --stills 0,60,120 --out session1/ interview.webm
  moodlens video --json clip.mkv > records.json
`;

const OPTIONS = {
  json: { type: 'boolean' },
  out: { type: 'string' },
  every: { type: 'string' },
  smoothing: { type: 'string' },
  stills: { type: 'string' },
  'stills-every': { type: 'string' },
  'no-stills': { type: 'boolean' },
  'no-video': { type: 'boolean' },
  'no-align': { type: 'boolean' },
  ffmpeg: { type: 'string' },
  model: { type: 'string' },
  ...ENHANCE_OPTIONS,
  ...DETECTOR_OPTIONS,
} as const;

export interface VideoArgs extends DetectorFlags, EnhanceFlags {
  readonly input: string;
  readonly json: boolean;
  readonly outDir: string;
  readonly detectEvery: number;
  readonly smoothingAlpha: number;
  readonly stills: StillsChoice;
  readonly writeVideo: boolean;
  /** Turn each face upright by its landmarks before classifying (when the landmark model is installed). */
  readonly align: boolean;
  readonly ffmpeg: string | undefined;
  readonly model: string | undefined;
}

/** Parses `moodlens video` arguments; throws a usage error (exit 2) naming the flag at fault. */
export function parseVideoArgs(args: readonly string[]): VideoArgs {
  const { values, positionals } = parseCommandArgs(args, OPTIONS, [
    ...DETECTOR_NUMERIC_OPTIONS,
    ...ENHANCE_NUMERIC_OPTIONS,
    'every',
    'smoothing',
    'stills-every',
  ]);
  if (positionals.length === 0) throw usageError('No input video given');
  if (positionals.length > 1) {
    throw usageError(`Expected one video but received ${positionals.length}: ${positionals.join(' ')}`);
  }
  const input = positionals[0];
  for (const flag of ['out', 'model', 'ffmpeg'] as const) {
    if (values[flag] === '') throw usageError(`Expected a path for --${flag} but received an empty string`);
  }
  let detectEvery = DEFAULT_DETECT_EVERY;
  if (values.every !== undefined) {
    detectEvery = parseNumberOption('--every', values.every, 'integer');
    if (detectEvery < 1)
      throw usageError(`Expected an integer >= 1 for --every but received ${values.every}`);
  }
  let smoothingAlpha = DEFAULT_SMOOTHING_ALPHA;
  if (values.smoothing !== undefined) {
    smoothingAlpha = parseNumberOption('--smoothing', values.smoothing);
    if (!(smoothingAlpha > 0 && smoothingAlpha <= 1)) {
      throw usageError(
        `Expected a number above 0 and at most 1 for --smoothing but received ${values.smoothing}`,
      );
    }
  }
  const noStills = values['no-stills'] === true;
  if (noStills && (values.stills !== undefined || values['stills-every'] !== undefined)) {
    throw usageError('--no-stills cannot be combined with --stills or --stills-every');
  }
  let frames: number[] | undefined;
  if (values.stills !== undefined) {
    frames = values.stills.split(',').map((part) => {
      const value = parseNumberOption('--stills', part.trim(), 'integer');
      if (value < 0) throw usageError(`Expected frame indices >= 0 for --stills but received ${part.trim()}`);
      return value;
    });
  }
  let everySeconds: number | undefined =
    noStills || frames !== undefined ? undefined : DEFAULT_STILLS_EVERY_SECONDS;
  if (values['stills-every'] !== undefined) {
    everySeconds = parseNumberOption('--stills-every', values['stills-every']);
    if (!(everySeconds > 0)) {
      throw usageError(
        `Expected a number of seconds > 0 for --stills-every but received ${values['stills-every']}`,
      );
    }
  }
  const stem = basename(input, extname(input)) || 'video';
  return {
    input,
    json: values.json === true,
    outDir: values.out ?? join(DEFAULT_VIDEO_OUT_ROOT, stem),
    detectEvery,
    smoothingAlpha,
    stills: {
      ...(frames === undefined ? {} : { frames }),
      ...(everySeconds === undefined ? {} : { everySeconds }),
    },
    writeVideo: values['no-video'] !== true,
    align: values['no-align'] !== true,
    ffmpeg: values.ffmpeg,
    model: values.model,
    ...parseEnhanceFlags(values),
    ...videoDetectorFlags(values),
  };
}

/**
 * The detector flags of `video`: as every command's, but the neighbours default to APP_DETECT_OPTIONS'
 * (4, measured for people in video: fewer false faces becoming persons) unless --min-neighbors is given.
 */
function videoDetectorFlags(values: Parameters<typeof parseDetectorFlags>[0]): DetectorFlags {
  const flags = parseDetectorFlags(values);
  if (values['min-neighbors'] !== undefined) return flags;
  return {
    ...flags,
    detectOptions: { ...flags.detectOptions, minNeighbors: APP_DETECT_OPTIONS.minNeighbors },
  };
}

function pct(value: number): string {
  return `${Math.round(value * 100)}%`;
}

/** The human-readable summary printed without --json. */
export function describeSummary(summary: SessionSummary): string {
  // Persons by time on screen, longest first, as the report lists them.
  const people = summary.tracks
    .filter((t) => !t.brief)
    .sort((a, b) => b.seconds - a.seconds || a.track - b.track);
  const brief = summary.tracks.length - people.length;
  const lines = people.map(
    (t) =>
      `  person ${t.track}: seen ${formatSeconds(t.seconds)} (${formatClock(t.firstSeen)}-${formatClock(t.lastSeen)}), ` +
      `mostly ${t.dominant} (${pct(t.timeShare[t.dominant])}), negative ${pct(t.negativeShare)}, ` +
      `longest negative ${formatSeconds(t.longestNegativeSeconds)}, ${t.changes} changes ` +
      `(${t.changesPerMinute.toFixed(1)}/min)\n`,
  );
  if (people.length === 0) lines.push('  no face seen long enough to summarise\n');
  if (brief > 0)
    lines.push(
      `  (${brief} person${brief === 1 ? '' : 's'} seen under ${summary.minTrackSeconds} s: not enough frames to summarise)\n`,
    );
  return lines.join('');
}

/** `moodlens video`: probe, then decode, analyse, label, encode and report in one streaming pass. */
export async function runVideo(args: readonly string[], io: CliIo): Promise<number> {
  const parsed = parseVideoArgs(args);
  const ffmpeg = await locateFfmpeg(parsed.ffmpeg === undefined ? {} : { path: parsed.ffmpeg });
  const info = await probeVideo(ffmpeg, parsed.input);
  if (parsed.maxPixels !== undefined && info.width * info.height > parsed.maxPixels) {
    throw new MoodLensError(
      'MOODLENS_ERR_TOO_MANY_PIXELS',
      `Video frames too large: ${parsed.input} is ${info.width}x${info.height} = ${info.width * info.height} ` +
        `pixels per frame, over --max-pixels ${parsed.maxPixels}`,
    );
  }
  await checkOutputDirectory(parsed.outDir);
  // Alignment as in analyze: on by default when the shipped landmark model is installed.
  const { pipeline, close } = await openPipeline(parsed, 'moodlens video', io);
  try {
    const model = await loadModelQuality(parsed.model);
    const expected = info.expectedFrames;
    io.stderr(
      `moodlens video: ${parsed.input}: ${info.width}x${info.height}, ${+info.fps.toFixed(3)} fps, ` +
        `${expected === undefined ? 'length unknown' : `${expected} frames (${formatSeconds(info.duration ?? 0)})`}` +
        ` -> ${parsed.outDir}\n`,
    );
    const progress =
      expected === undefined
        ? undefined
        : new Progress({ total: expected, write: io.stderr, isTTY: io.isTTY, label: 'video' });
    let first = true;
    // The JSON document streams out record by record; its head is printed with the first frame, so a
    // video that yields no frame prints nothing on stdout.
    const head = `${JSON.stringify({ file: parsed.input, video: videoJson(info, parsed) }).slice(0, -1)},"records":[\n`;
    let lastLine = performance.now();
    const result = await analyzeVideo({
      ffmpeg,
      info,
      pipeline,
      outDir: parsed.outDir,
      detectEvery: parsed.detectEvery,
      smoothingAlpha: parsed.smoothingAlpha,
      writeVideo: parsed.writeVideo,
      stills: parsed.stills,
      model,
      generator: `moodlens ${packageVersion()}`,
      onFrame: (frame, analysis) => {
        if (parsed.json) {
          if (frame.index === 0) io.stdout(head);
          for (const record of analysis.records) {
            io.stdout(`${first ? '' : ',\n'}${JSON.stringify(record)}`);
            first = false;
          }
        }
        if (progress !== undefined) progress.update(Math.min(frame.index + 1, progress.total));
        else if (performance.now() - lastLine > 10_000) {
          io.stderr(`video ${frame.index + 1} frames\n`);
          lastLine = performance.now();
        }
      },
    });
    progress?.finish();
    const { outcome, report, outputs, timings } = result;
    if (parsed.json) {
      io.stdout(
        `\n],"complete":${outcome.complete},"frames":${outcome.frames}` +
          `${outcome.reason === undefined ? '' : `,"reason":${JSON.stringify(outcome.reason)}`}` +
          `,"outputs":${JSON.stringify(outputs)},"persons":${JSON.stringify(Object.fromEntries(result.personMap))}` +
          `,"summary":${JSON.stringify(report.summary)}}\n`,
      );
    } else {
      io.stdout(
        `${parsed.input}: ${outcome.frames} frames, ${report.summary.tracks.filter((t) => !t.brief).length} ` +
          `person(s), ${report.summary.framesWithFaces} frames with a face\n${describeSummary(report.summary)}` +
          [outputs.framesCsv, outputs.labelledVideo, outputs.reportHtml]
            .filter((p) => p !== undefined)
            .map((p) => `  -> ${p}\n`)
            .join('') +
          (outputs.stills.length > 0
            ? `  -> ${outputs.stills.length} still(s) in ${join(parsed.outDir, 'stills')}\n`
            : ''),
      );
    }
    const seconds = timings.totalMs / 1000;
    io.stderr(
      `moodlens video: ${outcome.frames} frames in ${seconds.toFixed(1)} s ` +
        `(${(outcome.frames / Math.max(seconds, 1e-9)).toFixed(1)} fps)\n`,
    );
    if (!outcome.complete) {
      const error = new MoodLensError(
        'MOODLENS_ERR_CORRUPT_VIDEO',
        `Partial result for ${parsed.input}: ${outcome.reason ?? 'the video could not be read to the end'}`,
      );
      io.stderr(`moodlens video: ${error.message} (${error.code})\n  ${error.hint}\n`);
      return EXIT_FAILURE;
    }
    return EXIT_OK;
  } finally {
    await close();
  }
}

function videoJson(info: Awaited<ReturnType<typeof probeVideo>>, parsed: VideoArgs): Record<string, unknown> {
  return {
    format: info.format,
    codec: info.codec,
    width: info.width,
    height: info.height,
    fps: info.fps,
    duration: info.duration ?? null,
    expectedFrames: info.expectedFrames ?? null,
    detectEvery: parsed.detectEvery,
    smoothingAlpha: parsed.smoothingAlpha,
  };
}

export const videoCommand: CliCommand = {
  name: 'video',
  help: HELP,
  run: runVideo,
};
