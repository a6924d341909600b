/**
 * Online re-identification: turns the tracker's tracks (one per unbroken stretch of a face) into persons
 * (one per human, across stretches). A track gets its person once it is confirmed: the person seen before
 * whose appearance (the mean descriptor of src/video/appearance.ts over their frames) is most alike, when
 * alike enough and not in view at the same moment, or else a new person. So a face lost and found again
 * (turned away, hidden, out of frame, a cut) gets its old number back. Pure and browser-safe.
 */
import type { Box } from '../core/image.js';
import { descriptorLength, descriptorSimilarity, DescriptorMean, type DescriptorKind } from './appearance.js';

export interface PersonRegistryOptions {
  /** Descriptor kind. Default `hog` (measured best, docs/people-tracking.md). */
  readonly descriptor?: DescriptorKind;
  /**
   * Smallest cosine similarity of a new track's mean descriptor to a person's for it to be that person.
   * Default 0.9: single HOG frames of one face score above 0.917 in 82% of pairs while 99% of pairs of
   * different people score below it (face300w, `npm run study:reid`); a track's mean over several frames
   * is steadier, so a little lower still keeps false merges rare.
   */
  readonly minSimilarity?: number;
  /**
   * How much the distance from where a person was last seen lowers the score (per frame diagonal), so
   * that of two alike persons the one who left from nearby is picked. Default 0.05.
   */
  readonly positionWeight?: number;
}

export const DEFAULT_PERSON_OPTIONS: Readonly<Required<PersonRegistryOptions>> = Object.freeze({
  descriptor: 'hog',
  minSimilarity: 0.9,
  positionWeight: 0.05,
});

/** One person as the registry knows them. */
export interface PersonState {
  readonly id: number;
  /** Mean descriptor over every detection of the person. */
  readonly appearance: DescriptorMean;
  /** Last detected box and its frame. */
  lastBox: Box;
  lastFrame: number;
  /** The live track showing the person now, if any. */
  track: number | undefined;
}

interface TrackAppearance {
  readonly mean: DescriptorMean;
  lastBox: Box;
}

/**
 * Keeps persons, their appearance and which live track shows each. Call `observe` for every detection of
 * every live track (confirmed or not), `assign` when a track is confirmed, and `release` when the tracker
 * drops a track.
 */
export class PersonRegistry {
  readonly options: Readonly<Required<PersonRegistryOptions>>;
  readonly #persons: PersonState[] = [];
  readonly #personOfTrack = new Map<number, number>();
  readonly #tracks = new Map<number, TrackAppearance>();
  #nextId = 1;

  constructor(options: PersonRegistryOptions = {}) {
    const o = { ...DEFAULT_PERSON_OPTIONS, ...stripUndefined(options) };
    if (!(o.minSimilarity >= -1 && o.minSimilarity <= 1)) {
      throw new RangeError(`Expected minSimilarity in -1..1 but received ${String(o.minSimilarity)}`);
    }
    if (!(o.positionWeight >= 0 && Number.isFinite(o.positionWeight))) {
      throw new RangeError(`Expected a finite positionWeight >= 0 but received ${String(o.positionWeight)}`);
    }
    this.options = Object.freeze(o);
  }

  /** The person a track shows, once assigned. */
  personOf(track: number): number | undefined {
    return this.#personOfTrack.get(track);
  }

  /** Every person so far, oldest first. */
  get persons(): readonly PersonState[] {
    return this.#persons;
  }

  /** Records one detection of a live track: its descriptor and box (and the person's, once it has one). */
  observe(track: number, descriptor: Float32Array, box: Box, frame: number): void {
    let state = this.#tracks.get(track);
    if (state === undefined) {
      state = { mean: new DescriptorMean(descriptorLength(this.options.descriptor)), lastBox: box };
      this.#tracks.set(track, state);
    }
    state.mean.add(descriptor);
    state.lastBox = box;
    const id = this.#personOfTrack.get(track);
    if (id !== undefined) {
      const person = this.#persons[id - 1];
      person.appearance.add(descriptor);
      person.lastBox = box;
      person.lastFrame = frame;
    }
  }

  /**
   * Gives a confirmed track its person: the most alike person not shown by another live track, when the
   * similarity (less the position term) reaches minSimilarity, else a new one. `frameDiagonal` scales the
   * position term. Returns the person id (the same on every later call for the track).
   */
  assign(track: number, frame: number, frameDiagonal: number): number {
    const known = this.#personOfTrack.get(track);
    if (known !== undefined) return known;
    const state = this.#tracks.get(track);
    let best: { person: PersonState; score: number } | undefined;
    if (state !== undefined && state.mean.count > 0) {
      const appearance = state.mean.value();
      for (const person of this.#persons) {
        if (person.track !== undefined) continue;
        const similarity = descriptorSimilarity(appearance, person.appearance.value());
        if (similarity < this.options.minSimilarity) continue;
        const distance = centreDistance(state.lastBox, person.lastBox) / Math.max(1, frameDiagonal);
        const score = similarity - this.options.positionWeight * Math.min(1, distance);
        if (best === undefined || score > best.score) best = { person, score };
      }
    }
    let person = best?.person;
    if (person === undefined) {
      person = {
        id: this.#nextId++,
        appearance: new DescriptorMean(descriptorLength(this.options.descriptor)),
        lastBox: state?.lastBox ?? { x: 0, y: 0, width: 1, height: 1 },
        lastFrame: frame,
        track: undefined,
      };
      this.#persons.push(person);
    }
    person.track = track;
    if (state !== undefined) person.appearance.addMean(state.mean);
    person.lastFrame = frame;
    this.#personOfTrack.set(track, person.id);
    return person.id;
  }

  /** The tracker dropped `track`: its person (if any) may now be recognised again in another track. */
  release(track: number): void {
    this.#tracks.delete(track);
    const id = this.#personOfTrack.get(track);
    if (id !== undefined) {
      const person = this.#persons[id - 1];
      if (person.track === track) person.track = undefined;
    }
  }
}

function centreDistance(a: Box, b: Box): number {
  return Math.hypot(a.x + a.width / 2 - (b.x + b.width / 2), a.y + a.height / 2 - (b.y + b.height / 2));
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
