/**
 * How the page words the super-resolution stage: what it does with small faces (in the engine line), and
 * why FSRNet is off when it was asked for and did not load (the note shown under the controls).
 */
import type { ModelSummary } from './protocol.js';

type EnhanceSummary = Pick<
  ModelSummary,
  'enhancer' | 'enhancerModels' | 'enhancerProblem' | 'enhanceBelow' | 'upscaleBelow'
>;

/** The engine line's part on small faces, e.g. `small faces: FSRNet under 32 px (3 models, tagged "FSRNet"), bicubic under 48 px`. */
export function enhanceSummaryText(model: EnhanceSummary): string {
  const { enhancer, enhancerModels, enhanceBelow, upscaleBelow } = model;
  const models = `${enhancerModels} model${enhancerModels === 1 ? '' : 's'}, tagged "FSRNet"`;
  const fsrnet = !enhancer
    ? 'FSRNet off'
    : Number.isFinite(enhanceBelow)
      ? `FSRNet under ${enhanceBelow} px (${models})`
      : `FSRNet for every face (${models})`;
  // Under the FSRNet threshold the bicubic one only matters for faces FSRNet does not take.
  const bicubicFrom = enhancer ? enhanceBelow : 0;
  const bicubic = upscaleBelow > bicubicFrom ? `, bicubic under ${upscaleBelow} px` : '';
  return `small faces: ${fsrnet}${bicubic}`;
}

/** The note for FSRNet asked for but not loaded (naming the file and what arrived); undefined otherwise. */
export function enhanceProblemNote(model: EnhanceSummary): string | undefined {
  if (model.enhancer || model.enhancerProblem === undefined) return undefined;
  const instead =
    model.upscaleBelow > 0
      ? `faces under ${model.upscaleBelow} px are enlarged bicubically instead`
      : 'small faces take the plain path';
  return `Super-resolution unavailable: ${instead}. ${model.enhancerProblem}`;
}
