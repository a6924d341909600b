/**
 * The screening-aid framing of the page, as the session report (src/report) frames it, with the model's
 * measured accuracy and weakest classes read from its machine-readable card (models/emotion/emotion.json,
 * bundled), never typed in by hand.
 */
import {
  modelQualityFromCard,
  SCREENING_NOTICE_BODY,
  SCREENING_NOTICE_TITLE,
  weakestClasses,
  type ModelQuality,
} from '../../src/report/report.js';
import { NEGATIVE_EMOTIONS } from '../../src/report/summary.js';

/** The model's name as `moodlens report` gives it: the file, then its architecture. */
export function modelName(card: unknown): string {
  const arch = (card as { arch?: { arch?: unknown } } | null)?.arch?.arch;
  return `emotion.onnx${typeof arch === 'string' ? ` (${arch.replace(/_/g, ' ')})` : ''}`;
}

/** The model's measured quality from its card, or undefined when the card lacks the figures. */
export function modelQuality(card: unknown): ModelQuality | undefined {
  return modelQualityFromCard(card, modelName(card));
}

/** The report's own notice, so the live page and the report never say it differently. */
export const SCREENING_NOTICE = `${SCREENING_NOTICE_TITLE} ${SCREENING_NOTICE_BODY}`;

const pct = (value: number, digits = 0): string => `${(value * 100).toFixed(digits)}%`;

/** The model paragraph: accuracy, the three weakest classes by recall, and what that means for negative affect. */
export function modelText(model: ModelQuality | undefined): string {
  if (model === undefined) {
    return 'The emotion model has no model card: its accuracy is not known. Treat every figure with extra caution.';
  }
  const weakest = weakestClasses(model, 3);
  const weak = weakest.map((c) => `${c.label} (recognised ${pct(c.recall)} of the time)`).join(', ');
  const negative = weakest.filter((c) => NEGATIVE_EMOTIONS.includes(c.label));
  const caution =
    negative.length === 0
      ? ''
      : ` ${negative.length === weakest.length ? 'All of them are' : `${negative.map((c) => c.label).join(' and ')} ${negative.length === 1 ? 'is' : 'are'}`} ` +
        'negative expressions, so the negative-affect figures are the least certain ones.';
  return (
    `Expressions are recognised by ${model.name}, which labels ${pct(model.accuracy, 1)} of the ` +
    `${model.n.toLocaleString('en')} faces of ${model.testSet} correctly: about one face in ` +
    `${Math.max(2, Math.round(1 / Math.max(1e-9, 1 - model.accuracy)))} is mislabelled. Its weakest classes are ` +
    `${weak}.${caution}`
  );
}
