/**
 * The session report as one self-contained HTML page: inline CSS and SVG, no script, no font or image
 * from the network, readable when printed. Browser-safe (a string builder).
 */
import { EMOTION_COLORS } from '../draw/annotate.js';
import { EMOTION_LABELS, type Emotion } from '../emotion/labels.js';
import {
  SCREENING_NOTICE_BODY,
  SCREENING_NOTICE_TITLE,
  weakestClasses,
  type SessionReport,
} from './report.js';
import type { TimelineBin, TrackSummary } from './summary.js';

const PLOT_WIDTH = 760;
const PLOT_HEIGHT = 150;
const PLOT_LEFT = 40;
const PLOT_BOTTOM = 24;

function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

function rgb(label: Emotion): string {
  const [r, g, b] = EMOTION_COLORS[label];
  return `rgb(${r},${g},${b})`;
}

function pct(value: number, digits = 0): string {
  return `${(value * 100).toFixed(digits)}%`;
}

/** Seconds as `12.3 s`, `2 min 05 s` or `1 h 02 min`. */
export function formatSeconds(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const s = Math.round(seconds);
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

/** A clock position: `0:05.2`, `12:40.0`. */
export function formatClock(seconds: number): string {
  const minutes = Math.floor(seconds / 60);
  const rest = seconds - minutes * 60;
  return `${minutes}:${rest.toFixed(1).padStart(4, '0')}`;
}

function niceStep(span: number, ticks: number): number {
  const raw = span / ticks;
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * power >= raw) return m * power;
  return 10 * power;
}

/** Stacked areas of the seven smoothed probabilities over time; gaps where the person was not seen. */
export function timelineSvg(bins: readonly TimelineBin[], start: number, end: number, track: number): string {
  const span = Math.max(end - start, 1e-9);
  // Room on the right for the last tick's label.
  const plotW = PLOT_WIDTH - PLOT_LEFT - 26;
  const plotH = PLOT_HEIGHT - PLOT_BOTTOM - 6;
  const x = (t: number): number => PLOT_LEFT + ((t - start) / span) * plotW;
  const y = (p: number): number => 6 + (1 - p) * plotH;
  const parts: string[] = [];
  // Contiguous runs of bins where the person was seen: each run is one set of stacked bands.
  const runs: TimelineBin[][] = [];
  let current: TimelineBin[] = [];
  for (const bin of bins) {
    if (bin.scores === null) {
      if (current.length > 0) runs.push(current);
      current = [];
    } else current.push(bin);
  }
  if (current.length > 0) runs.push(current);
  for (const run of runs) {
    const lower = run.map(() => 0);
    for (const label of EMOTION_LABELS) {
      const upper = run.map((bin, i) => lower[i] + (bin.scores?.[label] ?? 0));
      const top: string[] = [];
      const bottom: string[] = [];
      run.forEach((bin, i) => {
        top.push(
          `${x(bin.start).toFixed(1)},${y(upper[i]).toFixed(1)}`,
          `${x(bin.end).toFixed(1)},${y(upper[i]).toFixed(1)}`,
        );
        bottom.push(
          `${x(bin.start).toFixed(1)},${y(lower[i]).toFixed(1)}`,
          `${x(bin.end).toFixed(1)},${y(lower[i]).toFixed(1)}`,
        );
      });
      parts.push(
        `<polygon class="band" data-emotion="${label}" fill="${rgb(label)}" points="${[...top, ...bottom.reverse()].join(' ')}"/>`,
      );
      upper.forEach((value, i) => (lower[i] = value));
    }
  }
  const axis: string[] = [];
  const step = niceStep(span, 8);
  for (let t = 0; t <= span + 1e-9; t += step) {
    const px = x(start + t).toFixed(1);
    axis.push(
      `<line x1="${px}" x2="${px}" y1="${y(0)}" y2="${y(0) + 4}" stroke="#555"/>`,
      `<text x="${px}" y="${PLOT_HEIGHT - 6}" text-anchor="middle">${escapeHtml(formatClock(start + t))}</text>`,
    );
  }
  for (const p of [0, 0.5, 1]) {
    axis.push(
      `<text x="${PLOT_LEFT - 6}" y="${(y(p) + 4).toFixed(1)}" text-anchor="end">${p * 100}%</text>`,
      `<line x1="${PLOT_LEFT}" x2="${PLOT_LEFT + plotW}" y1="${y(p).toFixed(1)}" y2="${y(p).toFixed(1)}" stroke="#ddd"/>`,
    );
  }
  return (
    `<svg class="timeline" data-track="${track}" viewBox="0 0 ${PLOT_WIDTH} ${PLOT_HEIGHT}" width="100%" ` +
    `role="img" aria-label="Emotion probabilities over time for person ${track}" ` +
    `xmlns="http://www.w3.org/2000/svg" font-size="11" font-family="inherit">` +
    `<rect x="${PLOT_LEFT}" y="6" width="${plotW}" height="${plotH}" fill="#f4f4f4"/>` +
    `${axis.join('')}${parts.join('')}` +
    `<line x1="${PLOT_LEFT}" x2="${PLOT_LEFT + plotW}" y1="${y(0)}" y2="${y(0)}" stroke="#555"/></svg>`
  );
}

