import { crc32, deflateSync } from 'node:zlib';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function chunk(type: string, data: Uint8Array): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/** A gray PNG of the declared size whose IDAT holds the given (uncompressed, filtered) rows. */
function grayPng(width: number, height: number, bitDepth: 1 | 8, rows: Buffer): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([bitDepth, 0, 0, 0, 0], 8); // gray, deflate, no filter method, no interlace
  return Buffer.concat([
    SIGNATURE,
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(rows, { level: 9 })),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

/** A valid 1-bit gray PNG of width x height, all black: a few tens of KB that decode to width*height bytes. */
export function pngBomb(width: number, height: number): Buffer {
  return grayPng(width, height, 1, Buffer.alloc((1 + Math.ceil(width / 8)) * height));
}

/** A PNG whose header declares width x height but holds 4 rows of 8-bit gray: a decompression bomb's header. */
export function pngBombHeader(width: number, height: number): Buffer {
  return grayPng(width, height, 8, Buffer.alloc(4 * (width + 1)));
}
