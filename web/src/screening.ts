/**
 * The screening-aid framing of the page, with the model's measured accuracy and weakest classes read
 * from its machine-readable card (models/emotion/emotion.json), never typed in by hand.
 */
import type { Emotion } from '../../src/core.js';

/** The parts of models/emotion/emotion.json the page uses. */
export interface ModelCard {
  readonly publicTest: { readonly n: number; readonly accuracy: number };
  readonly perClass: Readonly<Record<Emotion, { readonly recall: number; readonly n: number }>>;
}

export interface ScreeningFacts {
  /** FER-2013 PublicTest accuracy, 0-1, and the number of test faces. */
  readonly accuracy: number;
  readonly testFaces: number;
  /** The two classes the model finds least often (lowest recall), weakest first. */
  readonly weakest: readonly { readonly label: Emotion; readonly recall: number; readonly n: number }[];
}

export function screeningFacts(card: ModelCard, weakestCount = 2): ScreeningFacts {
  const classes = Object.entries(card.perClass) as [Emotion, { recall: number; n: number }][];
  const weakest = classes
    .map(([label, m]) => ({ label, recall: m.recall, n: m.n }))
    .sort((a, b) => a.recall - b.recall)
    .slice(0, weakestCount);
  return { accuracy: card.publicTest.accuracy, testFaces: card.publicTest.n, weakest };
}

const percent = (value: number): string => `${(value * 100).toFixed(1)}%`;

/** The paragraph shown on the page (plain text). */
export function screeningText(facts: ScreeningFacts): string {
  const weak = facts.weakest
    .map((w) => `${w.label} (it finds ${percent(w.recall)} of ${w.n} test faces)`)
    .join(' and ');
  return (
    'A screening aid that supports a professional, never a diagnosis. It reads facial expressions, not ' +
    'feelings: a face can show one thing and a person feel another. ' +
    `The emotion model labels ${percent(facts.accuracy)} of the ${facts.testFaces.toLocaleString('en')} ` +
    `FER-2013 PublicTest faces correctly; it is weakest on ${weak}, so treat those labels with most care.`
  );
}
