/**
 * A small progress indicator for long commands: count, percent, rate and ETA. On a terminal it redraws
 * one line in place with `\r`; elsewhere (logs, CI) it prints a plain line now and then, so the output
 * stays readable when captured. It writes only to the function it is given (normally stderr).
 */

export interface ProgressOptions {
  /** Number of items the job will process. */
  readonly total: number;
  /** Where to write (normally the CLI's stderr). */
  readonly write: (s: string) => void;
  /** Redraw in place (terminal) or print occasional lines. */
  readonly isTTY: boolean;
  /** Prefix of each line, e.g. `detect`. */
  readonly label?: string;
  /** Milliseconds between terminal redraws (default 100). */
  readonly redrawIntervalMs?: number;
  /** Milliseconds between plain lines when not on a terminal (default 10 000). */
  readonly lineIntervalMs?: number;
  /** Width of the bar in characters on a terminal (default 24). */
  readonly barWidth?: number;
  /** Clock in milliseconds (default `performance.now`); injectable for tests. */
  readonly now?: () => number;
}

export class Progress {
  readonly total: number;
  private readonly write: (s: string) => void;
  private readonly isTTY: boolean;
  private readonly label: string;
  private readonly redrawIntervalMs: number;
  private readonly lineIntervalMs: number;
  private readonly barWidth: number;
  private readonly now: () => number;
  private readonly startedAt: number;
  private lastOutputAt: number;
  private drawn = false;
  private finished = false;
  private doneCount = 0;

  constructor(options: ProgressOptions) {
    if (!Number.isInteger(options.total) || options.total < 0) {
      throw new RangeError(`Expected a non-negative integer for total but received ${String(options.total)}`);
    }
    this.total = options.total;
    this.write = options.write;
    this.isTTY = options.isTTY;
    this.label = options.label ?? '';
    this.redrawIntervalMs = options.redrawIntervalMs ?? 100;
    this.lineIntervalMs = options.lineIntervalMs ?? 10_000;
    this.barWidth = options.barWidth ?? 24;
    this.now = options.now ?? (() => performance.now());
    this.startedAt = this.now();
    this.lastOutputAt = this.startedAt;
  }

  /** Items completed so far. */
  get done(): number {
    return this.doneCount;
  }

  /** Seconds since the progress started. */
  get elapsedSeconds(): number {
    return (this.now() - this.startedAt) / 1000;
  }

  /** Marks `count` more items done and redraws when due. */
  tick(count = 1): void {
    this.update(this.doneCount + count);
  }

  /** Sets the number of items done and redraws when due. */
  update(done: number): void {
    if (this.finished) return;
    this.doneCount = Math.min(Math.max(0, done), this.total);
    const now = this.now();
    const complete = this.doneCount === this.total;
    if (this.isTTY) {
      if (!this.drawn || complete || now - this.lastOutputAt >= this.redrawIntervalMs) this.draw(now);
    } else if (!complete && now - this.lastOutputAt >= this.lineIntervalMs) {
      this.write(`${this.render()}\n`);
      this.lastOutputAt = now;
    }
  }

  /** Erases the terminal line, e.g. before other output; the next tick draws it again. */
  clear(): void {
    if (this.isTTY && this.drawn) {
      this.write('\r\x1b[K');
      this.drawn = false;
    }
  }

  /** Ends the progress: erases the bar on a terminal; later ticks are ignored. */
  finish(): void {
    this.clear();
    this.finished = true;
  }

  /** The status text: `label [#####-----] 12/40 30% 3.2/s ETA 9s` (the bar only on a terminal). */
  render(): string {
    const { total, doneCount } = this;
    const fraction = total === 0 ? 1 : doneCount / total;
    const elapsed = this.elapsedSeconds;
    const rate = elapsed > 0 ? doneCount / elapsed : 0;
    const eta = rate > 0 ? formatDuration((total - doneCount) / rate) : '--';
    const parts: string[] = [];
    if (this.label !== '') parts.push(this.label);
    if (this.isTTY) {
      const filled = Math.round(fraction * this.barWidth);
      parts.push(`[${'#'.repeat(filled)}${'-'.repeat(this.barWidth - filled)}]`);
    }
    parts.push(
      `${doneCount}/${total}`,
      `${Math.floor(fraction * 100)}%`,
      `${formatRate(rate)}/s`,
      `ETA ${eta}`,
    );
    return parts.join(' ');
  }

  private draw(now: number): void {
    this.write(`\r${this.render()}\x1b[K`);
    this.drawn = true;
    this.lastOutputAt = now;
  }
}

function formatRate(rate: number): string {
  if (rate >= 100) return rate.toFixed(0);
  if (rate >= 10) return rate.toFixed(1);
  return rate.toFixed(2);
}

/** `9s`, `2m05s`, `1h02m`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