function legend(): string {
  return `<ul class="legend">${EMOTION_LABELS.map(
    (label) => `<li><span class="swatch" style="background:${rgb(label)}"></span>${label}</li>`,
  ).join('')}</ul>`;
}

function trackSection(track: TrackSummary, report: SessionReport, start: number, end: number): string {
  const bins = report.timelines[String(track.track)] ?? [];
  const rows = EMOTION_LABELS.map(
    (label) =>
      `<tr${label === track.dominant ? ' class="dominant"' : ''}><td><span class="swatch" style="background:${rgb(label)}"></span>${label}</td>` +
      `<td data-field="timeShare.${label}">${pct(track.timeShare[label], 1)}</td>` +
      `<td>${pct(track.meanScores[label], 1)}</td></tr>`,
  ).join('');
  const longest =
    track.longestNegativeSeconds > 0 && track.longestNegativeStart !== null
      ? `${formatSeconds(track.longestNegativeSeconds)} <span class="muted">from ${formatClock(track.longestNegativeStart)}</span>`
      : 'none';
  return `<section class="person" data-track="${track.track}">
<div class="person-head">${thumbnailImg(report, track)}<div><h2>Person ${track.track}</h2>
<p class="seen" data-field="seen">Seen for ${formatSeconds(track.seconds)} in ${track.frames.toLocaleString('en')} frames</p></div></div>
<dl class="figures">
<div><dt>Seen</dt><dd data-field="seconds">${formatSeconds(track.seconds)}</dd><dd class="muted">${track.frames} frames, ${formatClock(track.firstSeen)}&ndash;${formatClock(track.lastSeen)}</dd></div>
<div><dt>Dominant expression</dt><dd data-field="dominant">${track.dominant}</dd><dd class="muted">${pct(track.timeShare[track.dominant])} of the time</dd></div>
<div><dt>Negative affect</dt><dd data-field="negativeShare">${pct(track.negativeShare, 1)}</dd><dd class="muted">angry, disgust, fear or sad</dd></div>
<div><dt>Longest negative stretch</dt><dd data-field="longestNegativeSeconds">${longest}</dd></div>
<div><dt>Changes of expression</dt><dd data-field="changes">${track.changes}</dd><dd class="muted">${track.changesPerMinute.toFixed(1)} per minute</dd></div>
</dl>
${timelineSvg(bins, start, end, track.track)}
<table class="shares"><thead><tr><th>Expression</th><th>Share of time</th><th>Mean probability</th></tr></thead><tbody>${rows}</tbody></table>
</section>`;
}

/** The person's clearest face (an inline PNG), or nothing when the report has no picture of them. */
function thumbnailImg(report: SessionReport, track: TrackSummary): string {
  const url = report.thumbnails?.[String(track.track)];
  if (url === undefined || !url.startsWith('data:image/png;base64,')) return '';
  return `<img class="thumb" data-field="thumbnail" src="${escapeHtml(url)}" width="72" height="72" alt="The clearest face of person ${track.track}">`;
}

