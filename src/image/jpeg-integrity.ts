/**
 * Finds damage in a JPEG file by walking its entropy-coded data. libjpeg recovers from most damage with
 * a warning ("Corrupt JPEG data: 216 extraneous bytes before marker", "bad Huffman code") and hands back
 * a garbled picture, which sharp passes on even with `failOn: 'warning'`; a garbled face is then
 * analysed as if it were real. This walker decodes every Huffman symbol of every block (no DCT, no
 * pixels) and reports the first thing a well-formed file cannot contain:
 * - a code that is in no Huffman table, a DC difference or AC value too large for the precision,
 *   coefficients beyond the 64 of a block;
 * - scan data that runs into a marker before its last block, or extra bytes after it;
 * - a missing or out-of-order restart marker, tables or a frame header that are missing or malformed,
 *   a file that ends before its end-of-image marker.
 * Baseline and extended sequential Huffman files (SOF0, SOF1: what cameras, phones and most encoders
 * write) are checked; progressive, lossless and arithmetic-coded files are reported as unchecked and
 * left to the decoder. Pure: bytes in, verdict out.
 */

export type JpegIntegrity =
  | { readonly status: 'intact' }
  | { readonly status: 'damaged'; readonly reason: string; readonly offset: number }
  | { readonly status: 'unchecked'; readonly reason: string };

interface HuffmanTable {
  /** Codes up to LOOKUP_BITS long: (length << 8 | symbol) at every index the code prefixes; 0 if longer. */
  readonly lookup: Uint16Array;
  /** Per code length 1..16: the largest code (-1 when none), the first code and its index in values. */
  readonly maxCode: Int32Array;
  readonly minCode: Int32Array;
  readonly valueIndex: Int32Array;
  readonly values: Uint8Array;
}

interface FrameComponent {
  readonly id: number;
  readonly h: number;
  readonly v: number;
}

interface Frame {
  readonly precision: number;
  readonly width: number;
  readonly height: number;
  readonly components: readonly FrameComponent[];
  readonly hMax: number;
  readonly vMax: number;
}

const LOOKUP_BITS = 9;

/** Thrown inside the walker; turned into the 'damaged' verdict. */
class Damage extends Error {
  constructor(
    readonly reason: string,
    readonly offset: number,
  ) {
    super(reason);
  }
}

function hex(marker: number): string {
  return `0xFF${marker.toString(16).toUpperCase().padStart(2, '0')}`;
}

/** Builds the canonical Huffman decoder of a DHT table (JPEG spec, annex C and F.2.2.3). */
function buildTable(counts: Uint8Array, values: Uint8Array, offset: number): HuffmanTable {
  const maxCode = new Int32Array(18).fill(-1);
  const minCode = new Int32Array(17);
  const valueIndex = new Int32Array(17);
  const lookup = new Uint16Array(1 << LOOKUP_BITS);
  let code = 0;
  let k = 0;
  for (let length = 1; length <= 16; length++) {
    const count = counts[length - 1];
    valueIndex[length] = k;
    minCode[length] = code;
    for (let i = 0; i < count; i++, code++, k++) {
      if (length <= LOOKUP_BITS) {
        const shift = LOOKUP_BITS - length;
        const entry = (length << 8) | values[k];
        for (let fill = code << shift, end = (code + 1) << shift; fill < end; fill++) lookup[fill] = entry;
      }
    }
    if (count > 0) maxCode[length] = code - 1;
    // More codes of this length than the length allows (the all-ones code is reserved).
    if (code > (1 << length) - (length === 16 ? 1 : 0)) {
      throw new Damage('a Huffman table has more codes than its code lengths allow', offset);
    }
    code <<= 1;
  }
  return { lookup, maxCode, minCode, valueIndex, values };
}

/**
 * Reads the bits of one scan. Bytes 0xFF 0x00 are a literal 0xFF; any other 0xFF xx is a marker, past
 * which the reader supplies zero bits but counts them, so using one is reported as damage.
 */
class ScanBits {
  pos: number;
  #acc = 0;
  #bits = 0;
  /** Zero bits appended after a marker (or the end of the file) was met. */
  #pad = 0;
  #stopped = false;

