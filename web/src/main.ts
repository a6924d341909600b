/**
 * MoodLens live: the camera, the analysis worker, the overlay, the per-person timeline and the export.
 * Every frame is analysed on this device; the page never sends one anywhere.
 */
import './style.css';
import card from '../../models/emotion/emotion.json';
import { enhanceThreshold, upscaleThreshold, type FrameRecord } from '../../src/core.js';
import { CameraError, closeCamera, openCamera, type CameraProblem } from '../../src/io/web/camera.js';
import { assetUrls } from './assets.js';
import { enhanceProblemNote, enhanceSummaryText } from './enhance-status.js';
import { clearOverlay, drawOverlay } from './overlay.js';
import type { FrameTimings, ModelSummary, OverlayFace, WorkerMessage, WorkerRequest } from './protocol.js';
import { modelQuality, modelText, SCREENING_NOTICE } from './screening.js';
import { downloadText, Session } from './session.js';
import { settingsFromUrl, type AppSettings } from './settings.js';
import { LiveTimeline, renderLegend } from './timeline.js';

/** What the page is doing; `body[data-state]` and the status box show it (tests read them too). */
export type AppState =
  'loading' | 'ready' | 'starting' | 'running' | 'stopped' | 'model-error' | 'unsupported' | CameraProblem;

/** Measurements the page keeps for `npm run bench:web` and for the curious (`window.moodlensStats`). */
export interface LiveStats {
  model: ModelSummary | undefined;
  /** Frames analysed in this session. */
  frames: number;
  /** Analysed frames per second over the last two seconds. */
  fps: number;
  /** Per-frame timings of the worker, the latest last (at most MAX_TIMINGS). */
  timings: FrameTimings[];
  /** Milliseconds from grabbing a frame to its answer arriving, per frame (at most MAX_TIMINGS). */
  latencyMs: number[];
  /** performance.now() of each answer (at most MAX_TIMINGS), for rates over any window. */
  answeredAt: number[];
  settings: AppSettings | undefined;
  /** The faces of the latest answer, as the overlay drew them (tag, box, restoration). */
  faces: OverlayFace[];
}

declare global {
  interface Window {
    /** The current session's per-frame records (frames.csv rows), including frames without a face. */
    moodlensSession: FrameRecord[];
    moodlensStats: LiveStats;
    moodlensState: AppState;
  }
}

const MAX_TIMINGS = 2000;

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`The page has no #${id}`);
  return found as T;
}

const ui = {
  video: element<HTMLVideoElement>('video'),
  overlay: element<HTMLCanvasElement>('overlay'),
  status: element<HTMLElement>('status'),
  start: element<HTMLButtonElement>('start'),
  stop: element<HTMLButtonElement>('stop'),
  exportCsv: element<HTMLButtonElement>('export-csv'),
  exportJson: element<HTMLButtonElement>('export-json'),
  fps: element<HTMLElement>('fps'),
  stages: element<HTMLElement>('stages'),
  people: element<HTMLElement>('people'),
  legend: element<HTMLElement>('legend'),
  screening: element<HTMLElement>('screening-text'),
  modelText: element<HTMLElement>('model-text'),
  exportReport: element<HTMLButtonElement>('export-report'),
  engine: element<HTMLElement>('engine'),
  landmarksNote: element<HTMLElement>('landmarks-note'),
  enhanceNote: element<HTMLElement>('enhance-note'),
  showLandmarks: element<HTMLInputElement>('show-landmarks'),
};

const stats: LiveStats = {
  model: undefined,
  frames: 0,
  fps: 0,
  timings: [],
  latencyMs: [],
  answeredAt: [],
  settings: undefined,
  faces: [],
};
window.moodlensStats = stats;
window.moodlensSession = [];

const quality = modelQuality(card);
renderLegend(ui.legend);
ui.screening.textContent = SCREENING_NOTICE;
ui.modelText.textContent = modelText(quality);

