import { MoodLensError } from '../core/errors.js';
import { LANDMARK_COUNT, type Point } from '../landmarks/points.js';

/**
 * The canonical face the alignment maps every face onto: 68 points placed the way FER-2013 faces sit in
 * their `size` x `size` frame (the emotion model's input), in frame pixels, 0-based pixel centres.
 * MoodLens ships one as models/landmarks/template48.json, the mean of teacher-labelled FER-2013 faces.
 */
export interface AlignmentTemplate {
  /** Side of the frame the points are placed in. */
  readonly size: number;
  /** 68 points, iBUG order. */
  readonly points: readonly Point[];
  /** Where the points come from (free text), when given. */
  readonly source?: string;
}

/**
 * Checks a parsed template file (`{"size", "points": [[x, y] x 68], "source"?}`).
 * @throws MoodLensError `MOODLENS_ERR_MODEL_LOAD` naming `origin` and the field at fault.
 */
export function parseAlignmentTemplate(value: unknown, origin = 'alignment template'): AlignmentTemplate {
  const fail = (message: string): MoodLensError =>
    new MoodLensError('MOODLENS_ERR_MODEL_LOAD', `Alignment template ${origin}: ${message}`);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw fail('expected a JSON object {"size", "points": [[x, y] x 68]}');
  }
  const { size, points, source } = value as { size?: unknown; points?: unknown; source?: unknown };
  if (!(typeof size === 'number' && Number.isInteger(size) && size >= 8 && size <= 1024)) {
    throw fail(`expected an integer from 8 to 1024 for size but received ${JSON.stringify(size)}`);
  }
  if (!Array.isArray(points) || points.length !== LANDMARK_COUNT) {
    throw fail(
      `expected ${LANDMARK_COUNT} points but received ${Array.isArray(points) ? points.length : typeof points}`,
    );
  }
  const checked = points.map((p: unknown, i): Point => {
    if (!Array.isArray(p) || p.length !== 2 || !p.every((v) => typeof v === 'number' && Number.isFinite(v))) {
      throw fail(`expected [x, y] finite numbers for points[${i}] but received ${JSON.stringify(p)}`);
    }
    return [p[0] as number, p[1] as number];
  });
  return { size, points: checked, ...(typeof source === 'string' ? { source } : {}) };
}

/** The template's points for a frame of `size` pixels (pixel centres scale about the frame's corner). */
export function scaleTemplate(template: AlignmentTemplate, size: number): readonly Point[] {
  if (size === template.size) return template.points;
  const k = size / template.size;
  return template.points.map(([x, y]): Point => [(x + 0.5) * k - 0.5, (y + 0.5) * k - 0.5]);
}
