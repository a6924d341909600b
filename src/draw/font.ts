/**
 * MoodLens's built-in bitmap font, so labels render the same on every machine (a fresh server or a
 * browser worker may have no fonts at all). Browser-safe: no Node imports.
 *
 * Each glyph is 5 pixels wide in a cell 6 pixels wide (one column of spacing) and 9 rows tall: 7 rows
 * from the cap line down to the baseline, then 2 rows for descenders (g, j, p, q, y, the comma).
 * Text is drawn at an integer `scale`: each font pixel becomes a `scale` x `scale` block.
 */

/** Font metrics in font pixels (multiply by the scale for image pixels). */
export const FONT_METRICS = {
  /** Ink width of every glyph. */
  glyphWidth: 5,
  /** Horizontal distance from one glyph's left edge to the next one's. */
  advance: 6,
  /** Rows from the top of the cell to the baseline (capitals and digits fill them all). */
  ascent: 7,
  /** Rows below the baseline, for descenders. */
  descent: 2,
  /** `ascent + descent`: the height of a line of text. */
  lineHeight: 9,
} as const;

/** The size of a string drawn at a scale, in image pixels. */
export interface TextSize {
  /** From the left edge of the first glyph to the right edge of the last one's ink (no trailing gap). */
  readonly width: number;
  /** A full line: ascent and descent, whatever the characters. */
  readonly height: number;
}

/**
 * Glyphs drawn as rows of '#' (ink) and '.' (blank), 5 columns each. 7 rows (cap line to baseline) or 9
 * (with descender rows). Read them as they are: they are the source of truth, parsed once at load.
 */
