import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isMoodLensError } from '../src/core/errors.js';
import { FrameRecordStore } from '../src/report/record-store.js';
import { EMOTION_LABELS, type Emotion } from '../src/emotion/labels.js';
import {
  emptyFrameRecord,
  FRAME_CSV_COLUMNS,
  formatFramesCsv,
  parseFrames,
  parseFramesCsv,
  parseFramesJson,
  type FrameRecord,
} from '../src/report/records.js';

function scores(values: readonly number[]): Record<Emotion, number> {
  return Object.fromEntries(EMOTION_LABELS.map((label, i) => [label, values[i]])) as Record<Emotion, number>;
}

function face(frame: number, time: number, track: number, values: readonly number[]): FrameRecord {
  const s = scores(values);
  const label = EMOTION_LABELS.reduce((best, l) => (s[l] > s[best] ? l : best), EMOTION_LABELS[0]);
  return {
    frame,
    time,
    track,
    x: 10 * track,
    y: -3,
    width: 40,
    height: 41,
    label,
    confidence: s[label],
    ...s,
  };
}

const SAMPLE: FrameRecord[] = [
  face(0, 0, 1, [0.1, 0.05, 0.05, 0.6, 0.1, 0.05, 0.05]),
  face(0, 0, 2, [0.5, 0.1, 0.1, 0.1, 0.1, 0.05, 0.05]),
  emptyFrameRecord(1, 1 / 30),
  face(2, 2 / 30, 1, [1 / 7, 1 / 7, 1 / 7, 1 / 7, 1 / 7, 1 / 7, 1 / 7]),
];

/** Asserts `fn` throws MOODLENS_ERR_INVALID_FRAMES with a message matching `pattern`. */
function assertInvalid(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(isMoodLensError(error), String(error));
    assert.equal(error.code, 'MOODLENS_ERR_INVALID_FRAMES');
    assert.match(error.message, pattern);
    return true;
  });
}

void describe('frames.csv', () => {
  void test('header is the documented one, in EMOTION_LABELS order', () => {
    assert.deepEqual(FRAME_CSV_COLUMNS.slice(9), [...EMOTION_LABELS]);
    const csv = formatFramesCsv([]);
    assert.equal(
      csv,
      'frame,time,track,x,y,width,height,label,confidence,angry,disgust,fear,happy,sad,surprise,neutral,person\n',
    );
  });

  void test('rows: empty cells for a frame without faces, 3-decimal times, 4-decimal scores', () => {
    const lines = formatFramesCsv(SAMPLE).trimEnd().split('\n');
    assert.equal(lines.length, 1 + SAMPLE.length);
    assert.equal(
      lines[1],
      '0,0.000,1,10,-3,40,41,happy,0.6000,0.1000,0.0500,0.0500,0.6000,0.1000,0.0500,0.0500,',
    );
    assert.equal(lines[3], '1,0.033,,,,,,,,,,,,,,,');
    assert.equal(lines[4].split(',')[9], '0.1429');
  });

  void test('round trip: parse(format(records)) equals the records to the written precision', () => {
    const parsed = parseFramesCsv(formatFramesCsv(SAMPLE));
    assert.equal(parsed.length, SAMPLE.length);
    parsed.forEach((record, i) => {
      const original = SAMPLE[i];
      for (const column of FRAME_CSV_COLUMNS) {
        const a = record[column];
        const b = original[column];
        if (typeof b === 'number' && typeof a === 'number') assert.ok(Math.abs(a - b) <= 5e-4, `${column}`);
        else assert.equal(a, b, `${i} ${column}`);
      }
    });
    // Formatting the parsed records again gives the same bytes.
    assert.equal(formatFramesCsv(parsed), formatFramesCsv(SAMPLE));
  });

  void test('accepts CRLF, a byte-order mark, quoted cells, blank lines and extra trailing columns', () => {
    const csv = formatFramesCsv(SAMPLE)
      .split('\n')
      .map((line, i) => (line === '' ? line : i === 0 ? `${line},note` : `${line},x`))
      .join('\r\n')
      .replace('happy', '"happy"');
    const parsed = parseFramesCsv(`\ufeff\r\n${csv}\r\n\r\n`);
    assert.equal(parsed.length, SAMPLE.length);
    assert.equal(parsed[0].label, 'happy');
  });

  void test('malformed input: coded errors naming the line and the column', () => {
    const good = formatFramesCsv(SAMPLE);
    assertInvalid(() => parseFramesCsv(''), /empty/);
    assertInvalid(() => parseFramesCsv('frame,time,track\n0,0,\n'), /line 1: .*column 4/);
    assertInvalid(() => parseFramesCsv(good.replace('0,0.000,1,10', '0,abc,1,10')), /line 2: .*time .*'abc'/);
    assertInvalid(
      () => parseFramesCsv(good.replace(',happy,0.6', ',joyful,0.6')),
      /line 2: .*label .*'joyful'/,
    );
    assertInvalid(
      () => parseFramesCsv(good.replace('1,0.033,,,,,,,', '1,0.033,,,,,,sad,')),
      /line 4: label is set/,
    );
    assertInvalid(
      () => parseFramesCsv(good.replace(',10,-3,40,', ',10,-3,,')),
      /line 2: track is set but width/,
    );
    assertInvalid(
      () => parseFramesCsv(good.replace(',0.6000,0.1000', ',1.6000,0.1000')),
      /line 2: .*confidence/,
    );
    assertInvalid(
      () => parseFramesCsv(good.replace('0,0.000,1,10', '0.5,0.000,1,10')),
      /line 2: .*integer for frame/,
    );
    assertInvalid(() => parseFramesCsv(good.replace('0,0.000,1,10', '0,0.000,0,10')), /line 2: .*track >= 1/);
    assertInvalid(() => parseFramesCsv(`${good}5,1\n`), /line 6: expected 16 .* found 2/);
  });
});

