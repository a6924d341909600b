import { existsSync } from 'node:fs';
import { MoodLensError } from '../core/errors.js';
import type { FaceEnhancer } from '../enhance/face-enhancer.js';
import {
  DEFAULT_ENHANCE_BELOW,
  DEFAULT_UPSCALE_BELOW,
  ENHANCE_MODES,
  enhanceThreshold,
  upscaleThreshold,
  type EnhanceMode,
} from '../enhance/policy.js';
import { DEFAULT_ENHANCE_MODEL_PATH, loadFaceEnhancer } from '../io/node/enhance-model.js';
import { parseNumberOption, usageError, type CliIo, type CommandOptionValues } from './main.js';

/** The face-enhancement flags of the commands that classify faces (analyze, video). */
export const ENHANCE_OPTIONS = {
  enhance: { type: 'string' },
  'enhance-below': { type: 'string' },
  'upscale-below': { type: 'string' },
  'enhance-model': { type: 'string' },
} as const;

export const ENHANCE_NUMERIC_OPTIONS = ['enhance-below', 'upscale-below'] as const;

/** The largest --enhance-below / --upscale-below accepted (a bound, not a useful value). */
const MAX_ENHANCE_BELOW = 10_000;

/** Help lines for the enhancement flags, each with its default. */
export const ENHANCE_HELP = `  --enhance MODE      Restore small faces with the FSRNet super-resolution model before
                      classifying them: auto (default: faces whose box side is under
                      --enhance-below, when the model is installed), always (every face; the
                      model must load) or never (every face takes the plain path, no bicubic
                      enlargement either). The box crop is restored at the image's own
                      resolution to 48x48; landmarks still come from the image and the face
                      is turned upright on the restored crop
  --enhance-below PX  Box side in pixels under which auto restores a face, integer >= 0
                      (default ${DEFAULT_ENHANCE_BELOW}, measured by npm run study:enhance: below it FSRNet
                      classified PublicTest faces better than a bicubic enlargement)
  --upscale-below PX  Box side in pixels under which auto enlarges a face that FSRNet does
                      not restore bicubically (the same crop, no network) instead of by the
                      classifier's own bilinear resize, integer >= 0 (default
                      ${DEFAULT_UPSCALE_BELOW}, measured by npm run study:enhance; 0: off)
  --enhance-model FILE
                      Super-resolution model (default: the shipped models/enhance/fsrnet.onnx,
                      which brings its specialists fsrnet-x2.onnx and fsrnet-x4.onnx; any other
                      file runs alone)`;

export interface EnhanceFlags {
  readonly enhanceMode: EnhanceMode;
  /** Box side below which `auto` restores a face. */
  readonly enhanceBelow: number;
  /** Box side below which `auto` enlarges a face bicubically when FSRNet does not restore it. */
  readonly upscaleBelow: number;
  readonly enhanceModel: string | undefined;
}

/** Checks the enhancement flags; throws a usage error (exit 2) naming the flag, the expectation and the value. */
export function parseEnhanceFlags(values: CommandOptionValues<typeof ENHANCE_OPTIONS>): EnhanceFlags {
  const mode = values.enhance ?? 'auto';
  if (!(ENHANCE_MODES as readonly string[]).includes(mode)) {
    throw usageError(`Expected ${ENHANCE_MODES.join(', ')} for --enhance but received '${mode}'`);
  }
  const enhanceMode = mode as EnhanceMode;
  const threshold = (flag: 'enhance-below' | 'upscale-below', fallback: number): number => {
    const text = values[flag];
    if (text === undefined) return fallback;
    if (enhanceMode !== 'auto') {
      throw usageError(`--${flag} applies to --enhance auto only, not --enhance ${enhanceMode}`);
    }
    const value = parseNumberOption(`--${flag}`, text, 'integer');
    if (value < 0 || value > MAX_ENHANCE_BELOW) {
      throw usageError(
        `Expected an integer from 0 to ${MAX_ENHANCE_BELOW} for --${flag} but received ${text}`,
      );
    }
    return value;
  };
  const enhanceBelow = threshold('enhance-below', DEFAULT_ENHANCE_BELOW);
  const upscaleBelow = threshold('upscale-below', DEFAULT_UPSCALE_BELOW);
  const enhanceModel = values['enhance-model'];
  if (enhanceModel === '')
    throw usageError('Expected a path for --enhance-model but received an empty string');
  if (enhanceModel !== undefined && enhanceMode === 'never') {
    throw usageError('--enhance-model has no use with --enhance never');
  }
  return { enhanceMode, enhanceBelow, upscaleBelow, enhanceModel };
}

/** The enhance stage as the pipeline takes it: no enhancer means no FSRNet; upscaleBelow 0: no bicubic. */
export interface EnhanceStage {
  readonly enhancer?: FaceEnhancer;
  readonly enhanceBelow: number;
  readonly upscaleBelow: number;
}

/**
 * Loads the super-resolution model the flags ask for. `never`: none. `always`: the given or shipped model,
 * which must load. `auto`: the given model (which must load), else the shipped one when installed, else
 * none, with a one-line notice on stderr.
 * @param shipped where the shipped model is looked for (default: the package's).
 * @throws MoodLensError `MOODLENS_ERR_MODEL_LOAD` naming the model and what is wrong.
 */
export async function loadEnhanceStage(
  flags: EnhanceFlags,
  command: string,
  io: CliIo,
  shipped: string = DEFAULT_ENHANCE_MODEL_PATH,
): Promise<EnhanceStage> {
  const { enhanceMode, enhanceModel } = flags;
  const enhanceBelow = enhanceThreshold(enhanceMode, flags.enhanceBelow);
  const upscaleBelow = upscaleThreshold(enhanceMode, flags.upscaleBelow);
  if (enhanceMode === 'never') return { enhanceBelow, upscaleBelow };
  if (enhanceModel !== undefined) {
    return { enhancer: await loadFaceEnhancer(enhanceModel), enhanceBelow, upscaleBelow };
  }
  if (existsSync(shipped)) return { enhancer: await loadFaceEnhancer(shipped), enhanceBelow, upscaleBelow };
  if (enhanceMode === 'always') {
    throw new MoodLensError(
      'MOODLENS_ERR_MODEL_LOAD',
      `${command} --enhance always needs the super-resolution model, which is not installed at ` +
        `${shipped}; give one with --enhance-model FILE`,
    );
  }
  io.stderr(
    `${command}: no super-resolution model at ${shipped}: small faces are classified without FSRNet\n`,
  );
  return { enhanceBelow, upscaleBelow };
}
