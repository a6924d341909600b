/**
 * The per-frame record of a video or webcam session, and its two file forms: `frames.csv` (what
 * `moodlens video` writes) and JSON (`moodlens video --json`, the web app's `window.moodlensSession`).
 * One record per face per frame; a frame without a face still gets one record, with track, box, label
 * and scores null, so every decoded frame appears. Browser-safe and pure: text in, records out.
 */
import { MoodLensError } from '../core/errors.js';
import type { Box } from '../core/image.js';
import { EMOTION_LABELS, isEmotion, type Emotion } from '../emotion/labels.js';
import { RESTORE_METHODS, type RestoreMethod } from '../enhance/restore.js';

/** The columns of frames.csv, in order (the emotion columns in EMOTION_LABELS order). */
export const FRAME_CSV_COLUMNS = [
  'frame',
  'time',
  'track',
  'x',
  'y',
  'width',
  'height',
  'label',
  'confidence',
  'angry',
  'disgust',
  'fear',
  'happy',
  'sad',
  'surprise',
  'neutral',
] as const;

/**
 * Columns after FRAME_CSV_COLUMNS that frames.csv has since persons were told apart from tracks: `person`,
 * the person a face belongs to (empty on a row of a candidate face never confirmed as a person: a false
 * detection or a glimpse). Files without it still read: each track is then its own person.
 */
export const FRAME_CSV_EXTRA_COLUMNS = ['person'] as const;

/** Every column written to frames.csv, in order. */
export const FRAME_CSV_WRITTEN_COLUMNS = [...FRAME_CSV_COLUMNS, ...FRAME_CSV_EXTRA_COLUMNS] as const;

/** Decimals written to frames.csv: times in seconds (millisecond resolution) and probabilities. */
export const CSV_TIME_DECIMALS = 3;
export const CSV_SCORE_DECIMALS = 4;

/** One face in one frame (or, with everything from `track` on null, a frame without a face). */
export interface FrameRecord {
  /** Frame index in the video, from 0 (decoding order). */
  frame: number;
  /** Presentation time of the frame in seconds from the start. */
  time: number;
  /** The tracker's id of this unbroken stretch of one face (1, 2, ...); null for a frame without a face. */
  track: number | null;
  x: number | null;
  y: number | null;
  width: number | null;
  height: number | null;
  /** The largest smoothed score's emotion. */
  label: Emotion | null;
  /** The smoothed probability of `label`, 0-1. */
  confidence: number | null;
  /** Smoothed probability of each emotion (they sum to 1). */
  angry: number | null;
  disgust: number | null;
  fear: number | null;
  happy: number | null;
  sad: number | null;
  surprise: number | null;
  neutral: number | null;
  /**
   * The person (1, 2, ...): one id per human across tracks, the number drawn on labelled frames. null on a
   * face row: a candidate not (yet) confirmed as a person; it counts for its track's person when the
   * track is confirmed later, else never. Absent (records written before persons existed): the track's id.
   */
  person?: number | null;
  /** The classifier's unsmoothed probabilities for this frame (JSON only; not a CSV column). */
  raw?: Record<Emotion, number>;
  /**
   * Whether the face was restored by the super-resolution model before classification (JSON only; not a
   * CSV column). Absent when the enhance stage did not run (or in records written before it existed).
   */
  enhanced?: boolean;
  /** How the face reached the classifier's size: fsrnet, bicubic or none (JSON only; not a CSV column). */
  restoration?: RestoreMethod;
  /**
   * The learned detector's score (0-1) of the face's box, on a frame where it was detected (`--detector
   * cnn`; JSON only; not a CSV column). Absent with Haar and on frames between detections.
   */
  score?: number;
}

/** A record for a frame in which no face was seen. */
export function emptyFrameRecord(frame: number, time: number): FrameRecord {
  return {
    frame,
    time,
    track: null,
    x: null,
    y: null,
    width: null,
    height: null,
    label: null,
    confidence: null,
    angry: null,
    disgust: null,
    fear: null,
    happy: null,
    sad: null,
    surprise: null,
    neutral: null,
  };
}

/** What one face in one frame contributes to its record. */
export interface FaceRecordFields {
  readonly frame: number;
  readonly time: number;
  readonly track: number;
  /** The person, or null for a candidate not confirmed (see FrameRecord.person); absent: not known. */
  readonly person?: number | null;
  readonly box: Box;
  readonly label: Emotion;
  readonly confidence: number;
  /** The seven (smoothed) scores, the record's emotion columns. */
  readonly scores: Readonly<Record<Emotion, number>>;
  /** Unsmoothed scores, kept in `raw` (JSON only). */
  readonly raw?: Readonly<Record<Emotion, number>>;
  /** Whether the enhance stage restored the face, kept in `enhanced` (JSON only). */
  readonly enhanced?: boolean;
  /** How the face reached the classifier's size, kept in `restoration` (JSON only). */
  readonly restoration?: RestoreMethod;
  /** The learned detector's score on a detection frame, kept in `score` (JSON only). */
  readonly score?: number;
}

