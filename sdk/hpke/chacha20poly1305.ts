/**
 * ChaCha20-Poly1305 (RFC 8439 §2.8) for many short messages under one key.
 *
 * Why not `@noble/ciphers` directly: a sealed SSE chunk is ~100–200 bytes, and
 * at that size noble's per-call set-up (argument checks, key expansion, a
 * Poly1305 object, several buffers) costs more than the cipher itself —
 * ≈ 8–9 µs per seal or open. Here the key is expanded once per context
 * (`ChaChaPolyKey`), the Poly1305 one-time key comes straight from the first
 * keystream block, the AEAD's padded MAC input is processed without a partial-
 * block path (every block of aad‖pad‖ct‖pad‖lengths is full), and the
 * ciphertext is written straight into the caller's frame. Output is
 * byte-identical to noble's; `chacha20poly1305.test.ts` checks RFC 8439
 * vectors and random inputs against noble.
 *
 * Little-endian hosts only (every browser, Workers and Node platform we know
 * of); `FAST_CHACHA` is false elsewhere and callers use noble.
 */
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { SealError } from './errors.ts';

export const FAST_CHACHA = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

// Keystream block and its byte view (one shared buffer: every call is synchronous).
const ks = new Uint32Array(16);
const ks8 = new Uint8Array(ks.buffer);
const pad = new Uint8Array(16);
const tagBuf = new Uint8Array(16);

const rotl = (x: number, n: number) => (x << n) | (x >>> (32 - n));

/** ChaCha20 block (RFC 8439 §2.3) for key words k, counter and nonce words, into `ks`. */
function block(k: Uint32Array, counter: number, n0: number, n1: number, n2: number): void {
  const j0 = 0x61707865, j1 = 0x3320646e, j2 = 0x79622d32, j3 = 0x6b206574;
  const j4 = k[0]!, j5 = k[1]!, j6 = k[2]!, j7 = k[3]!, j8 = k[4]!, j9 = k[5]!, j10 = k[6]!, j11 = k[7]!;
  let x0 = j0, x1 = j1, x2 = j2, x3 = j3, x4 = j4, x5 = j5, x6 = j6, x7 = j7;
  let x8 = j8, x9 = j9, x10 = j10, x11 = j11, x12 = counter, x13 = n0, x14 = n1, x15 = n2;
  for (let i = 0; i < 10; i++) {
    // columns
    x0 = (x0 + x4) | 0; x12 = rotl(x12 ^ x0, 16); x8 = (x8 + x12) | 0; x4 = rotl(x4 ^ x8, 12);
    x0 = (x0 + x4) | 0; x12 = rotl(x12 ^ x0, 8); x8 = (x8 + x12) | 0; x4 = rotl(x4 ^ x8, 7);
    x1 = (x1 + x5) | 0; x13 = rotl(x13 ^ x1, 16); x9 = (x9 + x13) | 0; x5 = rotl(x5 ^ x9, 12);
    x1 = (x1 + x5) | 0; x13 = rotl(x13 ^ x1, 8); x9 = (x9 + x13) | 0; x5 = rotl(x5 ^ x9, 7);
    x2 = (x2 + x6) | 0; x14 = rotl(x14 ^ x2, 16); x10 = (x10 + x14) | 0; x6 = rotl(x6 ^ x10, 12);
    x2 = (x2 + x6) | 0; x14 = rotl(x14 ^ x2, 8); x10 = (x10 + x14) | 0; x6 = rotl(x6 ^ x10, 7);
    x3 = (x3 + x7) | 0; x15 = rotl(x15 ^ x3, 16); x11 = (x11 + x15) | 0; x7 = rotl(x7 ^ x11, 12);
    x3 = (x3 + x7) | 0; x15 = rotl(x15 ^ x3, 8); x11 = (x11 + x15) | 0; x7 = rotl(x7 ^ x11, 7);
    // diagonals
    x0 = (x0 + x5) | 0; x15 = rotl(x15 ^ x0, 16); x10 = (x10 + x15) | 0; x5 = rotl(x5 ^ x10, 12);
    x0 = (x0 + x5) | 0; x15 = rotl(x15 ^ x0, 8); x10 = (x10 + x15) | 0; x5 = rotl(x5 ^ x10, 7);
    x1 = (x1 + x6) | 0; x12 = rotl(x12 ^ x1, 16); x11 = (x11 + x12) | 0; x6 = rotl(x6 ^ x11, 12);
    x1 = (x1 + x6) | 0; x12 = rotl(x12 ^ x1, 8); x11 = (x11 + x12) | 0; x6 = rotl(x6 ^ x11, 7);
    x2 = (x2 + x7) | 0; x13 = rotl(x13 ^ x2, 16); x8 = (x8 + x13) | 0; x7 = rotl(x7 ^ x8, 12);
    x2 = (x2 + x7) | 0; x13 = rotl(x13 ^ x2, 8); x8 = (x8 + x13) | 0; x7 = rotl(x7 ^ x8, 7);
    x3 = (x3 + x4) | 0; x14 = rotl(x14 ^ x3, 16); x9 = (x9 + x14) | 0; x4 = rotl(x4 ^ x9, 12);
    x3 = (x3 + x4) | 0; x14 = rotl(x14 ^ x3, 8); x9 = (x9 + x14) | 0; x4 = rotl(x4 ^ x9, 7);
  }
  ks[0] = x0 + j0; ks[1] = x1 + j1; ks[2] = x2 + j2; ks[3] = x3 + j3;
  ks[4] = x4 + j4; ks[5] = x5 + j5; ks[6] = x6 + j6; ks[7] = x7 + j7;
  ks[8] = x8 + j8; ks[9] = x9 + j9; ks[10] = x10 + j10; ks[11] = x11 + j11;
  ks[12] = x12 + counter; ks[13] = x13 + n0; ks[14] = x14 + n1; ks[15] = x15 + n2;
}