function setState(state: AppState, message: string): void {
  window.moodlensState = state;
  document.body.dataset.state = state;
  ui.status.dataset.kind = state;
  ui.status.textContent = message;
  ui.status.hidden = state === 'running';
  ui.start.disabled = ![
    'ready',
    'stopped',
    'camera-denied',
    'no-camera',
    'camera-busy',
    'camera-error',
  ].includes(state);
  ui.stop.disabled = state !== 'running';
}

function push<T>(list: T[], value: T): void {
  list.push(value);
  if (list.length > MAX_TIMINGS) list.splice(0, list.length - MAX_TIMINGS);
}

let settings: AppSettings;
try {
  settings = settingsFromUrl(location.search);
  stats.settings = settings;
} catch (error) {
  setState('unsupported', `This page's address has a bad setting: ${(error as Error).message}`);
  throw error;
}

const missing = [
  typeof Worker === 'undefined' && 'Web Workers',
  typeof WebAssembly === 'undefined' && 'WebAssembly',
  typeof OffscreenCanvas === 'undefined' && 'OffscreenCanvas',
  typeof createImageBitmap === 'undefined' && 'createImageBitmap',
].filter((name): name is string => typeof name === 'string');

const worker = new Worker(new URL('./worker.ts', import.meta.url), {
  type: 'module',
  name: 'moodlens-analysis',
});
const send = (request: WorkerRequest, transfer: Transferable[] = []): void =>
  worker.postMessage(request, transfer);

// One session at a time; answers of an earlier session's frames are told apart by `sessionId`.
let session: Session | undefined;
const timeline = new LiveTimeline(ui.people, () => session?.records ?? []);
let sessionId = 0;
let sessionStart = 0;
let stream: MediaStream | undefined;
let running = false;
let nextFrame = 0;
let inFlight = 0;
let grabbing = false;
const grabbedAt = new Map<number, number>();
/** Whether the video has shown a frame that has not been sent yet. */
let freshFrame = false;

if (missing.length > 0) {
  setState(
    'unsupported',
    `This browser lacks ${missing.join(', ')}, which the analysis needs. Try a current Chrome, Edge, Firefox or Safari.`,
  );
} else {
  setState('loading', 'Loading the face detector and the emotion model…');
  const urls = assetUrls(document.baseURI);
  const { mode, below, upscaleBelow } = settings.enhance;
  send({
    type: 'init',
    modelUrl: urls.modelUrl,
    detector: settings.detector,
    cascadeUrl: urls.cascadeUrl,
    detectorModelUrl: urls.detectorModelUrl,
    minScore: settings.minScore,
    coarsePass: settings.coarsePass,
    landmarkModelUrl: urls.landmarkModelUrl,
    templateUrl: urls.templateUrl,
    // The CLI's --enhance policy: `never` loads no FSRNet model and enlarges no face.
    enhance:
      mode === 'never'
        ? undefined
        : {
            ...urls.enhancer,
            enhanceBelow: enhanceThreshold(mode, below),
            upscaleBelow: upscaleThreshold(mode, upscaleBelow),
          },
    wasmPaths: urls.wasmPaths,
    numThreads: settings.threads,
    detect: settings.detect,
    detectEvery: settings.detectEvery,
    smoothingAlpha: settings.smoothingAlpha,
  });
}

worker.onerror = (event) => {
  setState(
    'model-error',
    `The analysis worker could not start: ${event.message || 'its script failed to load'}.`,
  );
};

