/**
 * Minimal DER reader: enough to slice raw TLVs (the exact signed `tbs` bytes)
 * and to walk small custom structures such as Intel's SGX PCK extension.
 * Every read is bounds-checked; failures throw `DerError`.
 */

/** Thrown on any malformed DER. Callers map it onto a typed `AttestationError`. */
export class DerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DerError';
  }
}

/** One DER element: `bytes[start..end)` is the whole TLV, `bytes[valueStart..end)` the value. */
export interface Tlv {
  /** The full identifier octet (class, constructed bit, tag number < 31). */
  tag: number;
  start: number;
  valueStart: number;
  end: number;
  /** The value bytes (a view, not a copy). */
  value: Uint8Array;
  /** The whole TLV (a view, not a copy). */
  raw: Uint8Array;
}

/** Universal tags used here. */
export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  ENUMERATED: 0x0a,
  UTF8_STRING: 0x0c,
  SEQUENCE: 0x30,
  SET: 0x31,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
} as const;

/** Reads the TLV starting at `offset`; it must end at or before `limit`. */
export function readTlv(bytes: Uint8Array, offset = 0, limit = bytes.length): Tlv {
  if (offset < 0 || offset + 2 > limit || limit > bytes.length) throw new DerError('DER: truncated header');
  const tag = bytes[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError('DER: high tag numbers are not supported');
  let p = offset + 1;
  let len = bytes[p++]!;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new DerError('DER: unsupported length encoding');
    if (p + n > limit) throw new DerError('DER: truncated length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + bytes[p++]!;
    if (len < 0x80) throw new DerError('DER: non-minimal length');
  }
  const end = p + len;
  if (end > limit) throw new DerError('DER: value runs past its container');
  return { tag, start: offset, valueStart: p, end, value: bytes.subarray(p, end), raw: bytes.subarray(offset, end) };
}

/** Reads a TLV that must fill `bytes` exactly, with the expected tag. */
export function readWhole(bytes: Uint8Array, tag?: number): Tlv {
  const t = readTlv(bytes, 0, bytes.length);
  if (t.end !== bytes.length) throw new DerError('DER: trailing bytes');
  if (tag !== undefined && t.tag !== tag) throw new DerError(`DER: expected tag 0x${tag.toString(16)}, got 0x${t.tag.toString(16)}`);
  return t;
}

/** The child elements of a constructed TLV. */
export function children(t: Tlv): Tlv[] {
  if ((t.tag & 0x20) === 0) throw new DerError('DER: not a constructed element');
  const out: Tlv[] = [];
  const bytes = t.raw;
  let p = t.valueStart - t.start;
  while (p < bytes.length) {
    const c = readTlv(bytes, p, bytes.length);
    out.push(c);
    p = c.end;
  }
  return out;
}

/** Asserts the tag of `t` and returns it. */
export function expectTag(t: Tlv | undefined, tag: number, what: string): Tlv {
  if (!t || t.tag !== tag) throw new DerError(`DER: ${what}: expected tag 0x${tag.toString(16)}`);
  return t;
}

/** Decodes an OBJECT IDENTIFIER value to dotted form. */
export function decodeOid(value: Uint8Array): string {
  if (value.length === 0) throw new DerError('DER: empty OID');
  const parts: number[] = [];
  let acc = 0;
  for (let i = 0; i < value.length; i++) {
    const b = value[i]!;
    if (acc === 0 && b === 0x80) throw new DerError('DER: non-minimal OID');
    acc = acc * 128 + (b & 0x7f);
    if (acc > Number.MAX_SAFE_INTEGER / 128) throw new DerError('DER: OID arc too large');
    if ((b & 0x80) === 0) {
      parts.push(acc);
      acc = 0;
    }
  }
  if ((value[value.length - 1]! & 0x80) !== 0) throw new DerError('DER: truncated OID');
  const first = parts[0]!;
  const head = first < 40 ? [0, first] : first < 80 ? [1, first - 40] : [2, first - 80];
  return [...head, ...parts.slice(1)].join('.');
}

/** Decodes a non-negative INTEGER that fits in a JS number. */
export function decodeSmallUint(value: Uint8Array): number {
  if (value.length === 0 || value.length > 6) throw new DerError('DER: integer out of range');
  if (value[0]! & 0x80) throw new DerError('DER: negative integer');
  let n = 0;
  for (const b of value) n = n * 256 + b;
  return n;
}

/** Unsigned big-endian magnitude of an INTEGER value (leading zero bytes removed, at least one byte). */
export function integerMagnitude(value: Uint8Array): Uint8Array {
  let i = 0;
  while (i < value.length - 1 && value[i] === 0) i++;
  return value.subarray(i);
}

/** Decodes UTCTime / GeneralizedTime (Zulu only) to unix seconds. */
export function decodeTime(t: Tlv): number {
  const s = String.fromCharCode(...t.value);
  let m: RegExpExecArray | null;
  let year: number;
  if (t.tag === TAG.UTC_TIME) {
    m = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s);
    if (!m) throw new DerError('DER: bad UTCTime');
    const yy = Number(m[1]);
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
  } else if (t.tag === TAG.GENERALIZED_TIME) {
    m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s);
    if (!m) throw new DerError('DER: bad GeneralizedTime');
    year = Number(m[1]);
  } else {
    throw new DerError('DER: expected a time');
  }
  const [mo, d, h, mi, se] = [m[2], m[3], m[4], m[5], m[6]].map(Number) as [number, number, number, number, number];
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) throw new DerError('DER: time out of range');
  return Date.UTC(year, mo - 1, d, h, mi, se) / 1000;
}
