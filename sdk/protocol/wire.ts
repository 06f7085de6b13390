/**
 * Low-level wire helpers: QUIC variable-length integers (RFC 9000 §16, minimal
 * encoding enforced), the 7-byte request header, and a byte queue for
 * incremental parsing.
 */
import { SealError } from '../hpke/errors.ts';

export const PROTOCOL_VERSION = 0x01;
/** HTTP media types of a sealed request and a sealed response (docs/PROTOCOL.md §12). */
export const SEALED_REQUEST_TYPE = 'application/vnd.sealgate.sealed-request';
export const SEALED_RESPONSE_TYPE = 'application/vnd.sealgate.sealed-response';
export const HEADER_LENGTH = 7;

export interface Header {
  version: number;
  kemId: number;
  kdfId: number;
  aeadId: number;
}

export function encodeHeader(h: Header): Uint8Array {
  const out = new Uint8Array(HEADER_LENGTH);
  out[0] = h.version;
  out[1] = h.kemId >>> 8;
  out[2] = h.kemId & 0xff;
  out[3] = h.kdfId >>> 8;
  out[4] = h.kdfId & 0xff;
  out[5] = h.aeadId >>> 8;
  out[6] = h.aeadId & 0xff;
  return out;
}

export function decodeHeader(b: Uint8Array): Header {
  if (b.length < HEADER_LENGTH) throw new SealError('MALFORMED_MESSAGE', 'message shorter than its header');
  return {
    version: b[0]!,
    kemId: (b[1]! << 8) | b[2]!,
    kdfId: (b[3]! << 8) | b[4]!,
    aeadId: (b[5]! << 8) | b[6]!,
  };
}

/** Largest value we encode; stays exact in a JS number. */
export const MAX_VARINT = Number.MAX_SAFE_INTEGER;

export function varintLength(v: number): number {
  if (v < 0x40) return 1;
  if (v < 0x4000) return 2;
  if (v < 0x40000000) return 4;
  return 8;
}

/** Writes v at out[off..] and returns the new offset. */
export function writeVarint(out: Uint8Array, off: number, v: number): number {
  if (!Number.isSafeInteger(v) || v < 0) throw new SealError('INVALID_ARGUMENT', 'varint out of range');
  const n = varintLength(v);
  if (n === 1) {
    out[off] = v;
  } else if (n === 2) {
    out[off] = 0x40 | (v >>> 8);
    out[off + 1] = v & 0xff;
  } else if (n === 4) {
    out[off] = 0x80 | (v >>> 24);
    out[off + 1] = (v >>> 16) & 0xff;
    out[off + 2] = (v >>> 8) & 0xff;
    out[off + 3] = v & 0xff;
  } else {
    const hi = Math.floor(v / 2 ** 32);
    const lo = v >>> 0;
    out[off] = 0xc0 | (hi >>> 24);
    out[off + 1] = (hi >>> 16) & 0xff;
    out[off + 2] = (hi >>> 8) & 0xff;
    out[off + 3] = hi & 0xff;
    out[off + 4] = lo >>> 24;
    out[off + 5] = (lo >>> 16) & 0xff;
    out[off + 6] = (lo >>> 8) & 0xff;
    out[off + 7] = lo & 0xff;
  }
  return off + n;
}

/**
 * Reads a varint from b at off. Returns null when b holds too few bytes yet.
 * Throws MALFORMED_MESSAGE on a non-minimal encoding or a value above MAX_VARINT.
 */
export function readVarint(b: Uint8Array, off: number): { value: number; next: number } | null {
  if (off >= b.length) return null;
  const first = b[off]!;
  const n = 1 << (first >>> 6);
  if (off + n > b.length) return null;
  let v = first & 0x3f;
  for (let i = 1; i < n; i++) v = v * 256 + b[off + i]!;
  if (!Number.isSafeInteger(v)) throw new SealError('MALFORMED_MESSAGE', 'varint too large');
  if (varintLength(v) !== n) throw new SealError('MALFORMED_MESSAGE', 'non-minimal varint');
  return { value: v, next: off + n };
}

/** FIFO of byte pieces with cheap append and zero-copy take when a read lies within one piece. */
export class ByteQueue {
  private pieces: Uint8Array[] = [];
  private head = 0; // offset into pieces[0]
  length = 0;

  push(b: Uint8Array): void {
    if (b.length === 0) return;
    this.pieces.push(b);
    this.length += b.length;
  }

  /** Copy (or view) of the first n bytes without consuming them; n <= length. */
  peek(n: number): Uint8Array {
    const first = this.pieces[0];
    if (first && first.length - this.head >= n) return first.subarray(this.head, this.head + n);
    const out = new Uint8Array(n);
    let o = 0;
    let h = this.head;
    for (const p of this.pieces) {
      const take = Math.min(p.length - h, n - o);
      out.set(p.subarray(h, h + take), o);
      o += take;
      h = 0;
      if (o === n) break;
    }
    return out;
  }

  /** Consume and return the first n bytes; n <= length. */
  take(n: number): Uint8Array {
    const out = this.peek(n);
    this.skip(n);
    return out;
  }

  skip(n: number): void {
    this.length -= n;
    while (n > 0) {
      const p = this.pieces[0]!;
      const avail = p.length - this.head;
      if (avail > n) {
        this.head += n;
        return;
      }
      n -= avail;
      this.pieces.shift();
      this.head = 0;
    }
  }
}