  constructor(
    readonly data: Uint8Array,
    start: number,
  ) {
    this.pos = start;
  }

  #fill(): void {
    const { data } = this;
    while (this.#bits <= 16) {
      let byte = 0;
      if (!this.#stopped) {
        if (this.pos >= data.length) {
          this.#stopped = true;
        } else if (data[this.pos] !== 0xff) {
          byte = data[this.pos++];
        } else if (data[this.pos + 1] === 0x00) {
          byte = 0xff;
          this.pos += 2;
        } else {
          this.#stopped = true;
        }
      }
      if (this.#stopped) this.#pad += 8;
      this.#acc = ((this.#acc & ((1 << this.#bits) - 1)) << 8) | byte;
      this.#bits += 8;
    }
  }

  #peek(n: number): number {
    return (this.#acc >>> (this.#bits - n)) & ((1 << n) - 1);
  }

  #consume(n: number): void {
    this.#bits -= n;
    if (this.#bits < this.#pad) {
      throw new Damage(
        this.pos >= this.data.length
          ? 'the file ends inside the image data (truncated)'
          : `the image data runs into marker ${hex(this.data[this.pos + 1])} before its last block`,
        this.pos,
      );
    }
  }

  /** `n` (0..16) raw bits. */
  receive(n: number): number {
    if (n === 0) return 0;
    this.#fill();
    const value = this.#peek(n);
    this.#consume(n);
    return value;
  }

  decode(table: HuffmanTable): number {
    this.#fill();
    const entry = table.lookup[this.#peek(LOOKUP_BITS)];
    if (entry !== 0) {
      this.#consume(entry >> 8);
      return entry & 0xff;
    }
    for (let length = LOOKUP_BITS + 1; length <= 16; length++) {
      const code = this.#peek(length);
      if (code <= table.maxCode[length]) {
        this.#consume(length);
        return table.values[table.valueIndex[length] + code - table.minCode[length]];
      }
    }
    throw new Damage('a Huffman code that is in no table (bad Huffman code)', this.pos);
  }

  /**
   * Ends an entropy-coded segment: drops the padding bits of the last byte and returns the offset of the
   * next marker. Whole bytes left before it are damage (libjpeg's "extraneous bytes before marker").
   */
  finish(): number {
    const realBits = this.#bits - this.#pad;
    let extra = Math.floor(realBits / 8);
    const { data } = this;
    let pos = this.pos;
    if (!this.#stopped) {
      while (pos < data.length && !(data[pos] === 0xff && data[pos + 1] !== 0x00)) {
        pos += data[pos] === 0xff ? 2 : 1;
        extra++;
      }
    }
    if (extra > 0) {
      const next = pos + 1 < data.length ? `marker ${hex(data[pos + 1])}` : 'the end of the file';
      throw new Damage(`${extra} extraneous byte(s) before ${next}`, pos);
    }
    this.#acc = 0;
    this.#bits = 0;
    this.#pad = 0;
    this.#stopped = false;
    this.pos = pos;
    return pos;
  }
}

function u16(data: Uint8Array, at: number): number {
  return (data[at] << 8) | data[at + 1];
}

/** Checks the whole file; see the module comment. */
export function checkJpegIntegrity(data: Uint8Array): JpegIntegrity {
  if (data.length < 4 || data[0] !== 0xff || data[1] !== 0xd8) {
    return { status: 'unchecked', reason: 'not a JPEG file' };
  }
  try {
    return walk(data);
  } catch (error) {
    if (error instanceof Damage) return { status: 'damaged', reason: error.reason, offset: error.offset };
    throw error;
  }
}