/** The record of one face in one frame: its box, label, confidence and the seven scores as columns. */
export function faceFrameRecord(face: FaceRecordFields): FrameRecord {
  const { box, scores } = face;
  const record: FrameRecord = {
    frame: face.frame,
    time: face.time,
    track: face.track,
    x: box.x,
    y: box.y,
    width: box.width,
    height: box.height,
    label: face.label,
    confidence: face.confidence,
    angry: scores.angry,
    disgust: scores.disgust,
    fear: scores.fear,
    happy: scores.happy,
    sad: scores.sad,
    surprise: scores.surprise,
    neutral: scores.neutral,
  };
  if (face.person !== undefined) record.person = face.person;
  if (face.raw !== undefined) record.raw = { ...face.raw };
  if (face.enhanced !== undefined) record.enhanced = face.enhanced;
  if (face.restoration !== undefined) record.restoration = face.restoration;
  if (face.score !== undefined) record.score = face.score;
  return record;
}

/** Whether the record is a face (a track with box, label and scores) rather than an empty frame. */
export function isFaceRecord(record: FrameRecord): record is FrameRecord & {
  track: number;
  x: number;
  y: number;
  width: number;
  height: number;
  label: Emotion;
  confidence: number;
} & Record<Emotion, number> {
  return record.track !== null;
}

/** The seven smoothed scores of a face record, or undefined for an empty frame. */
export function recordScores(record: FrameRecord): Record<Emotion, number> | undefined {
  if (record.track === null) return undefined;
  const out = {} as Record<Emotion, number>;
  for (const label of EMOTION_LABELS) out[label] = record[label] ?? 0;
  return out;
}

/**
 * The person a face record counts for, given each track's person (`personOfTrack`, from
 * {@link trackPersons}): its own `person`, its track's person for a candidate row of a track confirmed
 * later, the track id for records without persons, or undefined (an empty frame, or a candidate never
 * confirmed: it stays out of summaries and timelines).
 */
export function recordPerson(
  record: FrameRecord,
  personOfTrack: ReadonlyMap<number, number>,
): number | undefined {
  if (record.track === null) return undefined;
  if (record.person === undefined) return record.track;
  return record.person ?? personOfTrack.get(record.track);
}

/** Each track's person, from the records that name one (a track shows one person). */
export function trackPersons(records: Iterable<FrameRecord>): Map<number, number> {
  const out = new Map<number, number>();
  for (const record of records) {
    if (record.track !== null && typeof record.person === 'number') out.set(record.track, record.person);
  }
  return out;
}

function formatCell(column: (typeof FRAME_CSV_WRITTEN_COLUMNS)[number], record: FrameRecord): string {
  const value = record[column];
  if (value === null || value === undefined) return '';
  if (column === 'time') return (value as number).toFixed(CSV_TIME_DECIMALS);
  if (column === 'label') return value as string;
  if (column === 'confidence' || isEmotion(column)) return (value as number).toFixed(CSV_SCORE_DECIMALS);
  return String(value);
}

/** frames.csv text: the header, then one line per record (empty cells for nulls), each ending in `\n`. */
export function formatFramesCsv(records: Iterable<FrameRecord>): string {
  const lines = [FRAME_CSV_HEADER];
  for (const record of records) lines.push(formatFrameCsvRow(record));
  return `${lines.join('\n')}\n`;
}

/** One line of frames.csv (without the newline), for writers that stream rows. */
export function formatFrameCsvRow(record: FrameRecord): string {
  return FRAME_CSV_WRITTEN_COLUMNS.map((column) => formatCell(column, record)).join(',');
}

/** The header line of frames.csv (without the newline). */
export const FRAME_CSV_HEADER = FRAME_CSV_WRITTEN_COLUMNS.join(',');

function invalid(where: string, message: string): MoodLensError {
  return new MoodLensError('MOODLENS_ERR_INVALID_FRAMES', `${where}: ${message}`);
}

type NumberKind = 'integer' | 'number' | 'probability';