const GLYPH_SOURCE: Readonly<Record<string, readonly string[]>> = {
  A: ['.###.', '#...#', '#...#', '#####', '#...#', '#...#', '#...#'],
  B: ['####.', '#...#', '#...#', '####.', '#...#', '#...#', '####.'],
  C: ['.###.', '#...#', '#....', '#....', '#....', '#...#', '.###.'],
  D: ['####.', '#...#', '#...#', '#...#', '#...#', '#...#', '####.'],
  E: ['#####', '#....', '#....', '####.', '#....', '#....', '#####'],
  F: ['#####', '#....', '#....', '####.', '#....', '#....', '#....'],
  G: ['.###.', '#...#', '#....', '#.###', '#...#', '#...#', '.####'],
  H: ['#...#', '#...#', '#...#', '#####', '#...#', '#...#', '#...#'],
  I: ['.###.', '..#..', '..#..', '..#..', '..#..', '..#..', '.###.'],
  J: ['..###', '...#.', '...#.', '...#.', '...#.', '#..#.', '.##..'],
  K: ['#...#', '#..#.', '#.#..', '##...', '#.#..', '#..#.', '#...#'],
  L: ['#....', '#....', '#....', '#....', '#....', '#....', '#####'],
  M: ['#...#', '##.##', '#.#.#', '#.#.#', '#...#', '#...#', '#...#'],
  N: ['#...#', '#...#', '##..#', '#.#.#', '#..##', '#...#', '#...#'],
  O: ['.###.', '#...#', '#...#', '#...#', '#...#', '#...#', '.###.'],
  P: ['####.', '#...#', '#...#', '####.', '#....', '#....', '#....'],
  Q: ['.###.', '#...#', '#...#', '#...#', '#.#.#', '#..#.', '.##.#'],
  R: ['####.', '#...#', '#...#', '####.', '#.#..', '#..#.', '#...#'],
  S: ['.####', '#....', '#....', '.###.', '....#', '....#', '####.'],
  T: ['#####', '..#..', '..#..', '..#..', '..#..', '..#..', '..#..'],
  U: ['#...#', '#...#', '#...#', '#...#', '#...#', '#...#', '.###.'],
  V: ['#...#', '#...#', '#...#', '#...#', '#...#', '.#.#.', '..#..'],
  W: ['#...#', '#...#', '#...#', '#.#.#', '#.#.#', '#.#.#', '.#.#.'],
  X: ['#...#', '#...#', '.#.#.', '..#..', '.#.#.', '#...#', '#...#'],
  Y: ['#...#', '#...#', '.#.#.', '..#..', '..#..', '..#..', '..#..'],
  Z: ['#####', '....#', '...#.', '..#..', '.#...', '#....', '#####'],

  a: ['.....', '.....', '.###.', '....#', '.####', '#...#', '.####'],
  b: ['#....', '#....', '####.', '#...#', '#...#', '#...#', '####.'],
  c: ['.....', '.....', '.###.', '#....', '#....', '#...#', '.###.'],
  d: ['....#', '....#', '.####', '#...#', '#...#', '#...#', '.####'],
  e: ['.....', '.....', '.###.', '#...#', '#####', '#....', '.###.'],
  f: ['..##.', '.#..#', '.#...', '###..', '.#...', '.#...', '.#...'],
  g: ['.....', '.....', '.####', '#...#', '#...#', '#...#', '.####', '....#', '.###.'],
  h: ['#....', '#....', '#.##.', '##..#', '#...#', '#...#', '#...#'],
  i: ['..#..', '.....', '.##..', '..#..', '..#..', '..#..', '.###.'],
  j: ['...#.', '.....', '..##.', '...#.', '...#.', '...#.', '...#.', '#..#.', '.##..'],
  k: ['#....', '#....', '#..#.', '#.#..', '##...', '#.#..', '#..#.'],
  l: ['.##..', '..#..', '..#..', '..#..', '..#..', '..#..', '.###.'],
  m: ['.....', '.....', '##.#.', '#.#.#', '#.#.#', '#.#.#', '#...#'],
  n: ['.....', '.....', '#.##.', '##..#', '#...#', '#...#', '#...#'],
  o: ['.....', '.....', '.###.', '#...#', '#...#', '#...#', '.###.'],
  p: ['.....', '.....', '####.', '#...#', '#...#', '#...#', '####.', '#....', '#....'],
  q: ['.....', '.....', '.####', '#...#', '#...#', '#...#', '.####', '....#', '....#'],
  r: ['.....', '.....', '#.##.', '##..#', '#....', '#....', '#....'],
  s: ['.....', '.....', '.####', '#....', '.###.', '....#', '####.'],
  t: ['.#...', '.#...', '###..', '.#...', '.#...', '.#..#', '..##.'],
  u: ['.....', '.....', '#...#', '#...#', '#...#', '#..##', '.##.#'],
  v: ['.....', '.....', '#...#', '#...#', '#...#', '.#.#.', '..#..'],
  w: ['.....', '.....', '#...#', '#...#', '#.#.#', '#.#.#', '.#.#.'],
  x: ['.....', '.....', '#...#', '.#.#.', '..#..', '.#.#.', '#...#'],
  y: ['.....', '.....', '#...#', '#...#', '#...#', '#...#', '.####', '....#', '.###.'],
  z: ['.....', '.....', '#####', '...#.', '..#..', '.#...', '#####'],

  '0': ['.###.', '#...#', '#..##', '#.#.#', '##..#', '#...#', '.###.'],
  '1': ['..#..', '.##..', '..#..', '..#..', '..#..', '..#..', '.###.'],
  '2': ['.###.', '#...#', '....#', '...#.', '..#..', '.#...', '#####'],
  '3': ['#####', '...#.', '..#..', '...#.', '....#', '#...#', '.###.'],
  '4': ['...#.', '..##.', '.#.#.', '#..#.', '#####', '...#.', '...#.'],
  '5': ['#####', '#....', '####.', '....#', '....#', '#...#', '.###.'],
  '6': ['..##.', '.#...', '#....', '####.', '#...#', '#...#', '.###.'],
  '7': ['#####', '....#', '...#.', '..#..', '.#...', '.#...', '.#...'],
  '8': ['.###.', '#...#', '#...#', '.###.', '#...#', '#...#', '.###.'],
  '9': ['.###.', '#...#', '#...#', '.####', '....#', '...#.', '.##..'],

  ' ': ['.....', '.....', '.....', '.....', '.....', '.....', '.....'],
  '.': ['.....', '.....', '.....', '.....', '.....', '.##..', '.##..'],
  ',': ['.....', '.....', '.....', '.....', '.....', '.##..', '.##..', '..#..', '.#...'],
  ':': ['.....', '.##..', '.##..', '.....', '.##..', '.##..', '.....'],
  ';': ['.....', '.##..', '.##..', '.....', '.....', '.##..', '.##..', '..#..', '.#...'],
  '%': ['##...', '##..#', '...#.', '..#..', '.#...', '#..##', '...##'],
  '-': ['.....', '.....', '.....', '#####', '.....', '.....', '.....'],
  '+': ['.....', '..#..', '..#..', '#####', '..#..', '..#..', '.....'],
  '=': ['.....', '.....', '#####', '.....', '#####', '.....', '.....'],
  '#': ['.#.#.', '.#.#.', '#####', '.#.#.', '#####', '.#.#.', '.#.#.'],
  '(': ['...#.', '..#..', '.#...', '.#...', '.#...', '..#..', '...#.'],
  ')': ['.#...', '..#..', '...#.', '...#.', '...#.', '..#..', '.#...'],
  '[': ['.###.', '.#...', '.#...', '.#...', '.#...', '.#...', '.###.'],
  ']': ['.###.', '...#.', '...#.', '...#.', '...#.', '...#.', '.###.'],
  '/': ['.....', '....#', '...#.', '..#..', '.#...', '#....', '.....'],
  '*': ['.....', '..#..', '#.#.#', '.###.', '#.#.#', '..#..', '.....'],
  _: ['.....', '.....', '.....', '.....', '.....', '.....', '.....', '.....', '#####'],
  '?': ['.###.', '#...#', '....#', '...#.', '..#..', '.....', '..#..'],
  '!': ['..#..', '..#..', '..#..', '..#..', '..#..', '.....', '..#..'],
  "'": ['..#..', '..#..', '.#...', '.....', '.....', '.....', '.....'],
  '"': ['.#.#.', '.#.#.', '.....', '.....', '.....', '.....', '.....'],
};

