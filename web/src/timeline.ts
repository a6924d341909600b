/**
 * The live per-person timeline: the session report's own summary and plot (src/report), recomputed from
 * the session's records a few times a second. Each person gets the figures `moodlens report` gives
 * (dominant expression and its share of time, negative affect, longest negative stretch, changes per
 * minute) and the same stacked-probability timeline; brief tracks (often a false detection) are listed apart.
 */
import { EMOTION_COLORS, EMOTION_LABELS, type FrameRecord } from '../../src/core.js';
import { formatClock, formatSeconds, timelineSvg } from '../../src/report/html.js';
import { summarizeSession, trackTimeline, type TrackSummary } from '../../src/report/summary.js';

/** Milliseconds between two redraws (the summary is recomputed from every record each time). */
const REFRESH_MS = 500;
/** Time bins of each live plot, at most (the report's bins each hold the same number of frames). */
const MAX_BINS = 200;

const pct = (value: number, digits = 0): string => `${(value * 100).toFixed(digits)}%`;

export class LiveTimeline {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private lastRender = 0;

  constructor(
    private readonly container: HTMLElement,
    private readonly records: () => readonly FrameRecord[],
  ) {
    this.clear();
  }

  /** Starts over (a new session). */
  clear(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.container.replaceChildren(note('No face yet: each person the camera sees gets a row here.'));
  }

  /** New records arrived: redraws now, or at most REFRESH_MS after the last redraw. */
  update(): void {
    if (this.timer !== undefined) return;
    const wait = Math.max(0, this.lastRender + REFRESH_MS - performance.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.lastRender = performance.now();
      this.render();
    }, wait);
  }

  /** Redraws from the records now (e.g. when the session stops). */
  flush(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.render();
  }

  private render(): void {
    const records = this.records();
    if (!records.some((r) => r.track !== null)) return;
    const summary = summarizeSession(records);
    const end = Math.max(summary.duration, 1e-6);
    const people = summary.tracks.filter((t) => !t.brief);
    const brief = summary.tracks.filter((t) => t.brief);
    const rows = people.map((track) =>
      personRow(track, timelineSvg(trackTimeline(records, track.track, MAX_BINS), 0, end, track.track)),
    );
    if (people.length === 0) rows.push(note('A face was seen, but not yet for a second.'));
    if (brief.length > 0) {
      rows.push(
        note(
          `Seen too briefly to summarise (under ${summary.minTrackSeconds} s: not enough frames): ` +
            brief.map((t) => `#${t.track}`).join(', '),
        ),
      );
    }
    this.container.replaceChildren(...rows);
  }
}

function note(text: string): HTMLElement {
  const p = document.createElement('p');
  p.className = 'timeline-note';
  p.textContent = text;
  return p;
}

function personRow(track: TrackSummary, svg: string): HTMLElement {
  const row = document.createElement('div');
  row.className = 'person';
  row.dataset.track = String(track.track);
  const head = document.createElement('div');
  head.className = 'person-head';
  const name = document.createElement('strong');
  name.textContent = `Person #${track.track}`;
  const figures = document.createElement('span');
  figures.className = 'person-summary';
  const longest =
    track.longestNegativeSeconds > 0 && track.longestNegativeStart !== null
      ? `${formatSeconds(track.longestNegativeSeconds)} from ${formatClock(track.longestNegativeStart)}`
      : 'none';
  figures.textContent =
    `mostly ${track.dominant} (${pct(track.timeShare[track.dominant])} of the time) · ` +
    `negative affect ${pct(track.negativeShare, 1)} · longest negative stretch ${longest} · ` +
    `${track.changesPerMinute.toFixed(1)} changes/min · seen ${formatSeconds(track.seconds)}`;
  head.append(name, figures);
  const plot = document.createElement('div');
  plot.className = 'person-plot';
  plot.innerHTML = svg; // built by the report module from numbers and labels only
  row.append(head, plot);
  return row;
}

const css = (rgb: readonly number[]): string => `rgb(${rgb[0]}, ${rgb[1]}, ${rgb[2]})`;

/** The colour legend under the timeline. */
export function renderLegend(container: HTMLElement): void {
  container.replaceChildren(
    ...EMOTION_LABELS.map((label) => {
      const item = document.createElement('span');
      item.className = 'legend-item';
      const swatch = document.createElement('i');
      swatch.style.background = css(EMOTION_COLORS[label]);
      item.append(swatch, label);
      return item;
    }),
  );
}