void describe('frames JSON', () => {
  const withRaw = SAMPLE.map((r) => (r.track === null ? r : { ...r, raw: scores([0, 0, 0, 1, 0, 0, 0]) }));

  void test('an array or {records: [...]}; raw kept; JSON round trip is exact', () => {
    assert.deepEqual(parseFramesJson(JSON.stringify(withRaw)), withRaw);
    assert.deepEqual(parseFramesJson(JSON.stringify({ video: { fps: 30 }, records: withRaw })), withRaw);
  });

  void test('parseFrames sniffs the form', () => {
    assert.deepEqual(parseFrames(`  ${JSON.stringify(withRaw)}`), withRaw);
    assert.equal(parseFrames(formatFramesCsv(SAMPLE)).length, SAMPLE.length);
  });

  void test('malformed JSON: coded errors naming the record and the field', () => {
    assertInvalid(() => parseFramesJson('{"records": 3}'), /"records" array/);
    assertInvalid(() => parseFramesJson('[1, 2'), /not valid JSON/);
    assertInvalid(() => parseFramesJson('[3]'), /record 0: expected an object/);
    assertInvalid(() => parseFramesJson(JSON.stringify([{ ...SAMPLE[0], sad: 'x' }])), /record 0: .*sad/);
    assertInvalid(
      () => parseFramesJson(JSON.stringify([SAMPLE[0], { ...SAMPLE[1], raw: { happy: 1 } }])),
      /record 1: .*raw\.angry/,
    );
    assertInvalid(() => parseFramesJson(JSON.stringify([{ frame: 1 }])), /record 0: .*time/);
  });
});

void describe('FrameRecordStore', () => {
  void test('keeps records compactly and gives them back equal (scores at float32 precision, no raw)', () => {
    const store = new FrameRecordStore();
    const many: FrameRecord[] = [];
    for (let i = 0; i < 3000; i++) {
      const base = SAMPLE[i % SAMPLE.length];
      many.push({
        ...base,
        frame: i,
        time: i / 30,
        ...(base.track === null ? {} : { raw: scores([1, 0, 0, 0, 0, 0, 0]) }),
      });
    }
    for (const record of many) store.push(record);
    assert.equal(store.length, many.length);
    const back = [...store];
    back.forEach((record, i) => {
      const expected = many[i];
      for (const column of FRAME_CSV_COLUMNS) {
        const a = record[column];
        const b = expected[column];
        if (typeof a === 'number' && typeof b === 'number')
          assert.ok(Math.abs(a - b) < 1e-6, `${i} ${column}`);
        else assert.equal(a, b, `${i} ${column}`);
      }
      assert.equal('raw' in record, false);
    });
    assert.throws(() => store.at(3000), /index from 0 to 2999/);
  });
});
