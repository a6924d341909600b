/**
 * One camera session's records (what `window.moodlensSession` holds) and its export in the two forms
 * `moodlens report` reads: frames.csv and JSON with a `records` array.
 */
import { formatFramesCsv, type FrameRecord } from '../../src/core.js';
import { renderReportHtml } from '../../src/report/html.js';
import { buildReport, type ModelQuality } from '../../src/report/report.js';
import type { DetectorKind } from '../../src/detect/detector-kind.js';

export interface SessionInfo {
  /** Size of the camera frames; record boxes are in these pixels. */
  frameWidth: number;
  frameHeight: number;
  /** What analysed the frames (model architecture and its measured accuracy). */
  model: { arch: string | undefined; valAccuracy: number | undefined } | undefined;
  /** Which face detector found the faces (`haar` or `cnn`), and the cnn detector's score threshold. */
  detector: DetectorKind | undefined;
  minScore: number | undefined;
  /** The detector ran on every Nth frame; the smoothing weight of the newest frame. */
  detectEvery: number;
  smoothingAlpha: number;
}

export class Session {
  /** Every analysed frame's records in order: one per face, or one empty record for a frame without. */
  readonly records: FrameRecord[] = [];
  readonly startedAt = new Date();
  frames = 0;

  constructor(readonly info: SessionInfo) {}

  add(records: readonly FrameRecord[]): void {
    for (const record of records) this.records.push(record);
    this.frames++;
  }

  /** frames.csv text. */
  toCsv(): string {
    return formatFramesCsv(this.records);
  }

  /** JSON: the session's facts, then `records` (`moodlens report` reads the `records` array). */
  toJson(): string {
    return `${JSON.stringify(
      {
        source: 'moodlens web app',
        startedAt: this.startedAt.toISOString(),
        frames: this.frames,
        ...this.info,
        note: 'A screening aid that supports a professional; never a diagnosis.',
        records: this.records,
      },
      null,
      1,
    )}\n`;
  }

  /** The session report, the page `moodlens report` writes for these records (built here, on the device). */
  toReportHtml(model: ModelQuality | undefined): string {
    return renderReportHtml(
      buildReport(this.records, {
        model,
        source: {
          file: `web app session of ${this.startedAt.toISOString().slice(0, 19).replace('T', ' ')} (UTC)`,
          generatedAt: new Date().toISOString().slice(0, 19).replace('T', ' '),
          width: this.info.frameWidth,
          height: this.info.frameHeight,
          detectEvery: this.info.detectEvery,
          smoothingAlpha: this.info.smoothingAlpha,
          generator: 'MoodLens web app',
        },
      }),
    );
  }

  /** A file name for an export, e.g. `moodlens-session-2026-11-24T20-51-03.csv`. */
  fileName(extension: 'csv' | 'json' | 'html'): string {
    const stamp = this.startedAt.toISOString().slice(0, 19).replace(/:/g, '-');
    return `moodlens-session-${stamp}.${extension}`;
  }
}

/** Saves text as a file through the browser's download (nothing is sent anywhere). */
export function downloadText(fileName: string, text: string, type: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = document.createElement('a');
  link.href = url;
  link.download = fileName;
  link.style.display = 'none';
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
