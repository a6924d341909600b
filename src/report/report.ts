/**
 * The session report's data (what report.json holds and report.html shows): the summary, each person's
 * timeline, the model's measured quality and where the records came from. Browser-safe: the caller
 * passes the model's figures in (read from its model card by the Node side, or bundled by the web app).
 */
import { EMOTION_LABELS, type Emotion } from '../emotion/labels.js';
import type { FrameRecord } from './records.js';
import {
  summarizeSession,
  trackTimelines,
  type SessionSummary,
  type SummaryOptions,
  type TimelineBin,
} from './summary.js';

/** The heading of the screening-aid notice that every report page and the live page open with. */
export const SCREENING_NOTICE_TITLE = 'A screening aid, not a diagnosis.';

/** The notice's text after its heading: what the figures are, who reads them, what they cannot say. */
export const SCREENING_NOTICE_BODY =
  'This page describes facial expressions as an automatic model recognises them, frame by frame. It is ' +
  'meant to support a qualified professional, who interprets it together with everything else they know ' +
  'about the person. It cannot diagnose any condition, and an expression is not the same as a feeling: ' +
  'lighting, head pose, glasses, speech and culture all change what the model sees.';

/** Per-class figures of the emotion model on its test set. */
export interface ClassQuality {
  readonly precision: number;
  readonly recall: number;
  readonly f1: number;
  readonly n: number;
}

/** The emotion model's measured quality, from its model card (models/emotion/emotion.json). */
export interface ModelQuality {
  /** How the model is named on the page (e.g. `emotion.onnx (dense mini-Xception)`). */
  readonly name: string;
  /** Test set (e.g. `FER-2013 PublicTest`). */
  readonly testSet: string;
  /** Faces in the test set. */
  readonly n: number;
  /** Accuracy on it, 0-1. */
  readonly accuracy: number;
  readonly perClass: Readonly<Record<Emotion, ClassQuality>>;
}

export interface ReportSource {
  /** The video or records file (shown as given). */
  readonly file?: string;
  /** ISO date of the analysis. */
  readonly generatedAt?: string;
  /** Set when the video could not be read to the end: why, in one sentence. */
  readonly partial?: string;
  /** Frame size and rate of the video, when known. */
  readonly width?: number;
  readonly height?: number;
  readonly fps?: number;
  /** Detector runs on every Nth frame; smoothing weight of the newest frame. */
  readonly detectEvery?: number;
  readonly smoothingAlpha?: number;
  /** Producing tool and version, e.g. `moodlens 0.1.0`. */
  readonly generator?: string;
}

export interface SessionReport {
  readonly summary: SessionSummary;
  /** Per track id (as a string key, for JSON) of each non-brief track: the binned timeline of smoothed scores. */
  readonly timelines: Readonly<Record<string, readonly TimelineBin[]>>;
  /** Absent when the model has no card (a custom model): the page then says so. */
  readonly model?: ModelQuality;
  readonly source: ReportSource;
  /** Per person id (string key): their clearest face, a small PNG `data:` URL (when the video was at hand). */
  readonly thumbnails?: Readonly<Record<string, string>>;
}

export interface BuildReportOptions extends SummaryOptions {
  readonly model?: ModelQuality;
  readonly source?: ReportSource;
  /** Bins per timeline (default 400). */
  readonly timelineBins?: number;
  /** Per person id: their thumbnail as a `data:` URL. */
  readonly thumbnails?: ReadonlyMap<number, string>;
}

/** The summary plus timelines, ready for JSON or `renderReportHtml`. */
export function buildReport(records: Iterable<FrameRecord>, options: BuildReportOptions = {}): SessionReport {
  const summary = summarizeSession(records, options);
  // Plots are drawn for the people only, not for brief tracks (often false detections).
  const people = summary.tracks.filter((t) => !t.brief).map((t) => t.track);
  const timelines: Record<string, TimelineBin[]> = {};
  for (const [track, bins] of trackTimelines(records, people, options.timelineBins ?? 400)) {
    timelines[String(track)] = bins;
  }
  const thumbnails: Record<string, string> = {};
  for (const track of summary.tracks) {
    const url = options.thumbnails?.get(track.track);
    if (url !== undefined) thumbnails[String(track.track)] = url;
  }
  return {
    summary,
    timelines,
    ...(options.model === undefined ? {} : { model: options.model }),
    source: options.source ?? {},
    ...(Object.keys(thumbnails).length === 0 ? {} : { thumbnails }),
  };
}

/** The model's weakest classes by recall (the share of each emotion it recognises), worst first. */
export function weakestClasses(
  model: ModelQuality,
  count = 3,
): { label: Emotion; recall: number; f1: number }[] {
  return EMOTION_LABELS.map((label) => ({
    label,
    recall: model.perClass[label].recall,
    f1: model.perClass[label].f1,
  }))
    .sort((a, b) => a.recall - b.recall || a.f1 - b.f1)
    .slice(0, count);
}

/**
 * Reads a model card's JSON (the shape of models/emotion/emotion.json: `publicTest.{n, accuracy}` and
 * `perClass`) into a ModelQuality, or undefined when it lacks those figures.
 */
export function modelQualityFromCard(card: unknown, name: string): ModelQuality | undefined {
  if (card === null || typeof card !== 'object') return undefined;
  const { publicTest, perClass } = card as { publicTest?: unknown; perClass?: unknown };
  if (
    publicTest === null ||
    typeof publicTest !== 'object' ||
    perClass === null ||
    typeof perClass !== 'object'
  ) {
    return undefined;
  }
  const { n, accuracy } = publicTest as { n?: unknown; accuracy?: unknown };
  if (typeof n !== 'number' || typeof accuracy !== 'number') return undefined;
  const classes = {} as Record<Emotion, ClassQuality>;
  for (const label of EMOTION_LABELS) {
    const entry = (perClass as Record<string, unknown>)[label] as Partial<ClassQuality> | undefined;
    if (
      entry === undefined ||
      typeof entry.precision !== 'number' ||
      typeof entry.recall !== 'number' ||
      typeof entry.f1 !== 'number' ||
      typeof entry.n !== 'number'
    ) {
      return undefined;
    }
    classes[label] = { precision: entry.precision, recall: entry.recall, f1: entry.f1, n: entry.n };
  }
  return { name, testSet: 'FER-2013 PublicTest', n, accuracy, perClass: classes };
}
