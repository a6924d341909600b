/**
 * The live per-person timeline: one row per tracked face with a band of its labels over the session's
 * time (colour = emotion, height = confidence), its dominant emotion and its share of negative affect.
 * Rebuilt at most once per animation frame from the records it is given.
 */
import { EMOTION_COLORS, EMOTION_LABELS, type Emotion, type FrameRecord } from '../../src/core.js';

/** The negative-affect emotions of the screening report. */
export const NEGATIVE_EMOTIONS: readonly Emotion[] = ['angry', 'disgust', 'fear', 'sad'];

/** A gap longer than this (seconds) between two samples of a person is drawn as absence. */
const MAX_GAP_SECONDS = 1;

interface Sample {
  readonly time: number;
  readonly label: Emotion;
  readonly confidence: number;
}

interface Person {
  readonly track: number;
  readonly samples: Sample[];
  readonly counts: Record<Emotion, number>;
  row: HTMLElement | undefined;
}

const css = (rgb: readonly number[]): string => `rgb(${rgb[0]}, ${rgb[1]}, ${rgb[2]})`;

export class LiveTimeline {
  private people = new Map<number, Person>();
  private duration = 0;
  private pending = false;

  constructor(private readonly container: HTMLElement) {
    this.clear();
  }

  /** Starts over (a new session). */
  clear(): void {
    this.people.clear();
    this.duration = 0;
    this.container.replaceChildren(emptyNote());
  }

  /** Adds one frame's records and schedules a redraw. */
  add(records: readonly FrameRecord[]): void {
    for (const record of records) {
      this.duration = Math.max(this.duration, record.time);
      if (record.track === null || record.label === null || record.confidence === null) continue;
      let person = this.people.get(record.track);
      if (person === undefined) {
        person = { track: record.track, samples: [], counts: zeroCounts(), row: undefined };
        this.people.set(record.track, person);
      }
      person.samples.push({ time: record.time, label: record.label, confidence: record.confidence });
      person.counts[record.label]++;
    }
    if (!this.pending) {
      this.pending = true;
      requestAnimationFrame(() => {
        this.pending = false;
        this.render();
      });
    }
  }

  private render(): void {
    if (this.people.size === 0) return;
    if (this.container.querySelector('.timeline-empty')) this.container.replaceChildren();
    for (const person of this.people.values()) {
      person.row ??= this.container.appendChild(createRow(person.track));
      this.renderRow(person, person.row);
    }
  }

  private renderRow(person: Person, row: HTMLElement): void {
    const total = person.samples.length;
    const dominant = EMOTION_LABELS.reduce((a, b) => (person.counts[b] > person.counts[a] ? b : a));
    const negative = NEGATIVE_EMOTIONS.reduce((sum, e) => sum + person.counts[e], 0) / total;
    const summary = row.querySelector<HTMLElement>('.person-summary');
    if (summary) {
      summary.textContent =
        `mostly ${dominant} (${Math.round((100 * person.counts[dominant]) / total)}%) · ` +
        `negative affect ${Math.round(100 * negative)}% · ${total} frames`;
    }
    const canvas = row.querySelector('canvas');
    if (!canvas) return;
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(canvas.clientWidth * ratio));
    const height = Math.max(1, Math.round(canvas.clientHeight * ratio));
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    const ctx = canvas.getContext('2d');
    if (!ctx) return;
    ctx.clearRect(0, 0, width, height);
    const span = Math.max(this.duration, 1);
    const x = (time: number): number => (time / span) * width;
    const samples = person.samples;
    for (let i = 0; i < samples.length; i++) {
      const s = samples[i];
      const next = samples[i + 1];
      const end = next !== undefined && next.time - s.time <= MAX_GAP_SECONDS ? next.time : s.time + 0.1;
      const barHeight = Math.max(2, s.confidence * height);
      ctx.fillStyle = css(EMOTION_COLORS[s.label]);
      ctx.fillRect(x(s.time), height - barHeight, Math.max(1, x(end) - x(s.time)), barHeight);
    }
  }
}

function zeroCounts(): Record<Emotion, number> {
  return Object.fromEntries(EMOTION_LABELS.map((e) => [e, 0])) as Record<Emotion, number>;
}

function emptyNote(): HTMLElement {
  const note = document.createElement('p');
  note.className = 'timeline-empty';
  note.textContent = 'No face yet: each person the camera sees gets a row here.';
  return note;
}

function createRow(track: number): HTMLElement {
  const row = document.createElement('div');
  row.className = 'person';
  row.dataset.track = String(track);
  const head = document.createElement('div');
  head.className = 'person-head';
  const name = document.createElement('strong');
  name.textContent = `Person #${track}`;
  const summary = document.createElement('span');
  summary.className = 'person-summary';
  head.append(name, summary);
  const canvas = document.createElement('canvas');
  canvas.className = 'person-band';
  canvas.setAttribute('role', 'img');
  canvas.setAttribute('aria-label', `Emotions of person ${track} over time`);
  row.append(head, canvas);
  return row;
}

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