/** Checks one numeric field; `where` names the line or record, `field` the column. */
function checkNumber(value: unknown, where: string, field: string, kind: NumberKind, min = 0): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw invalid(where, `expected a number for ${field} but received ${describe(value)}`);
  }
  if (kind === 'integer' && !Number.isInteger(value)) {
    throw invalid(where, `expected an integer for ${field} but received ${value}`);
  }
  if (kind === 'probability' && !(value >= 0 && value <= 1)) {
    throw invalid(where, `expected a probability from 0 to 1 for ${field} but received ${value}`);
  }
  if (value < min) throw invalid(where, `expected ${field} >= ${min} but received ${value}`);
  return value;
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return `'${value.length > 40 ? `${value.slice(0, 40)}...` : value}'`;
  const json = JSON.stringify(value) as string | undefined;
  return json ?? typeof value;
}

/**
 * Builds a checked record from loose fields (numbers or nulls, as parsed from CSV cells or JSON).
 * A face needs every field from `track` to `neutral`; an empty frame needs all of them null.
 */
function checkRecord(fields: Record<string, unknown>, where: string, json: boolean = false): FrameRecord {
  const raw = json ? fields.raw : undefined;
  const person = fields.person;
  const enhanced = json ? fields.enhanced : undefined;
  const restoration = json ? fields.restoration : undefined;
  const score = json ? fields.score : undefined;
  const frame = checkNumber(fields.frame, where, 'frame', 'integer');
  const time = checkNumber(fields.time, where, 'time', 'number');
  const faceFields = FRAME_CSV_COLUMNS.slice(2);
  if (fields.track === null || fields.track === undefined) {
    const stray = faceFields.find((f) => fields[f] !== null && fields[f] !== undefined);
    if (stray !== undefined) {
      throw invalid(
        where,
        `${stray} is set but track is empty (a row without a face has only frame and time)`,
      );
    }
    if (raw !== undefined && raw !== null) throw invalid(where, 'raw is set but track is empty');
    if (person !== undefined && person !== null) throw invalid(where, 'person is set but track is empty');
    if (enhanced !== undefined && enhanced !== null)
      throw invalid(where, 'enhanced is set but track is empty');
    if (restoration !== undefined && restoration !== null)
      throw invalid(where, 'restoration is set but track is empty');
    if (score !== undefined && score !== null) throw invalid(where, 'score is set but track is empty');
    return emptyFrameRecord(frame, time);
  }
  const missing = faceFields.find((f) => fields[f] === null || fields[f] === undefined);
  if (missing !== undefined) throw invalid(where, `track is set but ${missing} is empty`);
  const label = fields.label;
  if (!isEmotion(label)) {
    throw invalid(
      where,
      `expected one of ${EMOTION_LABELS.join(', ')} for label but received ${describe(label)}`,
    );
  }
  // Checked in column order, so a row's first fault is the one reported.
  const track = checkNumber(fields.track, where, 'track', 'integer', 1);
  const box = {
    x: checkNumber(fields.x, where, 'x', 'integer', -Infinity),
    y: checkNumber(fields.y, where, 'y', 'integer', -Infinity),
    width: checkNumber(fields.width, where, 'width', 'integer', 1),
    height: checkNumber(fields.height, where, 'height', 'integer', 1),
  };
  const confidence = checkNumber(fields.confidence, where, 'confidence', 'probability');
  const scores = {} as Record<Emotion, number>;
  for (const emotion of EMOTION_LABELS) {
    scores[emotion] = checkNumber(fields[emotion], where, emotion, 'probability');
  }
  const record = faceFrameRecord({ frame, time, track, box, label, confidence, scores });
  if (person !== undefined) {
    record.person = person === null ? null : checkNumber(person, where, 'person', 'integer', 1);
  }
  if (raw !== undefined && raw !== null) {
    if (typeof raw !== 'object' || Array.isArray(raw)) {
      throw invalid(where, `expected an object of seven scores for raw but received ${describe(raw)}`);
    }
    const scores = {} as Record<Emotion, number>;
    for (const emotion of EMOTION_LABELS) {
      scores[emotion] = checkNumber(
        (raw as Record<string, unknown>)[emotion],
        where,
        `raw.${emotion}`,
        'probability',
      );
    }
    record.raw = scores;
  }
  if (enhanced !== undefined && enhanced !== null) {
    if (typeof enhanced !== 'boolean') {
      throw invalid(where, `expected true or false for enhanced but received ${describe(enhanced)}`);
    }
    record.enhanced = enhanced;
  }
  if (restoration !== undefined && restoration !== null) {
    if (!(RESTORE_METHODS as readonly unknown[]).includes(restoration)) {
      throw invalid(
        where,
        `expected one of ${RESTORE_METHODS.join(', ')} for restoration but received ${describe(restoration)}`,
      );
    }
    record.restoration = restoration as RestoreMethod;
  }
  if (score !== undefined && score !== null) {
    record.score = checkNumber(score, where, 'score', 'probability');
  }
  return record;
}

