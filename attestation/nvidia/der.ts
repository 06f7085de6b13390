/**
 * A minimal DER reader: just enough to split a certificate into its signed
 * part and signature, and to walk small extensions. Every bound is checked;
 * malformed input throws `MalformedEvidenceError`.
 */
import { MalformedEvidenceError } from '../errors.ts';

/** One DER element. `raw` covers the header and content; `content` the value only. */
export interface DerNode {
  tag: number;
  raw: Uint8Array;
  content: Uint8Array;
}

/** Reads the element starting at `offset` and returns it with the offset just past it. */
export function readDer(buf: Uint8Array, offset = 0): { node: DerNode; next: number } {
  const fail = (why: string): never => {
    throw new MalformedEvidenceError(`DER: ${why} at offset ${offset}`);
  };
  if (offset + 2 > buf.length) fail('truncated header');
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) fail('high tag numbers are not supported');
  let p = offset + 1;
  let len = buf[p++]!;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) fail('unsupported length encoding');
    if (p + n > buf.length) fail('truncated length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p++]!;
  }
  const end = p + len;
  if (end > buf.length) fail('element runs past the end of its container');
  return { node: { tag, raw: buf.subarray(offset, end), content: buf.subarray(p, end) }, next: end };
}

/** The children of a constructed element. */
export function derChildren(node: DerNode): DerNode[] {
  if ((node.tag & 0x20) === 0) throw new MalformedEvidenceError(`DER: tag 0x${node.tag.toString(16)} is not constructed`);
  const out: DerNode[] = [];
  let p = 0;
  while (p < node.content.length) {
    const { node: child, next } = readDer(node.content, p);
    out.push(child);
    p = next;
  }
  return out;
}

/** Parses exactly one element spanning all of `buf`. */
export function parseDer(buf: Uint8Array): DerNode {
  const { node, next } = readDer(buf, 0);
  if (next !== buf.length) throw new MalformedEvidenceError('DER: trailing bytes after the element');
  return node;
}

/** Dotted-decimal form of an OBJECT IDENTIFIER element's content. */
export function oidToString(content: Uint8Array): string {
  if (content.length === 0) throw new MalformedEvidenceError('DER: empty OID');
  const parts: number[] = [];
  let v = 0;
  for (let i = 0; i < content.length; i++) {
    const b = content[i]!;
    v = v * 128 + (b & 0x7f);
    if (v > Number.MAX_SAFE_INTEGER / 128) throw new MalformedEvidenceError('DER: OID arc too large');
    if ((b & 0x80) === 0) {
      if (parts.length === 0) {
        const first = v < 80 ? Math.floor(v / 40) : 2;
        parts.push(first, v - first * 40);
      } else parts.push(v);
      v = 0;
    } else if (i === content.length - 1) {
      throw new MalformedEvidenceError('DER: truncated OID');
    }
  }
  return parts.join('.');
}

/**
 * Converts a DER `SEQUENCE { INTEGER r, INTEGER s }` ECDSA signature to the
 * fixed-width r‖s form Web Crypto expects.
 */
export function ecdsaDerToRaw(sig: Uint8Array, size: number): Uint8Array {
  const seq = parseDer(sig);
  if (seq.tag !== 0x30) throw new MalformedEvidenceError('ECDSA signature is not a SEQUENCE');
  const ints = derChildren(seq);
  if (ints.length !== 2 || ints.some((i) => i.tag !== 0x02)) {
    throw new MalformedEvidenceError('ECDSA signature is not two INTEGERs');
  }
  const out = new Uint8Array(size * 2);
  ints.forEach((int, k) => {
    let v = int.content;
    while (v.length > 1 && v[0] === 0) v = v.subarray(1);
    if (v.length > size) throw new MalformedEvidenceError('ECDSA signature integer too large');
    out.set(v, k * size + (size - v.length));
  });
  return out;
}