/** dst[d..d+len) = src[s..s+len) XOR ChaCha20 keystream from block counter 1. */
function xorStream(k: Uint32Array, n0: number, n1: number, n2: number, src: Uint8Array, s: number, dst: Uint8Array, d: number, len: number): void {
  for (let counter = 1, done = 0; done < len; counter++) {
    block(k, counter, n0, n1, n2);
    const take = Math.min(64, len - done);
    for (let i = 0; i < take; i++) dst[d + done + i] = src[s + done + i]! ^ ks8[i]!;
    done += take;
  }
}

/**
 * Poly1305 (RFC 8439 §2.5) of aad ‖ pad16 ‖ ct ‖ pad16 ‖ le64(len aad) ‖ le64(len ct),
 * keyed by the first 32 bytes of `ks` (block 0), into tagBuf. 13-bit limbs, the
 * products summed in halves so every partial sum stays below 2^32
 * (poly1305-donna-16's layout).
 */
function mac(aad: Uint8Array, ct: Uint8Array, ctOff: number, ctLen: number): void {
  const k0 = ks[0]!, k1 = ks[1]!, k2 = ks[2]!, k3 = ks[3]!;
  const t0 = k0 & 0xffff, t1 = k0 >>> 16, t2 = k1 & 0xffff, t3 = k1 >>> 16;
  const t4 = k2 & 0xffff, t5 = k2 >>> 16, t6 = k3 & 0xffff, t7 = k3 >>> 16;
  // r, clamped (RFC 8439 §2.5.1) and split into 13-bit limbs
  const r0 = t0 & 0x1fff;
  const r1 = ((t0 >>> 13) | (t1 << 3)) & 0x1fff;
  const r2 = ((t1 >>> 10) | (t2 << 6)) & 0x1f03;
  const r3 = ((t2 >>> 7) | (t3 << 9)) & 0x1fff;
  const r4 = ((t3 >>> 4) | (t4 << 12)) & 0x00ff;
  const r5 = (t4 >>> 1) & 0x1ffe;
  const r6 = ((t4 >>> 14) | (t5 << 2)) & 0x1fff;
  const r7 = ((t5 >>> 11) | (t6 << 5)) & 0x1f81;
  const r8 = ((t6 >>> 8) | (t7 << 8)) & 0x1fff;
  const r9 = (t7 >>> 5) & 0x007f;
  const s1 = 5 * r1, s2 = 5 * r2, s3 = 5 * r3, s4 = 5 * r4, s5 = 5 * r5, s6 = 5 * r6, s7 = 5 * r7, s8 = 5 * r8, s9 = 5 * r9;
  const p0 = ks[4]!, p1 = ks[5]!, p2 = ks[6]!, p3 = ks[7]!; // s (the pad), read before ks is reused

  let h0 = 0, h1 = 0, h2 = 0, h3 = 0, h4 = 0, h5 = 0, h6 = 0, h7 = 0, h8 = 0, h9 = 0;
  for (let seg = 0; seg < 3; seg++) {
    let m: Uint8Array;
    let base: number;
    let len: number;
    if (seg === 0) {
      m = aad;
      base = 0;
      len = aad.length;
    } else if (seg === 1) {
      m = ct;
      base = ctOff;
      len = ctLen;
    } else {
      pad.fill(0);
      let a = aad.length;
      for (let i = 0; a > 0; i++, a = Math.floor(a / 256)) pad[i] = a & 0xff;
      let c = ctLen;
      for (let i = 8; c > 0; i++, c = Math.floor(c / 256)) pad[i] = c & 0xff;
      m = pad;
      base = 0;
      len = 16;
    }
    for (let p = 0; p < len; p += 16) {
      let src = m;
      let o = base + p;
      if (len - p < 16) {
        // zero-padded last block of the segment (pad16 in RFC 8439 §2.8)
        pad.fill(0);
        pad.set(m.subarray(o, base + len));
        src = pad;
        o = 0;
      }
      const u0 = src[o]! | (src[o + 1]! << 8), u1 = src[o + 2]! | (src[o + 3]! << 8);
      const u2 = src[o + 4]! | (src[o + 5]! << 8), u3 = src[o + 6]! | (src[o + 7]! << 8);
      const u4 = src[o + 8]! | (src[o + 9]! << 8), u5 = src[o + 10]! | (src[o + 11]! << 8);
      const u6 = src[o + 12]! | (src[o + 13]! << 8), u7 = src[o + 14]! | (src[o + 15]! << 8);
      h0 += u0 & 0x1fff;
      h1 += ((u0 >>> 13) | (u1 << 3)) & 0x1fff;
      h2 += ((u1 >>> 10) | (u2 << 6)) & 0x1fff;
      h3 += ((u2 >>> 7) | (u3 << 9)) & 0x1fff;
      h4 += ((u3 >>> 4) | (u4 << 12)) & 0x1fff;
      h5 += (u4 >>> 1) & 0x1fff;
      h6 += ((u4 >>> 14) | (u5 << 2)) & 0x1fff;
      h7 += ((u5 >>> 11) | (u6 << 5)) & 0x1fff;
      h8 += ((u6 >>> 8) | (u7 << 8)) & 0x1fff;
      h9 += (u7 >>> 5) | (1 << 11); // every block is full: the 2^128 bit

      let c: number;
      let d0 = h0 * r0 + h1 * s9 + h2 * s8 + h3 * s7 + h4 * s6;
      c = d0 >>> 13; d0 &= 0x1fff;
      d0 += h5 * s5 + h6 * s4 + h7 * s3 + h8 * s2 + h9 * s1;
      c += d0 >>> 13; d0 &= 0x1fff;
      let d1 = c + h0 * r1 + h1 * r0 + h2 * s9 + h3 * s8 + h4 * s7;
      c = d1 >>> 13; d1 &= 0x1fff;
      d1 += h5 * s6 + h6 * s5 + h7 * s4 + h8 * s3 + h9 * s2;
      c += d1 >>> 13; d1 &= 0x1fff;
      let d2 = c + h0 * r2 + h1 * r1 + h2 * r0 + h3 * s9 + h4 * s8;
      c = d2 >>> 13; d2 &= 0x1fff;
      d2 += h5 * s7 + h6 * s6 + h7 * s5 + h8 * s4 + h9 * s3;
      c += d2 >>> 13; d2 &= 0x1fff;
      let d3 = c + h0 * r3 + h1 * r2 + h2 * r1 + h3 * r0 + h4 * s9;
      c = d3 >>> 13; d3 &= 0x1fff;
      d3 += h5 * s8 + h6 * s7 + h7 * s6 + h8 * s5 + h9 * s4;
      c += d3 >>> 13; d3 &= 0x1fff;
      let d4 = c + h0 * r4 + h1 * r3 + h2 * r2 + h3 * r1 + h4 * r0;
      c = d4 >>> 13; d4 &= 0x1fff;
      d4 += h5 * s9 + h6 * s8 + h7 * s7 + h8 * s6 + h9 * s5;
      c += d4 >>> 13; d4 &= 0x1fff;
      let d5 = c + h0 * r5 + h1 * r4 + h2 * r3 + h3 * r2 + h4 * r1;
      c = d5 >>> 13; d5 &= 0x1fff;
      d5 += h5 * r0 + h6 * s9 + h7 * s8 + h8 * s7 + h9 * s6;
      c += d5 >>> 13; d5 &= 0x1fff;
      let d6 = c + h0 * r6 + h1 * r5 + h2 * r4 + h3 * r3 + h4 * r2;
      c = d6 >>> 13; d6 &= 0x1fff;
      d6 += h5 * r1 + h6 * r0 + h7 * s9 + h8 * s8 + h9 * s7;
      c += d6 >>> 13; d6 &= 0x1fff;
      let d7 = c + h0 * r7 + h1 * r6 + h2 * r5 + h3 * r4 + h4 * r3;
      c = d7 >>> 13; d7 &= 0x1fff;
      d7 += h5 * r2 + h6 * r1 + h7 * r0 + h8 * s9 + h9 * s8;
      c += d7 >>> 13; d7 &= 0x1fff;
      let d8 = c + h0 * r8 + h1 * r7 + h2 * r6 + h3 * r5 + h4 * r4;
      c = d8 >>> 13; d8 &= 0x1fff;
      d8 += h5 * r3 + h6 * r2 + h7 * r1 + h8 * r0 + h9 * s9;
      c += d8 >>> 13; d8 &= 0x1fff;
      let d9 = c + h0 * r9 + h1 * r8 + h2 * r7 + h3 * r6 + h4 * r5;
      c = d9 >>> 13; d9 &= 0x1fff;
      d9 += h5 * r4 + h6 * r3 + h7 * r2 + h8 * r1 + h9 * r0;
      c += d9 >>> 13; d9 &= 0x1fff;
      c = ((c << 2) + c) | 0; // × 5: 2^130 ≡ 5 (mod p)
      c = (c + d0) | 0;
      d0 = c & 0x1fff;
      c >>>= 13;
      d1 += c;
      h0 = d0; h1 = d1; h2 = d2; h3 = d3; h4 = d4; h5 = d5; h6 = d6; h7 = d7; h8 = d8; h9 = d9;
    }
  }

  // Full carry, then h mod p (p = 2^130 - 5): take h - p when h + 5 carries out of 2^130.
  let c = h1 >>> 13; h1 &= 0x1fff;
  h2 += c; c = h2 >>> 13; h2 &= 0x1fff;
  h3 += c; c = h3 >>> 13; h3 &= 0x1fff;
  h4 += c; c = h4 >>> 13; h4 &= 0x1fff;
  h5 += c; c = h5 >>> 13; h5 &= 0x1fff;
  h6 += c; c = h6 >>> 13; h6 &= 0x1fff;
  h7 += c; c = h7 >>> 13; h7 &= 0x1fff;
  h8 += c; c = h8 >>> 13; h8 &= 0x1fff;
  h9 += c; c = h9 >>> 13; h9 &= 0x1fff;
  h0 += c * 5; c = h0 >>> 13; h0 &= 0x1fff;
  h1 += c; c = h1 >>> 13; h1 &= 0x1fff;
  h2 += c;
  let g0 = h0 + 5; c = g0 >>> 13; g0 &= 0x1fff;
  let g1 = h1 + c; c = g1 >>> 13; g1 &= 0x1fff;
  let g2 = h2 + c; c = g2 >>> 13; g2 &= 0x1fff;
  let g3 = h3 + c; c = g3 >>> 13; g3 &= 0x1fff;
  let g4 = h4 + c; c = g4 >>> 13; g4 &= 0x1fff;
  let g5 = h5 + c; c = g5 >>> 13; g5 &= 0x1fff;
  let g6 = h6 + c; c = g6 >>> 13; g6 &= 0x1fff;
  let g7 = h7 + c; c = g7 >>> 13; g7 &= 0x1fff;
  let g8 = h8 + c; c = g8 >>> 13; g8 &= 0x1fff;
  let g9 = h9 + c - (1 << 13);
  // keepH = all ones when g9 < 0 (h < p), else 0 — no branch on secret data.
  const keepH = g9 >> 31;
  const useG = ~keepH;
  h0 = (h0 & keepH) | (g0 & useG); h1 = (h1 & keepH) | (g1 & useG); h2 = (h2 & keepH) | (g2 & useG);
  h3 = (h3 & keepH) | (g3 & useG); h4 = (h4 & keepH) | (g4 & useG); h5 = (h5 & keepH) | (g5 & useG);
  h6 = (h6 & keepH) | (g6 & useG); h7 = (h7 & keepH) | (g7 & useG); h8 = (h8 & keepH) | (g8 & useG);
  h9 = (h9 & keepH) | (g9 & useG);
  // Canonical 13-bit limbs (h2 may still hold a carry when h was kept); the value is < 2^130, so no wrap.
  c = h0 >>> 13; h0 &= 0x1fff;
  h1 += c; c = h1 >>> 13; h1 &= 0x1fff;
  h2 += c; c = h2 >>> 13; h2 &= 0x1fff;
  h3 += c; c = h3 >>> 13; h3 &= 0x1fff;
  h4 += c; c = h4 >>> 13; h4 &= 0x1fff;
  h5 += c; c = h5 >>> 13; h5 &= 0x1fff;
  h6 += c; c = h6 >>> 13; h6 &= 0x1fff;
  h7 += c; c = h7 >>> 13; h7 &= 0x1fff;
  h8 += c; c = h8 >>> 13; h8 &= 0x1fff;
  h9 += c;

  // h as four 32-bit words, plus s mod 2^128
  const w0 = (h0 | (h1 << 13) | (h2 << 26)) >>> 0;
  const w1 = ((h2 >>> 6) | (h3 << 7) | (h4 << 20)) >>> 0;
  const w2 = ((h4 >>> 12) | (h5 << 1) | (h6 << 14) | (h7 << 27)) >>> 0;
  const w3 = ((h7 >>> 5) | (h8 << 8) | (h9 << 21)) >>> 0;
  let f = w0 + p0;
  const o0 = f >>> 0;
  f = w1 + p1 + (f > 0xffffffff ? 1 : 0);
  const o1 = f >>> 0;
  f = w2 + p2 + (f > 0xffffffff ? 1 : 0);
  const o2 = f >>> 0;
  f = w3 + p3 + (f > 0xffffffff ? 1 : 0);
  const o3 = f >>> 0;
  tagBuf[0] = o0; tagBuf[1] = o0 >>> 8; tagBuf[2] = o0 >>> 16; tagBuf[3] = o0 >>> 24;
  tagBuf[4] = o1; tagBuf[5] = o1 >>> 8; tagBuf[6] = o1 >>> 16; tagBuf[7] = o1 >>> 24;
  tagBuf[8] = o2; tagBuf[9] = o2 >>> 8; tagBuf[10] = o2 >>> 16; tagBuf[11] = o2 >>> 24;
  tagBuf[12] = o3; tagBuf[13] = o3 >>> 8; tagBuf[14] = o3 >>> 16; tagBuf[15] = o3 >>> 24;
}