/** Drawn for characters the font lacks: an empty box the size of a capital. */
const REPLACEMENT_SOURCE: readonly string[] = ['#####', '#...#', '#...#', '#...#', '#...#', '#...#', '#####'];

/**
 * A parsed glyph: its ink as horizontal runs, so a scaled glyph is drawn with one rectangle per run
 * instead of one per font pixel. Each run is `[row, column, length]` in font pixels.
 */
export interface Glyph {
  readonly runs: readonly (readonly [row: number, column: number, length: number])[];
}

function parseGlyph(name: string, rows: readonly string[]): Glyph {
  if (rows.length !== FONT_METRICS.ascent && rows.length !== FONT_METRICS.lineHeight) {
    throw new RangeError(`Glyph ${JSON.stringify(name)} has ${rows.length} rows, expected 7 or 9`);
  }
  const runs: [number, number, number][] = [];
  rows.forEach((row, r) => {
    if (!/^[#.]{5}$/.test(row)) {
      throw new RangeError(
        `Glyph ${JSON.stringify(name)} row ${r} is ${JSON.stringify(row)}, expected 5 of # or .`,
      );
    }
    for (let c = 0; c < row.length;) {
      if (row[c] !== '#') {
        c++;
        continue;
      }
      const start = c;
      while (c < row.length && row[c] === '#') c++;
      runs.push([r, start, c - start]);
    }
  });
  return { runs };
}

const GLYPHS: ReadonlyMap<string, Glyph> = new Map(
  Object.entries(GLYPH_SOURCE).map(([char, rows]) => [char, parseGlyph(char, rows)]),
);
const REPLACEMENT = parseGlyph('replacement', REPLACEMENT_SOURCE);

/** The characters the font draws; any other character is drawn as an empty box. */
export const FONT_CHARACTERS: string = [...GLYPHS.keys()].join('');

/** Whether the font has a glyph for this character (one code point). */
export function hasGlyph(char: string): boolean {
  return GLYPHS.has(char);
}

/** The glyph for one character (one code point), or the replacement box when the font lacks it. */
export function glyphFor(char: string): Glyph {
  return GLYPHS.get(char) ?? REPLACEMENT;
}

/** Checks a text scale: a positive integer (the font is a bitmap, scaled by whole pixels). */
export function checkScale(scale: number, name = 'scale'): number {
  if (!Number.isInteger(scale) || scale < 1) {
    throw new RangeError(`Expected a positive integer for ${name} but received ${String(scale)}`);
  }
  return scale;
}

/**
 * The size of `text` drawn at `scale` (a positive integer), in image pixels. Counts code points, so
 * each character, known or not, takes one cell. The empty string measures 0 wide.
 */
export function measureText(text: string, scale = 1): TextSize {
  checkScale(scale);
  const count = [...text].length;
  return {
    width:
      count === 0
        ? 0
        : (count * FONT_METRICS.advance - (FONT_METRICS.advance - FONT_METRICS.glyphWidth)) * scale,
    height: FONT_METRICS.lineHeight * scale,
  };
}