/** Splits one CSV line; cells may be wrapped in double quotes (as spreadsheets save them). */
function splitCsvLine(line: string): string[] {
  return line.split(',').map((cell) => {
    const trimmed = cell.trim();
    return trimmed.length >= 2 && trimmed.startsWith('"') && trimmed.endsWith('"')
      ? trimmed.slice(1, -1).trim()
      : trimmed;
  });
}

const NUMBER_CELL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * Reads frames.csv text: the header must list FRAME_CSV_COLUMNS in order (extra columns after them are
 * ignored, except `person`: see FRAME_CSV_EXTRA_COLUMNS); blank lines are skipped; `\r\n` line ends and a byte-order mark are accepted.
 * @throws MoodLensError `MOODLENS_ERR_INVALID_FRAMES` naming the line and column of the first fault.
 */
export function parseFramesCsv(text: string): FrameRecord[] {
  const lines = stripBom(text).split(/\r?\n/);
  const headerIndex = lines.findIndex((line) => line.trim() !== '');
  if (headerIndex < 0) throw invalid('frames CSV', 'the text is empty (expected a header line)');
  const header = splitCsvLine(lines[headerIndex]).map((c) => c.toLowerCase());
  const expected = FRAME_CSV_COLUMNS as readonly string[];
  const mismatch = expected.findIndex((column, i) => header[i] !== column);
  if (mismatch >= 0) {
    throw invalid(
      `line ${headerIndex + 1}`,
      `expected the frames.csv header ${expected.join(',')} but column ${mismatch + 1} is ` +
        `${describe(header[mismatch])} (expected '${expected[mismatch]}')`,
    );
  }
  // Old files have no person column: every track is then its own person (the field stays absent).
  const personColumn = header.indexOf('person', expected.length);
  const records: FrameRecord[] = [];
  for (let i = headerIndex + 1; i < lines.length; i++) {
    if (lines[i].trim() === '') continue;
    const where = `line ${i + 1}`;
    const cells = splitCsvLine(lines[i]);
    if (cells.length < expected.length) {
      throw invalid(where, `expected ${expected.length} comma-separated cells but found ${cells.length}`);
    }
    const fields: Record<string, unknown> = {};
    const read = (column: string, cell: string | undefined): void => {
      if (cell === undefined || cell === '') fields[column] = null;
      else if (column === 'label') fields[column] = cell.toLowerCase();
      else if (NUMBER_CELL.test(cell)) fields[column] = Number(cell);
      else throw invalid(where, `expected a number for ${column} but received ${describe(cell)}`);
    };
    expected.forEach((column, c) => read(column, cells[c]));
    if (personColumn >= 0) read('person', cells[personColumn]);
    records.push(checkRecord(fields, where));
  }
  return records;
}

/**
 * Reads JSON records: either an array of FrameRecord objects or an object with a `records` array (what
 * `moodlens video --json` prints and report.json holds). Missing face fields count as null; `raw` and
 * `enhanced` are optional.
 * @throws MoodLensError `MOODLENS_ERR_INVALID_FRAMES` naming the record index and field of the first fault.
 */
export function parseFramesJson(text: string): FrameRecord[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(stripBom(text));
  } catch (error) {
    throw invalid('frames JSON', `not valid JSON (${(error as Error).message})`);
  }
  const list = Array.isArray(parsed)
    ? parsed
    : parsed !== null &&
        typeof parsed === 'object' &&
        Array.isArray((parsed as { records?: unknown }).records)
      ? (parsed as { records: unknown[] }).records
      : undefined;
  if (list === undefined) {
    throw invalid('frames JSON', 'expected an array of records or an object with a "records" array');
  }
  return list.map((item, i) => {
    const where = `record ${i}`;
    if (item === null || typeof item !== 'object' || Array.isArray(item)) {
      throw invalid(where, `expected an object but received ${describe(item)}`);
    }
    const fields = item as Record<string, unknown>;
    return checkRecord(fields, where, true);
  });
}

/** Reads frames in either form: JSON when the text starts with `[` or `{`, CSV otherwise. */
export function parseFrames(text: string): FrameRecord[] {
  const start = stripBom(text).trimStart();
  return start.startsWith('[') || start.startsWith('{') ? parseFramesJson(text) : parseFramesCsv(text);
}

function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}