/** Persons by time on screen, longest first (ties by id). */
function byTimeOnScreen(tracks: readonly TrackSummary[]): TrackSummary[] {
  return [...tracks].sort((a, b) => b.seconds - a.seconds || a.track - b.track);
}

function modelSection(report: SessionReport): string {
  const model = report.model;
  if (model === undefined) {
    return `<p class="model" data-field="model">The emotion model used has no model card: its accuracy is not known. Treat every figure with extra caution.</p>`;
  }
  const weakest = weakestClasses(model, 3);
  const weak = weakest
    .map((c) => `<strong>${c.label}</strong> (recognised ${pct(c.recall)} of the time)`)
    .join(', ');
  const negativeWeak = weakest.filter((c) => report.summary.negativeEmotions.includes(c.label));
  const caution =
    negativeWeak.length === 0
      ? ''
      : ` ${negativeWeak.length === weakest.length ? 'All of them are' : `${negativeWeak.map((c) => c.label).join(' and ')} ${negativeWeak.length === 1 ? 'is' : 'are'}`}
negative expressions, so the negative-affect figures are the least certain ones.`;
  return `<p class="model" data-field="model">Expressions are recognised by ${escapeHtml(model.name)}, which labels
<strong data-field="accuracy">${pct(model.accuracy, 1)}</strong> of the ${model.n.toLocaleString('en')} faces of ${escapeHtml(model.testSet)}
correctly: about one face in ${Math.max(2, Math.round(1 / Math.max(1e-9, 1 - model.accuracy)))} is mislabelled. Its weakest classes are ${weak}.${caution}</p>`;
}

const STYLE = `
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#1d1d1f;
max-width:860px;margin:0 auto;padding:24px 20px 48px;line-height:1.5;font-size:16px;background:#fff}
h1{font-size:1.7em;margin:0 0 4px}h2{font-size:1.3em;margin:0 0 12px}
.muted{color:#666;font-size:.9em}
.notice{border:2px solid #b26a00;background:#fff6e5;border-radius:8px;padding:12px 16px;margin:16px 0}
.notice strong{font-size:1.05em}
.partial{border:2px solid #c62828;background:#fdecea;border-radius:8px;padding:10px 16px;margin:16px 0}
.model{background:#f3f6fb;border-radius:8px;padding:10px 16px}
.session{display:flex;flex-wrap:wrap;gap:8px 28px;margin:16px 0;padding:0}
.session div{min-width:120px}.session dt,.figures dt{font-size:.85em;color:#555}
.session dd,.figures dd{margin:0;font-size:1.15em;font-weight:600}
.figures dd.muted{font-weight:400;font-size:.85em}
.person{border-top:1px solid #ddd;padding-top:20px;margin-top:28px}
.person-head{display:flex;gap:14px;align-items:center;margin-bottom:10px}.person-head h2{margin:0}.seen{margin:0;color:#555}
.thumb{width:72px;height:72px;border-radius:6px;border:1px solid #ccc;image-rendering:auto;vertical-align:middle}
.brief .thumb{width:36px;height:36px}
.figures{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:12px;margin:0 0 12px}
.legend{list-style:none;display:flex;flex-wrap:wrap;gap:4px 14px;padding:0;margin:8px 0;font-size:.9em}
.swatch{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:5px;vertical-align:-1px;border:1px solid rgba(0,0,0,.2)}
table{border-collapse:collapse;font-size:.92em;margin-top:8px}td,th{padding:3px 14px 3px 0;text-align:left}
td:nth-child(n+2),th:nth-child(n+2){text-align:right}tr.dominant td{font-weight:700}
svg text{fill:#444}
footer{margin-top:36px;border-top:1px solid #ddd;padding-top:12px;font-size:.85em;color:#555}
@media print{.notice,.partial{break-inside:avoid}.person{break-inside:avoid}}
`;

