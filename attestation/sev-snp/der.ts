/**
 * A minimal DER reader: just enough to slice the exact bytes a certificate
 * signature covers (tbsCertificate) and a few raw fields. Single-byte tags,
 * definite lengths only. Throws `RangeError` on anything malformed.
 */
export interface Tlv {
  tag: number;
  /** Offset of the tag byte. */
  start: number;
  /** Offset of the first content byte. */
  contentStart: number;
  /** Offset just past the content. */
  end: number;
}

export function readTlv(buf: Uint8Array, offset: number, limit = buf.length): Tlv {
  if (offset + 2 > limit) throw new RangeError('DER: truncated header');
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new RangeError('DER: high tag numbers unsupported');
  let p = offset + 1;
  const first = buf[p++]!;
  let len: number;
  if (first < 0x80) len = first;
  else {
    const n = first & 0x7f;
    if (n === 0 || n > 4) throw new RangeError('DER: unsupported length form');
    if (p + n > limit) throw new RangeError('DER: truncated length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p++]!;
    if (len < 0x80 || (n > 1 && buf[offset + 2] === 0)) throw new RangeError('DER: non-minimal length');
  }
  const end = p + len;
  if (end > limit) throw new RangeError('DER: content past end');
  return { tag, start: offset, contentStart: p, end };
}

/** The TLVs directly inside a constructed TLV. */
export function childrenOf(buf: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  let p = parent.contentStart;
  while (p < parent.end) {
    const t = readTlv(buf, p, parent.end);
    out.push(t);
    p = t.end;
  }
  return out;
}

export function bytesOf(buf: Uint8Array, t: Tlv): Uint8Array {
  return buf.subarray(t.start, t.end);
}

export function contentOf(buf: Uint8Array, t: Tlv): Uint8Array {
  return buf.subarray(t.contentStart, t.end);
}