worker.onmessage = (event: MessageEvent<WorkerMessage>) => {
  const message = event.data;
  switch (message.type) {
    case 'ready':
      stats.model = message.model;
      ui.engine.textContent =
        `${detectorText(message.model)} · ` +
        `emotion model: ${message.model.arch ?? 'ONNX'} on ONNX Runtime Web (WebAssembly, ` +
        `${message.model.numThreads} thread${message.model.numThreads > 1 ? 's' : ''}) · ` +
        `cross-origin isolated: ${message.model.crossOriginIsolated ? 'yes' : 'no'} · ` +
        `landmarks: ${message.model.landmarks ? 'aligned by 68 points' : 'off'} · ` +
        `${enhanceSummaryText(message.model)} · ` +
        `loaded in ${Math.round(message.model.loadMs)} ms`;
      ui.landmarksNote.hidden = message.model.landmarks;
      ui.landmarksNote.textContent = message.model.landmarks
        ? ''
        : `Landmarks unavailable: faces classified unaligned. ${message.model.landmarksProblem ?? ''}`;
      ui.showLandmarks.disabled = !message.model.landmarks;
      showNote(ui.enhanceNote, enhanceProblemNote(message.model));
      setState('ready', 'Ready. Press Start to analyse the camera, on this device.');
      return;
    case 'init-error':
      setState(
        'model-error',
        `The models could not be loaded, so nothing can be analysed. ${message.message}`,
      );
      return;
    case 'result': {
      inFlight--;
      const sent = grabbedAt.get(message.frame);
      grabbedAt.delete(message.frame);
      // After Stop, answers still on their way are dropped: the session is what was shown.
      if (message.session !== sessionId || session === undefined || !running) return;
      const now = performance.now();
      session.add(message.records);
      timeline.update();
      stats.frames = session.frames;
      push(stats.timings, message.timings);
      push(stats.answeredAt, now);
      if (sent !== undefined) push(stats.latencyMs, now - sent);
      updateRates(now, message.timings);
      ui.exportCsv.disabled = ui.exportJson.disabled = ui.exportReport.disabled = false;
      stats.faces = message.faces;
      drawOverlay(ui.overlay, message.width, message.height, message.faces, {
        points: ui.showLandmarks.checked,
      });
      scheduleGrab();
      return;
    }
    case 'analyze-error':
      inFlight--;
      if (message.session !== sessionId) return;
      stop(`Analysis stopped on frame ${message.frame}: ${message.message}`);
      return;
  }
};

/** Which face detector runs and on what, for the engine line. */
function detectorText(model: ModelSummary): string {
  if (model.detector === 'cnn') {
    const score = model.minScore === undefined ? '' : `, min score ${model.minScore.toFixed(2)}`;
    const coarse = model.coarsePass ? ', coarse pass' : '';
    return `Face detector: CNN (ONNX Runtime Web${score}${coarse})`;
  }
  return `Face detector: Haar cascade (${model.detectorEngine === 'wasm' ? 'WebAssembly' : 'JavaScript'} scan)`;
}

/** Shows a stage's note (why it is off), or hides it when there is none. */
function showNote(element: HTMLElement, note: string | undefined): void {
  element.hidden = note === undefined;
  element.textContent = note ?? '';
}

function updateRates(now: number, timings: FrameTimings): void {
  const times = stats.answeredAt;
  let first = times.length - 1;
  while (first > 0 && now - times[first - 1] <= 2000) first--;
  const count = times.length - 1 - first;
  stats.fps = count > 0 ? (1000 * count) / (now - times[first]) : 0;
  ui.fps.textContent = `${stats.fps.toFixed(1)} fps`;
  ui.stages.textContent =
    `detect ${timings.detectMs.toFixed(1)} ms · classify ${timings.classifyMs.toFixed(1)} ms · ` +
    `frame ${(timings.readMs + timings.analyzeMs).toFixed(1)} ms`;
}

