/**
 * Frame records kept compactly, column by column in typed arrays (about 70 bytes a record instead of a
 * few hundred for an object), so a long video's records cost little memory while the report waits for
 * the end. Iterating gives fresh FrameRecord objects (scores at float32 precision, `raw` dropped).
 * Browser-safe.
 */
import { EMOTION_LABELS, type Emotion } from '../emotion/labels.js';
import { emptyFrameRecord, type FrameRecord } from './records.js';

const NONE = -1;
/** `person` of a record written before persons existed (the field absent). */
const ABSENT = -2;
const INITIAL_CAPACITY = 1024;

export class FrameRecordStore implements Iterable<FrameRecord> {
  #length = 0;
  #capacity = 0;
  #frame = new Int32Array(0);
  #time = new Float64Array(0);
  /** track, x, y, width, height per record (track NONE for an empty frame). */
  #ints = new Int32Array(0);
  #label = new Int8Array(0);
  /** person per record: NONE for null, ABSENT when the record has none. */
  #person = new Int32Array(0);
  /** confidence, then the seven scores, per record. */
  #floats = new Float32Array(0);

  /** Records stored. */
  get length(): number {
    return this.#length;
  }

  /** Stores a copy of the record's columns (not `raw`). */
  push(record: FrameRecord): void {
    if (this.#length === this.#capacity) this.#grow();
    const i = this.#length++;
    this.#frame[i] = record.frame;
    this.#time[i] = record.time;
    const face = record.track !== null;
    this.#ints.set(
      face
        ? [record.track ?? 0, record.x ?? 0, record.y ?? 0, record.width ?? 0, record.height ?? 0]
        : [NONE, 0, 0, 0, 0],
      i * 5,
    );
    this.#person[i] = record.person === undefined ? ABSENT : (record.person ?? NONE);
    this.#label[i] = face && record.label !== null ? EMOTION_LABELS.indexOf(record.label) : NONE;
    this.#floats[i * 8] = record.confidence ?? 0;
    EMOTION_LABELS.forEach((label, k) => (this.#floats[i * 8 + 1 + k] = record[label] ?? 0));
  }

  /** The record at `index` (0 <= index < length) as a new object. */
  at(index: number): FrameRecord {
    if (!Number.isInteger(index) || index < 0 || index >= this.#length) {
      throw new RangeError(`Expected an index from 0 to ${this.#length - 1} but received ${String(index)}`);
    }
    const track = this.#ints[index * 5];
    const frame = this.#frame[index];
    const time = this.#time[index];
    if (track === NONE) return emptyFrameRecord(frame, time);
    const scores = {} as Record<Emotion, number>;
    EMOTION_LABELS.forEach((label, k) => (scores[label] = this.#floats[index * 8 + 1 + k]));
    const person = this.#person[index];
    return {
      frame,
      time,
      track,
      x: this.#ints[index * 5 + 1],
      y: this.#ints[index * 5 + 2],
      width: this.#ints[index * 5 + 3],
      height: this.#ints[index * 5 + 4],
      label: EMOTION_LABELS[this.#label[index]],
      confidence: this.#floats[index * 8],
      ...scores,
      ...(person === ABSENT ? {} : { person: person === NONE ? null : person }),
    };
  }

  /** Sets the person of every face record of `track` (the offline merge of persons). */
  setPerson(track: number, person: number | null): void {
    for (let i = 0; i < this.#length; i++) {
      if (this.#ints[i * 5] === track) this.#person[i] = person ?? NONE;
    }
  }

  *[Symbol.iterator](): Iterator<FrameRecord> {
    for (let i = 0; i < this.#length; i++) yield this.at(i);
  }

  #grow(): void {
    const capacity = Math.max(INITIAL_CAPACITY, this.#capacity * 2);
    const grow = <T extends Int32Array | Float64Array | Int8Array | Float32Array>(
      old: T,
      size: number,
      make: (n: number) => T,
    ): T => {
      const next = make(size);
      next.set(old);
      return next;
    };
    this.#frame = grow(this.#frame, capacity, (n) => new Int32Array(n));
    this.#time = grow(this.#time, capacity, (n) => new Float64Array(n));
    this.#ints = grow(this.#ints, capacity * 5, (n) => new Int32Array(n));
    this.#label = grow(this.#label, capacity, (n) => new Int8Array(n));
    this.#person = grow(this.#person, capacity, (n) => new Int32Array(n));
    this.#floats = grow(this.#floats, capacity * 8, (n) => new Float32Array(n));
    this.#capacity = capacity;
  }
}