const le32 = (b: Uint8Array, o: number) => (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;

function checkNonce(nonce: Uint8Array): void {
  if (!(nonce instanceof Uint8Array) || nonce.length !== 12) throw new SealError('INVALID_ARGUMENT', 'ChaCha20-Poly1305 nonce must be 12 bytes');
}

/** A ChaCha20-Poly1305 key expanded once, for many seal/open calls with distinct nonces. */
export class ChaChaPolyKey {
  private readonly k = new Uint32Array(8);

  constructor(key: Uint8Array) {
    if (!(key instanceof Uint8Array) || key.length !== 32) throw new SealError('INVALID_ARGUMENT', 'ChaCha20-Poly1305 key must be 32 bytes');
    for (let i = 0; i < 8; i++) this.k[i] = le32(key, 4 * i);
  }

  /** Writes ct ‖ tag (pt.length + 16 bytes) at out[off..]. `out` must not overlap `pt` unless at the same offset. */
  sealInto(nonce: Uint8Array, aad: Uint8Array, pt: Uint8Array, out: Uint8Array, off: number): void {
    checkNonce(nonce);
    if (off < 0 || off + pt.length + 16 > out.length) throw new SealError('INVALID_ARGUMENT', 'output buffer too small');
    const n0 = le32(nonce, 0), n1 = le32(nonce, 4), n2 = le32(nonce, 8);
    xorStream(this.k, n0, n1, n2, pt, 0, out, off, pt.length);
    block(this.k, 0, n0, n1, n2);
    mac(aad, out, off, pt.length);
    out.set(tagBuf, off + pt.length);
  }

  seal(nonce: Uint8Array, aad: Uint8Array, pt: Uint8Array): Uint8Array {
    const out = new Uint8Array(pt.length + 16);
    this.sealInto(nonce, aad, pt, out, 0);
    return out;
  }

  /** Plaintext, or SealError('OPEN_FAILED') when the tag does not verify (nothing is decrypted then). */
  open(nonce: Uint8Array, aad: Uint8Array, ct: Uint8Array): Uint8Array {
    checkNonce(nonce);
    if (ct.length < 16) throw new SealError('OPEN_FAILED', 'ciphertext shorter than the tag');
    const len = ct.length - 16;
    const n0 = le32(nonce, 0), n1 = le32(nonce, 4), n2 = le32(nonce, 8);
    block(this.k, 0, n0, n1, n2);
    mac(aad, ct, 0, len);
    let d = 0;
    for (let i = 0; i < 16; i++) d |= tagBuf[i]! ^ ct[len + i]!;
    if (d !== 0) throw new SealError('OPEN_FAILED', 'AEAD authentication failed');
    const out = new Uint8Array(len);
    xorStream(this.k, n0, n1, n2, ct, 0, out, 0, len);
    return out;
  }
}

/** noble, for big-endian hosts (same interface). */
export class NobleChaChaPolyKey {
  constructor(private readonly key: Uint8Array) {}
  sealInto(nonce: Uint8Array, aad: Uint8Array, pt: Uint8Array, out: Uint8Array, off: number): void {
    out.set(chacha20poly1305(this.key, nonce, aad).encrypt(pt), off);
  }
  seal(nonce: Uint8Array, aad: Uint8Array, pt: Uint8Array): Uint8Array {
    return chacha20poly1305(this.key, nonce, aad).encrypt(pt);
  }
  open(nonce: Uint8Array, aad: Uint8Array, ct: Uint8Array): Uint8Array {
    if (ct.length < 16) throw new SealError('OPEN_FAILED', 'ciphertext shorter than the tag');
    try {
      return chacha20poly1305(this.key, nonce, aad).decrypt(ct);
    } catch (cause) {
      throw new SealError('OPEN_FAILED', 'AEAD authentication failed', { cause });
    }
  }
}

/** @internal test-only: the AEAD's Poly1305 over aad ‖ pad ‖ ct ‖ pad ‖ lengths with one-time key `otk`. */
export function _aeadMacForTest(otk: Uint8Array, aad: Uint8Array, ct: Uint8Array): Uint8Array {
  for (let i = 0; i < 8; i++) ks[i] = le32(otk, 4 * i);
  mac(aad, ct, 0, ct.length);
  return tagBuf.slice();
}