function walk(data: Uint8Array): JpegIntegrity {
  const dcTables: (HuffmanTable | undefined)[] = [];
  const acTables: (HuffmanTable | undefined)[] = [];
  let frame: Frame | undefined;
  let restartInterval = 0;
  let scans = 0;
  let pos = 2;
  for (;;) {
    if (pos >= data.length) {
      throw new Damage('the file ends before its end-of-image marker (truncated)', pos);
    }
    if (data[pos] !== 0xff) throw new Damage('bytes between segments that are no marker', pos);
    while (data[pos] === 0xff) pos++; // fill bytes
    if (pos >= data.length) throw new Damage('the file ends inside a marker (truncated)', pos);
    const marker = data[pos++];
    if (marker === 0xd9) {
      if (scans === 0) throw new Damage('an end-of-image marker before any image data', pos - 2);
      return { status: 'intact' };
    }
    if (marker === 0xd8) throw new Damage('a second start-of-image marker', pos - 2);
    // Stray restart markers and TEM carry no length.
    if ((marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) continue;
    if (marker === 0x00) throw new Damage('a stuffed 0xFF00 outside image data', pos - 2);
    if (pos + 2 > data.length) throw new Damage('the file ends inside a segment header (truncated)', pos);
    const length = u16(data, pos);
    const start = pos + 2;
    const end = pos + length;
    if (length < 2 || end > data.length) {
      throw new Damage(`segment ${hex(marker)} runs past the end of the file (truncated)`, pos);
    }
    const segment = data.subarray(start, end);
    switch (marker) {
      case 0xc4:
        readHuffmanTables(segment, start, dcTables, acTables);
        break;
      case 0xdd:
        if (segment.length < 2) throw new Damage('a restart-interval segment too short', start);
        restartInterval = u16(segment, 0);
        break;
      case 0xc0:
      case 0xc1:
        if (frame !== undefined) throw new Damage('a second frame header', pos - 2);
        frame = readFrame(segment, start);
        if (frame.height === 0)
          return { status: 'unchecked', reason: 'the height is given after the data (DNL)' };
        break;
      case 0xc2:
      case 0xc6:
      case 0xca:
      case 0xce:
        return { status: 'unchecked', reason: 'progressive JPEG' };
      case 0xc3:
      case 0xc5:
      case 0xc7:
      case 0xcb:
      case 0xcd:
      case 0xcf:
        return { status: 'unchecked', reason: 'lossless or hierarchical JPEG' };
      case 0xc9:
        return { status: 'unchecked', reason: 'arithmetic-coded JPEG' };
      case 0xda: {
        if (frame === undefined) throw new Damage('image data before the frame header', pos - 2);
        pos = readScan(data, segment, start, end, frame, dcTables, acTables, restartInterval);
        scans++;
        continue;
      }
      default:
        break; // APPn, COM, DQT, DNL...: nothing to check
    }
    pos = end;
  }
}

function readHuffmanTables(
  segment: Uint8Array,
  offset: number,
  dcTables: (HuffmanTable | undefined)[],
  acTables: (HuffmanTable | undefined)[],
): void {
  let at = 0;
  while (at < segment.length) {
    if (at + 17 > segment.length) throw new Damage('a Huffman table segment too short', offset + at);
    const kind = segment[at] >> 4;
    const slot = segment[at] & 15;
    if (kind > 1 || slot > 3) throw new Damage('a Huffman table with a bad class or slot', offset + at);
    const counts = segment.subarray(at + 1, at + 17);
    const total = counts.reduce((sum, count) => sum + count, 0);
    if (total > 256 || at + 17 + total > segment.length) {
      throw new Damage('a Huffman table with more values than its segment holds', offset + at);
    }
    const table = buildTable(counts, segment.subarray(at + 17, at + 17 + total), offset + at);
    (kind === 0 ? dcTables : acTables)[slot] = table;
    at += 17 + total;
  }
}

function readFrame(segment: Uint8Array, offset: number): Frame {
  if (segment.length < 6) throw new Damage('a frame header too short', offset);
  const precision = segment[0];
  const height = u16(segment, 1);
  const width = u16(segment, 3);
  const count = segment[5];
  if ((precision !== 8 && precision !== 12) || width === 0 || count === 0 || segment.length < 6 + 3 * count) {
    throw new Damage('a malformed frame header', offset);
  }
  const components: FrameComponent[] = [];
  for (let i = 0; i < count; i++) {
    const h = segment[7 + 3 * i] >> 4;
    const v = segment[7 + 3 * i] & 15;
    if (h < 1 || h > 4 || v < 1 || v > 4)
      throw new Damage('a frame header with bad sampling factors', offset);
    components.push({ id: segment[6 + 3 * i], h, v });
  }
  return {
    precision,
    width,
    height,
    components,
    hMax: Math.max(...components.map((c) => c.h)),
    vMax: Math.max(...components.map((c) => c.v)),
  };
}

interface ScanComponent {
  readonly dc: HuffmanTable;
  readonly ac: HuffmanTable;
  /** Blocks of this component in one MCU. */
  readonly blocks: number;
}

/** Walks one scan's data; returns the offset of the marker after it. */
function readScan(
  data: Uint8Array,
  segment: Uint8Array,
  offset: number,
  end: number,
  frame: Frame,
  dcTables: readonly (HuffmanTable | undefined)[],
  acTables: readonly (HuffmanTable | undefined)[],
  restartInterval: number,
): number {
  const count = segment[0];
  if (count < 1 || count > 4 || segment.length < 1 + 2 * count + 3)
    throw new Damage('a malformed scan header', offset);
  const components: ScanComponent[] = [];
  const chosen: FrameComponent[] = [];
  for (let i = 0; i < count; i++) {
    const component = frame.components.find((c) => c.id === segment[1 + 2 * i]);
    const dc = dcTables[segment[2 + 2 * i] >> 4];
    const ac = acTables[segment[2 + 2 * i] & 15];
    if (component === undefined) throw new Damage('a scan of a component the frame does not have', offset);
    if (dc === undefined || ac === undefined)
      throw new Damage('a scan that uses an undefined Huffman table', offset);
    chosen.push(component);
    components.push({ dc, ac, blocks: count === 1 ? 1 : component.h * component.v });
  }
  let mcus: number;
  if (count === 1) {
    // A single-component scan is not interleaved: its MCU is one block of that component.
    const { h, v } = chosen[0];
    const columns = Math.ceil(Math.ceil((frame.width * h) / frame.hMax) / 8);
    const rows = Math.ceil(Math.ceil((frame.height * v) / frame.vMax) / 8);
    mcus = columns * rows;
  } else {
    mcus = Math.ceil(frame.width / (8 * frame.hMax)) * Math.ceil(frame.height / (8 * frame.vMax));
  }
  const maxDcBits = frame.precision === 8 ? 11 : 15;
  const maxAcBits = frame.precision === 8 ? 10 : 14;
  const bits = new ScanBits(data, end);
  let restarts = 0;
  for (let mcu = 0; mcu < mcus; mcu++) {
    if (restartInterval > 0 && mcu > 0 && mcu % restartInterval === 0) {
      let at = bits.finish();
      while (data[at + 1] === 0xff) at++; // fill bytes
      const expected = 0xd0 + (restarts % 8);
      if (data[at + 1] !== expected) {
        throw new Damage(
          `restart marker ${hex(expected)} expected but ${at + 1 < data.length ? `${hex(data[at + 1])} found` : 'the file ends'}`,
          at,
        );
      }
      bits.pos = at + 2;
      restarts++;
    }
    for (const component of components) {
      for (let block = 0; block < component.blocks; block++) {
        const size = bits.decode(component.dc);
        if (size > maxDcBits) throw new Damage('a DC difference too large for the precision', bits.pos);
        bits.receive(size);
        for (let k = 1; k < 64;) {
          const symbol = bits.decode(component.ac);
          const run = symbol >> 4;
          const size = symbol & 15;
          if (size === 0) {
            if (run !== 15) break; // end of block
            k += 16;
            continue;
          }
          k += run;
          if (k > 63) throw new Damage('more than 64 coefficients in a block', bits.pos);
          if (size > maxAcBits) throw new Damage('an AC coefficient too large for the precision', bits.pos);
          bits.receive(size);
          k++;
        }
      }
    }
  }
  let at = bits.finish();
  // Some encoders end a scan with a restart marker: harmless.
  while (data[at] === 0xff && data[at + 1] >= 0xd0 && data[at + 1] <= 0xd7) at += 2;
  return at;
}
