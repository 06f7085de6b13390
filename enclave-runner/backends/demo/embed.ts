import { toBase64 } from '../../../attestation/util/bytes.ts';

/** FNV-1a, 32-bit. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * Feature-hashed bag-of-words embedding (words and word bigrams), L2-normalised.
 * Texts that share words get similar vectors: enough for demos of search and
 * clustering without weights.
 */
export function embed(text: string, dimensions = 256): Float32Array {
  const v = new Float32Array(dimensions);
  const ws = text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
  const feats = [...ws, ...ws.slice(1).map((w, i) => `${ws[i]} ${w}`)];
  for (const f of feats) {
    const h = fnv1a(f);
    v[h % dimensions]! += h & 0x80000000 ? -1 : 1;
  }
  let norm = 0;
  for (const x of v) norm += x * x;
  norm = Math.sqrt(norm) || 1;
  for (let i = 0; i < v.length; i++) v[i]! /= norm;
  return v;
}

/** Float32 little-endian bytes, base64 (OpenAI's `encoding_format: "base64"`). */
export function embeddingBase64(v: Float32Array): string {
  const bytes = new Uint8Array(v.length * 4);
  const view = new DataView(bytes.buffer);
  v.forEach((x, i) => view.setFloat32(i * 4, x, true));
  return toBase64(bytes);
}