/** The report page. The report's JSON is embedded (script type application/json, id `moodlens-report`). */
export function renderReportHtml(report: SessionReport): string {
  const { summary, source } = report;
  const main = byTimeOnScreen(summary.tracks.filter((t) => !t.brief));
  const brief = byTimeOnScreen(summary.tracks.filter((t) => t.brief));
  const start = 0;
  const end = Math.max(summary.duration, 1e-6);
  const title = source.file === undefined ? 'MoodLens session report' : `MoodLens report: ${source.file}`;
  const facts = [
    ['Duration', formatSeconds(summary.duration), 'duration'],
    ['Frames', summary.frames.toLocaleString('en'), 'frames'],
    [
      'Frames with a face',
      `${summary.framesWithFaces.toLocaleString('en')} (${pct(summary.frames > 0 ? summary.framesWithFaces / summary.frames : 0)})`,
      'framesWithFaces',
    ],
    ['People', String(main.length), 'people'],
    ...(source.width !== undefined && source.height !== undefined
      ? [
          [
            'Video',
            `${source.width}x${source.height}${source.fps === undefined ? '' : ` at ${+source.fps.toFixed(2)} fps`}`,
            'video',
          ],
        ]
      : []),
  ];
  const briefTable =
    brief.length === 0
      ? ''
      : `<section class="brief"><h2>Seen too briefly to summarise</h2><p class="muted">Not enough frames: each of these persons was seen for less than ${summary.minTrackSeconds} s, too little to say anything about their expressions. Not summarised above.</p>
<table><thead><tr><th>Person</th><th>Seen</th><th>From</th></tr></thead><tbody>${brief
          .map(
            (t) =>
              `<tr data-track="${t.track}"><td>${thumbnailImg(report, t)} ${t.track}</td><td>${formatSeconds(t.seconds)} in ${t.frames} frame${t.frames === 1 ? '' : 's'}: not enough frames</td><td>${formatClock(t.firstSeen)}</td></tr>`,
          )
          .join('')}</tbody></table></section>`;
  const json = JSON.stringify(report).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body>
<header><h1>MoodLens session report</h1>
<div class="muted">${escapeHtml(source.file ?? 'recorded session')}${source.generatedAt === undefined ? '' : ` &middot; ${escapeHtml(source.generatedAt)}`}</div></header>
<div class="notice" role="note"><strong>${SCREENING_NOTICE_TITLE}</strong> ${escapeHtml(SCREENING_NOTICE_BODY)}</div>
${source.partial === undefined ? '' : `<div class="partial" role="alert" data-field="partial"><strong>Partial result.</strong> ${escapeHtml(source.partial)}. The figures cover only the frames that could be read.</div>`}
${modelSection(report)}
<dl class="session">${facts.map(([k, v, f]) => `<div><dt>${k}</dt><dd data-field="${f}">${escapeHtml(v)}</dd></div>`).join('')}</dl>
${legend()}
${main.length === 0 ? '<p data-field="no-people">No face was seen long enough to summarise.</p>' : main.map((t) => trackSection(t, report, start, end)).join('\n')}
${briefTable}
<footer><p><strong>How to read the figures.</strong> Each person is a face tracked from frame to frame; a face that
leaves and returns is recognised by its appearance and keeps its number (the number drawn on the labelled video), and a
face-like pattern seen on too few frames is not counted as a person. Persons are listed by time on screen. The picture
is the clearest frame of each person. Labels are the model's most likely expression after smoothing over recent frames.
<em>Share of time</em>: the part of the time the person was seen with each label. <em>Negative affect</em>: angry,
disgust, fear or sad. <em>Longest negative stretch</em>: the longest unbroken run of frames with a negative label.
<em>Changes</em>: how often the label switched between consecutive frames.
The timeline stacks the seven smoothed probabilities (0-100%) over time; gaps are times the person was not seen.</p>
<p>${escapeHtml(source.generator ?? 'MoodLens')}${source.detectEvery === undefined ? '' : `; face detection every ${source.detectEvery} frame(s)`}${source.smoothingAlpha === undefined ? '' : `; smoothing weight ${source.smoothingAlpha}`}. Generated on this device; nothing was uploaded.</p></footer>
<script type="application/json" id="moodlens-report">${json}</script>
</body></html>
`;
}