/** Keeps `freshFrame` up to date from the video's own frame clock. */
function watchVideoFrames(video: HTMLVideoElement): void {
  // Older Firefox has no frame callbacks, though the DOM types say every video has them.
  if (typeof (video as Partial<HTMLVideoElement>).requestVideoFrameCallback === 'function') {
    const onFrame = (): void => {
      freshFrame = true;
      scheduleGrab();
      if (running) video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  } else {
    // Without frame callbacks, poll the video clock once per display frame.
    let last = -1;
    const poll = (): void => {
      if (video.currentTime !== last) {
        last = video.currentTime;
        freshFrame = true;
        scheduleGrab();
      }
      if (running) requestAnimationFrame(poll);
    };
    requestAnimationFrame(poll);
  }
}

/** Sends the newest video frame to the worker when the worker has room and the frame is new. */
function scheduleGrab(): void {
  if (!running || grabbing || !freshFrame || inFlight >= settings.inflight) return;
  const video = ui.video;
  const vw = video.videoWidth;
  const vh = video.videoHeight;
  if (vw === 0 || vh === 0) return;
  grabbing = true;
  freshFrame = false;
  const width = Math.min(vw, settings.maxWidth);
  const height = Math.round((vh * width) / vw);
  const grabbed = performance.now();
  const time = Math.round(grabbed - sessionStart) / 1000;
  const id = sessionId;
  createImageBitmap(
    video,
    width === vw ? undefined : { resizeWidth: width, resizeHeight: height, resizeQuality: 'medium' },
  )
    .then((bitmap) => {
      if (!running || id !== sessionId) {
        bitmap.close();
        return;
      }
      const frame = nextFrame++;
      inFlight++;
      grabbedAt.set(frame, grabbed);
      send({ type: 'analyze', session: id, frame, time, bitmap, scale: vw / width }, [bitmap]);
    })
    .catch((error: unknown) => {
      console.warn('MoodLens: a video frame could not be read', error);
    })
    .finally(() => {
      grabbing = false;
      scheduleGrab();
    });
}

async function start(): Promise<void> {
  setState('starting', 'Asking for the camera…');
  try {
    stream = await openCamera();
  } catch (error) {
    if (error instanceof CameraError) setState(error.problem, error.message);
    else setState('camera-error', `The camera could not be opened: ${String(error)}`);
    return;
  }
  const video = ui.video;
  video.srcObject = stream;
  try {
    await video.play();
  } catch (error) {
    closeCamera(stream);
    setState('camera-error', `The camera video could not be played: ${String(error)}`);
    return;
  }
  sessionId++;
  session = new Session({
    frameWidth: video.videoWidth,
    frameHeight: video.videoHeight,
    model: stats.model && { arch: stats.model.arch, valAccuracy: stats.model.valAccuracy },
    detector: stats.model?.detector,
    minScore: stats.model?.minScore,
    detectEvery: settings.detectEvery,
    smoothingAlpha: settings.smoothingAlpha,
  });
  window.moodlensSession = session.records;
  send({ type: 'reset' });
  timeline.clear();
  stats.frames = 0;
  stats.timings = [];
  stats.latencyMs = [];
  stats.answeredAt = [];
  nextFrame = 0;
  sessionStart = performance.now();
  running = true;
  freshFrame = true;
  ui.exportCsv.disabled = ui.exportJson.disabled = ui.exportReport.disabled = true;
  setState('running', '');
  watchVideoFrames(video);
  scheduleGrab();
}

function stop(reason?: string): void {
  running = false;
  closeCamera(stream);
  stream = undefined;
  ui.video.srcObject = null;
  clearOverlay(ui.overlay);
  timeline.flush();
  const frames = session?.frames ?? 0;
  setState(
    'stopped',
    reason ??
      `Stopped after ${frames} analysed frame${frames === 1 ? '' : 's'}. Export the session below, or press ` +
        'Start for a new one.',
  );
}

ui.start.addEventListener('click', () => void start());
ui.stop.addEventListener('click', () => stop());
ui.exportCsv.addEventListener('click', () => {
  if (session) downloadText(session.fileName('csv'), session.toCsv(), 'text/csv');
});
ui.exportJson.addEventListener('click', () => {
  if (session) downloadText(session.fileName('json'), session.toJson(), 'application/json');
});
ui.exportReport.addEventListener('click', () => {
  if (session) downloadText(session.fileName('html'), session.toReportHtml(quality), 'text/html');
});
