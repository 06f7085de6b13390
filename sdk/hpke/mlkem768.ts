/**
 * ML-KEM-768 (FIPS 203): key generation, encapsulation and decapsulation,
 * with prepared keys for the many-operations-per-key case.
 *
 * Why not `@noble/post-quantum`: a worker decapsulates every sealed request
 * with one long-lived key, and noble's decapsulation costs ~500–600 µs in Node 20
 * (generic coders, Uint16Array allocations per step, `%` reductions, and its
 * SHA-3). Here polynomials are Int32Arrays in module-level scratch, arithmetic
 * is Montgomery/Barrett on int32 (Math.imul, no BigInt, no `%` on the hot
 * path), the fixed operand of every NTT-domain product (Â, t̂, ŝ) is stored
 * with its odd coefficients pre-multiplied by γ, so Algorithm 11 costs one
 * Montgomery reduction per output coefficient, and SHAKE256/SHA3-512 calls
 * with short inputs fill the Keccak state directly (./keccak.ts).
 * Output is byte-identical to noble's; `mlkem768.test.ts` checks that on
 * random keys, messages and ciphertexts, and runs the C2SP / Go accumulated
 * vectors.
 *
 * Representation: a polynomial is 256 int32 coefficients, any representative
 * of its class mod q while computing, reduced to [0, q) only when encoded.
 * Multiplying two NTT-domain polynomials leaves a factor R⁻¹ (R = 2¹⁶), which
 * the inverse NTT's final scaling cancels (in key generation, a product with
 * R² mod q does).
 *
 * All calls are synchronous, so sharing scratch buffers between calls is safe.
 * JS gives no constant-time guarantee; the code avoids secret-dependent
 * branches and table lookups anyway, and the re-encryption check in
 * decapsulation has no early exit.
 */
import { SealError } from './errors.ts';
import { KeccakSponge, keccakP1600, sha3_256, sha3_512, shake128 } from './keccak.ts';

const N = 256;
const K = 3; // ML-KEM-768: k = 3, η1 = η2 = 2, du = 10, dv = 4 (FIPS 203 Table 2)
const Q = 3329;
const QINV = -3327; // q⁻¹ mod 2¹⁶, as a signed 16-bit value

/** ML-KEM-768 sizes in bytes (FIPS 203 Table 3). */
export const MLKEM768 = Object.freeze({
  encapsulationKey: 1184,
  decapsulationKey: 2400,
  cipherText: 1088,
  sharedSecret: 32,
});
const EK_BYTES = 1184;
const DK_BYTES = 2400;
const CT_BYTES = 1088;
const POLY12 = 384; // ByteEncode12 of one polynomial
const U_BYTES = 960; // c1 = ByteEncode10(Compress10(u)), k polynomials

// ---------------------------------------------------------------------------
// Field arithmetic

/** a·R⁻¹ mod q, in (−q, q), for |a| < 2¹⁵·q. */
function mont(a: number): number {
  const t = (Math.imul(a, QINV) << 16) >> 16;
  return (a - Math.imul(t, Q)) >> 16;
}

/** a mod q, centered in [−(q−1)/2, (q−1)/2], for |a| < 2¹⁵. */
function barrett(a: number): number {
  const t = (Math.imul(a, 20159) + (1 << 25)) >> 26; // 20159 = round(2²⁶ / q)
  return a - Math.imul(t, Q);
}

/** Exact modular helpers for the tables (module load and key preparation only). */
const modq = (a: number): number => ((a % Q) + Q) % Q;
const center = (a: number): number => {
  const r = modq(a);
  return r > Q >> 1 ? r - Q : r;
};
function powq(b: number, e: number): number {
  let r = 1;
  b = modq(b);
  for (; e > 0; e >>= 1, b = (b * b) % Q) if (e & 1) r = (r * b) % Q;
  return r;
}
const brv7 = (i: number): number => {
  let r = 0;
  for (let b = 0; b < 7; b++) r |= ((i >> b) & 1) << (6 - b);
  return r;
};

const R_MOD_Q = 65536 % Q;
const R2_MOD_Q = (R_MOD_Q * R_MOD_Q) % Q;
/** ζ^BitRev7(i) · R mod q, centered: the NTT's twiddles (FIPS 203 §4.3, ζ = 17), in Montgomery form. */
const ZETAS = Int32Array.from({ length: 128 }, (_, i) => center(powq(17, brv7(i)) * R_MOD_Q));
/** γ_i = ζ^(2·BitRev7(i)+1) mod q, centered: Algorithm 11's per-pair modulus (FIPS 203 Algorithm 12). */
const GAMMAS = Int32Array.from({ length: 128 }, (_, i) => center(powq(17, 2 * brv7(i) + 1)));
/** γ_i · R mod q, centered: mont(F·γ_i·R) = F·γ_i. */
const GAMMAS_R = GAMMAS.map((g) => center(g * R_MOD_Q));
/** R²/128 mod q: the inverse NTT's final ·128⁻¹, also multiplying by R to cancel a product's R⁻¹. */
const INV_NTT_SCALE = (R2_MOD_Q * powq(128, Q - 2)) % Q;

// ---------------------------------------------------------------------------
// NTT (FIPS 203 Algorithms 9–12)

// Both transforms run three layers per pass on eight coefficients held in
// locals (radix-8 kernels), instead of one load/store sweep per layer: layers
// of length 128, 64, 32, then 16, 8, 4, then 2. Butterflies and twiddle order
// are exactly Algorithms 9 and 10; only the loop nesting differs. The
// Montgomery reduction is written out in the kernels (t = mont(ζ·a)): V8 stops
// inlining `mont` calls past a size budget, which doubled the NTT's cost.

/** NTT (Algorithm 9) of p[off, off+256) in place. Input |c| < q; output centered. */
function ntt(p: Int32Array, off: number): void {
  let t: number, m: number;
  // Two radix-8 passes: k = 1 does lengths 128, 64, 32 (stride 32), k = 8 does
  // 16, 8, 4 (stride 4). Block b of a pass has twiddles ζ[k+b] (length 4s),
  // ζ[2k+2b+h] (2s), ζ[4k+4b+i] (s), points j + s·i for i = 0..7.
  for (let k = 1; k <= 8; k <<= 3) {
    const s = k === 1 ? 32 : 4, s2 = 2 * s, s3 = 3 * s, s4 = 4 * s, s5 = 5 * s, s6 = 6 * s, s7 = 7 * s;
    for (let b = 0; b < k; b++) {
      const z1 = ZETAS[k + b]!, z2 = ZETAS[2 * k + 2 * b]!, z3 = ZETAS[2 * k + 2 * b + 1]!;
      const z4 = ZETAS[4 * k + 4 * b]!, z5 = ZETAS[4 * k + 4 * b + 1]!, z6 = ZETAS[4 * k + 4 * b + 2]!, z7 = ZETAS[4 * k + 4 * b + 3]!;
      for (let j = off + 8 * s * b, end = j + s; j < end; j++) {
        let a0 = p[j]!, a1 = p[j + s]!, a2 = p[j + s2]!, a3 = p[j + s3]!;
        let a4 = p[j + s4]!, a5 = p[j + s5]!, a6 = p[j + s6]!, a7 = p[j + s7]!;
        m = Math.imul(z1, a4); t = (m - Math.imul((Math.imul(m, QINV) << 16) >> 16, Q)) >> 16; a4 = a0 - t; a0 += t;
        m = Math.imul(z1, a5); t = (m - Math.imul((Math.imul(m, QINV) << 16) >> 16, Q)) >> 16; a5 = a1 - t; a1 += t;
        m = Math.imul(z1, a6); t = (m - Math.imul((Math.imul(m, QINV) << 16) >> 16, Q)) >> 16; a6 = a2 - t; a2 += t;
        m = Math.imul(z1, a7); t = (m - Math.imul((Math.imul(m, QINV) << 16) >> 16, Q)) >> 16; a7 = a3 - t; a3 += t;
        m = Math.imul(z2, a2); t = (m - Math.imul((Math.imul(m, QINV) << 16) >> 16, Q)) >> 16; a2 = a0 - t; a0 += t;
        m = Math.imul(z2, a3); t = (m - Math.imul((Math.imul(m, QINV) << 16) >> 16, Q)) >> 16; a3 = a1 - t; a1 += t;
        m = Math.imul(z3, a6); t = (m - Math.imul((Math.imul(m, QINV) << 16) >> 16, Q)) >> 16; a6 = a4 - t; a4 += t;
        m = Math.imul(z3, a7); t = (m - Math.imul((Math.imul(m, QINV) << 16) >> 16, Q)) >> 16; a7 = a5 - t; a5 += t;
        m = Math.imul(z4, a1); t = (m - Math.imul((Math.imul(m, QINV) << 16) >> 16, Q)) >> 16; a1 = a0 - t; a0 += t;
        m = Math.imul(z5, a3); t = (m - Math.imul((Math.imul(m, QINV) << 16) >> 16, Q)) >> 16; a3 = a2 - t; a2 += t;
        m = Math.imul(z6, a5); t = (m - Math.imul((Math.imul(m, QINV) << 16) >> 16, Q)) >> 16; a5 = a4 - t; a4 += t;
        m = Math.imul(z7, a7); t = (m - Math.imul((Math.imul(m, QINV) << 16) >> 16, Q)) >> 16; a7 = a6 - t; a6 += t;
        p[j] = a0; p[j + s] = a1; p[j + s2] = a2; p[j + s3] = a3;
        p[j + s4] = a4; p[j + s5] = a5; p[j + s6] = a6; p[j + s7] = a7;
      }
    }
  }
  // len 2: ζ[64+b]; coefficients grew to < 8q, so reduce on the way out
  for (let b = 0, j = off; b < 64; b++, j += 4) {
    const z = ZETAS[64 + b]!;
    const a0 = p[j]!, a1 = p[j + 1]!;
    const t0 = mont(Math.imul(z, p[j + 2]!)), t1 = mont(Math.imul(z, p[j + 3]!));
    p[j] = barrett(a0 + t0);
    p[j + 1] = barrett(a1 + t1);
    p[j + 2] = barrett(a0 - t0);
    p[j + 3] = barrett(a1 - t1);
  }
}

/** NTT⁻¹ (Algorithm 10) of p[off, off+256) in place, times R. Input |c| < q; output |c| < q. */
function invNtt(p: Int32Array, off: number): void {
  let t: number, m: number;
  // len 2: ζ[127−b]
  for (let b = 0, j = off; b < 64; b++, j += 4) {
    const z = ZETAS[127 - b]!;
    const a0 = p[j]!, a1 = p[j + 1]!, a2 = p[j + 2]!, a3 = p[j + 3]!;
    p[j] = barrett(a0 + a2);
    p[j + 1] = barrett(a1 + a3);
    p[j + 2] = mont(Math.imul(z, a2 - a0));
    p[j + 3] = mont(Math.imul(z, a3 - a1));
  }
  // Two radix-8 passes, fwd's in reverse: k = 8 does lengths 4, 8, 16, k = 1
  // does 32, 64, 128, twiddles walked down (Algorithm 10's i−−). Inputs are
  // |c| < q, so the sums stay < 8q: reduced after k = 8, and after k = 1
  // everything is multiplied by R²/128 (mont(c·f)).
  for (let k = 8; k >= 1; k >>= 3) {
    const s = k === 1 ? 32 : 4, s2 = 2 * s, s3 = 3 * s, s4 = 4 * s, s5 = 5 * s, s6 = 6 * s, s7 = 7 * s;
    for (let b = 0; b < k; b++) {
      const z4 = ZETAS[8 * k - 1 - 4 * b]!, z5 = ZETAS[8 * k - 2 - 4 * b]!, z6 = ZETAS[8 * k - 3 - 4 * b]!, z7 = ZETAS[8 * k - 4 - 4 * b]!;
      const z2 = ZETAS[4 * k - 1 - 2 * b]!, z3 = ZETAS[4 * k - 2 - 2 * b]!, z1 = ZETAS[2 * k - 1 - b]!;
      for (let j = off + 8 * s * b, end = j + s; j < end; j++) {
        let a0 = p[j]!, a1 = p[j + s]!, a2 = p[j + s2]!, a3 = p[j + s3]!;
        let a4 = p[j + s4]!, a5 = p[j + s5]!, a6 = p[j + s6]!, a7 = p[j + s7]!;
        t = a0; a0 += a1; m = Math.imul(z4, a1 - t); a1 = (m - Math.imul((Math.imul(m, QINV) << 16) >> 16, Q)) >> 16;
        t = a2; a2 += a3; m = Math.imul(z5, a3 - t); a3 = (m - Math.imul((Math.imul(m, QINV) << 16) >> 16, Q)) >> 16;
        t = a4; a4 += a5; m = Math.imul(z6, a5 - t); a5 = (m - Math.imul((Math.imul(m, QINV) << 16) >> 16, Q)) >> 16;
        t = a6; a6 += a7; m = Math.imul(z7, a7 - t); a7 = (m - Math.imul((Math.imul(m, QINV) << 16) >> 16, Q)) >> 16;
        t = a0; a0 += a2; m = Math.imul(z2, a2 - t); a2 = (m - Math.imul((Math.imul(m, QINV) << 16) >> 16, Q)) >> 16;
        t = a1; a1 += a3; m = Math.imul(z2, a3 - t); a3 = (m - Math.imul((Math.imul(m, QINV) << 16) >> 16, Q)) >> 16;
        t = a4; a4 += a6; m = Math.imul(z3, a6 - t); a6 = (m - Math.imul((Math.imul(m, QINV) << 16) >> 16, Q)) >> 16;
        t = a5; a5 += a7; m = Math.imul(z3, a7 - t); a7 = (m - Math.imul((Math.imul(m, QINV) << 16) >> 16, Q)) >> 16;
        t = a0; a0 += a4; m = Math.imul(z1, a4 - t); a4 = (m - Math.imul((Math.imul(m, QINV) << 16) >> 16, Q)) >> 16;
        t = a1; a1 += a5; m = Math.imul(z1, a5 - t); a5 = (m - Math.imul((Math.imul(m, QINV) << 16) >> 16, Q)) >> 16;
        t = a2; a2 += a6; m = Math.imul(z1, a6 - t); a6 = (m - Math.imul((Math.imul(m, QINV) << 16) >> 16, Q)) >> 16;
        t = a3; a3 += a7; m = Math.imul(z1, a7 - t); a7 = (m - Math.imul((Math.imul(m, QINV) << 16) >> 16, Q)) >> 16;
        if (k === 8) {
          p[j] = barrett(a0); p[j + s] = barrett(a1); p[j + s2] = barrett(a2); p[j + s3] = barrett(a3);
          p[j + s4] = a4; p[j + s5] = a5; p[j + s6] = a6; p[j + s7] = a7;
        } else {
          const f = INV_NTT_SCALE;
          p[j] = mont(Math.imul(a0, f)); p[j + s] = mont(Math.imul(a1, f));
          p[j + s2] = mont(Math.imul(a2, f)); p[j + s3] = mont(Math.imul(a3, f));
          p[j + s4] = mont(Math.imul(a4, f)); p[j + s5] = mont(Math.imul(a5, f));
          p[j + s6] = mont(Math.imul(a6, f)); p[j + s7] = mont(Math.imul(a7, f));
        }
      }
    }
  }
}

/**
 * out[oo, oo+256) = R⁻¹ · Σ_{j<3} F_j ∘ g_j: MultiplyNTTs (Algorithms 11–12)
 * summed over a row of three polynomials. F_j = F[fo + 256j ...], its γ-scaled
 * odd coefficients Fg[go + 128j + i] = F_j[2i+1]·γ_i, g_j = g[256j ...].
 * All inputs centered (|c| ≤ q/2), so each sum of six products is < 2¹⁵·q.
 */
function mulAcc(F: Int32Array, fo: number, Fg: Int32Array, go: number, g: Int32Array, out: Int32Array, oo: number): void {
  for (let i = 0; i < 128; i++) {
    const e = 2 * i;
    const f00 = F[fo + e]!, f01 = F[fo + e + 1]!, h0 = Fg[go + i]!;
    const f10 = F[fo + 256 + e]!, f11 = F[fo + 257 + e]!, h1 = Fg[go + 128 + i]!;
    const f20 = F[fo + 512 + e]!, f21 = F[fo + 513 + e]!, h2 = Fg[go + 256 + i]!;
    const g00 = g[e]!, g01 = g[e + 1]!, g10 = g[256 + e]!, g11 = g[257 + e]!, g20 = g[512 + e]!, g21 = g[513 + e]!;
    const c0 = Math.imul(f00, g00) + Math.imul(h0, g01) + Math.imul(f10, g10) + Math.imul(h1, g11) + Math.imul(f20, g20) + Math.imul(h2, g21);
    const c1 = Math.imul(f00, g01) + Math.imul(f01, g00) + Math.imul(f10, g11) + Math.imul(f11, g10) + Math.imul(f20, g21) + Math.imul(f21, g20);
    out[oo + e] = (c0 - Math.imul((Math.imul(c0, QINV) << 16) >> 16, Q)) >> 16; // mont(c0), inlined
    out[oo + e + 1] = (c1 - Math.imul((Math.imul(c1, QINV) << 16) >> 16, Q)) >> 16;
  }
}

/** Fg[go + i] = F[fo + 2i + 1] · γ_i mod q (centered), for `polys` consecutive centered polynomials. */
function gammaScale(F: Int32Array, fo: number, Fg: Int32Array, go: number, polys: number): void {
  for (let p = 0; p < polys; p++) {
    for (let i = 0; i < 128; i++) Fg[go + 128 * p + i] = barrett(mont(Math.imul(F[fo + 256 * p + 2 * i + 1]!, GAMMAS_R[i]!)));
  }
}

/** x mod q in [0, q), for |x| < 2¹⁵. */
function canon(x: number): number {
  const r = barrett(x);
  return r + ((r >> 31) & Q);
}

// ---------------------------------------------------------------------------
// Compression (FIPS 203 §4.2.1): Compress_d(x) = ⌈2^d·x/q⌋ mod 2^d, x ∈ [0, q).
// Multiply-shift forms (no division, no table lookup on secret data), checked
// against the exact definition for every x in the tests.

/** Compress_1. */
const compress1 = (x: number): number => (Math.imul((x << 1) + 1665, 80635) >>> 28) & 1;
/** Compress_4 (the 32-bit product wraps; its top 4 bits are still the result mod 16). */
const compress4 = (x: number): number => Math.imul((x << 4) + 1665, 80635) >>> 28;
/** Compress_10 (the product needs 43 bits: exact in a double; ·2⁻³² is exact too). */
const compress10 = (x: number): number => (((x * 1024 + 1665) * 1290167 * 2.3283064365386963e-10) | 0) & 0x3ff;
/** Decompress_d(y) = ⌈q·y/2^d⌋. */
const decompress10 = (y: number): number => (Math.imul(y, Q) + 512) >> 10;
const decompress4 = (y: number): number => (Math.imul(y, Q) + 8) >> 4;

// ---------------------------------------------------------------------------
// Byte coding (Algorithms 5–6)

/**
 * ByteDecode12 of `polys` polynomials from b[bo...] into p[po...], each value
 * reduced mod q as FIPS 203 defines ByteDecode_12 and then centered. Returns a
 * negative number iff some encoded value was ≥ q (the modulus check, §7.2).
 */
function decode12(b: Uint8Array, bo: number, p: Int32Array, po: number, polys: number): number {
  let bad = 0;
  for (let i = 0, n = polys * 128; i < n; i++, bo += 3) {
    const b0 = b[bo]!, b1 = b[bo + 1]!, b2 = b[bo + 2]!;
    const c0 = b0 | ((b1 & 0xf) << 8);
    const c1 = (b1 >> 4) | (b2 << 4);
    bad |= Q - 1 - c0;
    bad |= Q - 1 - c1;
    p[po + 2 * i] = c0 - (Q & ~((c0 - Q) >> 31)); // c mod q, c < 2q
    p[po + 2 * i + 1] = c1 - (Q & ~((c1 - Q) >> 31));
  }
  for (let i = po, n = po + polys * N; i < n; i++) {
    const c = p[i]!;
    p[i] = c - (Q & ((1664 - c) >> 31)); // [0, q) → centered
  }
  return bad;
}

/** ByteEncode12 of `polys` polynomials (any representatives) from p[po...] into b[bo...]. */
function encode12(p: Int32Array, po: number, b: Uint8Array, bo: number, polys: number): void {
  for (let i = 0, n = polys * 128; i < n; i++, bo += 3) {
    const c0 = canon(p[po + 2 * i]!);
    const c1 = canon(p[po + 2 * i + 1]!);
    b[bo] = c0;
    b[bo + 1] = (c0 >> 8) | (c1 << 4);
    b[bo + 2] = c1 >> 4;
  }
}

/** Little-endian 32-bit words of b[bo, bo + 4n) into w[0, n). */
function toWords(b: Uint8Array, bo: number, w: Int32Array, n: number): void {
  for (let i = 0; i < n; i++, bo += 4) w[i] = b[bo]! | (b[bo + 1]! << 8) | (b[bo + 2]! << 16) | (b[bo + 3]! << 24);
}

/** Bytes of words w[wo, wo + n) into b[bo, bo + 4n). */
function fromWords(w: Int32Array, wo: number, b: Uint8Array, bo: number, n: number): void {
  for (let i = 0; i < n; i++, bo += 4) {
    const v = w[wo + i]!;
    b[bo] = v;
    b[bo + 1] = v >>> 8;
    b[bo + 2] = v >>> 16;
    b[bo + 3] = v >>> 24;
  }
}

// ---------------------------------------------------------------------------
// Hashes and sampling (FIPS 203 §4.1, Algorithms 7–8)

const ks = new Int32Array(50); // Keccak state for the one-block PRF and G

/**
 * p[po, po+256) = SamplePolyCBD_2(PRF_2(r, nonce)) (Algorithm 8, eq. 4.3):
 * SHAKE256(r ‖ nonce) is one block in and 128 bytes (one squeeze) out, so the
 * state is filled and read directly. `r` is 8 little-endian words.
 */
function cbd2Prf(r: Int32Array, nonce: number, p: Int32Array, po: number): void {
  const s = ks;
  s.fill(0);
  for (let i = 0; i < 8; i++) s[i] = r[i]!;
  s[8] = nonce | (0x1f << 8); // nonce byte, then SHAKE's domain/pad byte 0x1f
  s[33] = 0x80 << 24; // last pad bit, byte 135 of the 136-byte rate
  keccakP1600(s);
  for (let w = 0; w < 32; w++) {
    // η = 2: coefficient i uses bits 4i, 4i+1 (plus) and 4i+2, 4i+3 (minus)
    const x = s[w]!;
    const d = (x & 0x55555555) + ((x >>> 1) & 0x55555555);
    for (let k = 0, o = po + 8 * w; k < 32; k += 4, o++) p[o] = ((d >>> k) & 3) - ((d >>> (k + 2)) & 3);
  }
}

/**
 * G(a ‖ b) = SHA3-512 of two 32-byte strings given as 8 words each (FIPS 203
 * eq. 4.5), one block: out[0, 8) = first half (K), out[8, 16) = second (r).
 */
function g64(a: Int32Array, b: Int32Array, out: Int32Array): void {
  const s = ks;
  s.fill(0);
  for (let i = 0; i < 8; i++) {
    s[i] = a[i]!;
    s[8 + i] = b[i]!;
  }
  s[16] = 0x06; // SHA-3 domain/pad byte right after the 64 input bytes
  s[17] = 0x80 << 24; // last pad bit, byte 71 of the 72-byte rate
  keccakP1600(s);
  for (let i = 0; i < 16; i++) out[i] = s[i]!;
}

const xof = shake128(); // for SampleNTT
const xofBlock = new Uint8Array(168);
const xofSuffix = new Uint8Array(2);

/**
 * p[po, po+256) = SampleNTT(ρ ‖ a ‖ b) (Algorithm 7), centered. Rejection
 * sampling on public data: the number of XOF blocks read may vary.
 */
function sampleNtt(rho: Uint8Array, a: number, b: number, p: Int32Array, po: number): void {
  xofSuffix[0] = a;
  xofSuffix[1] = b;
  xof.reset().update(rho).update(xofSuffix);
  let j = 0;
  while (j < N) {
    xof.squeeze(xofBlock);
    for (let i = 0; i < 168 && j < N; i += 3) {
      const b0 = xofBlock[i]!, b1 = xofBlock[i + 1]!, b2 = xofBlock[i + 2]!;
      const d1 = b0 | ((b1 & 0xf) << 8);
      const d2 = (b1 >> 4) | (b2 << 4);
      if (d1 < Q) p[po + j++] = d1 > 1664 ? d1 - Q : d1;
      if (d2 < Q && j < N) p[po + j++] = d2 > 1664 ? d2 - Q : d2;
    }
  }
  xof.reset();
}

/**
 * The matrix, row-major, with its γ-scaled odd coefficients:
 * `transposed` false: M[i][j] = Â[i, j] = SampleNTT(ρ ‖ j ‖ i) (Algorithm 13 line 6, for t̂ = Â∘ŝ);
 * `transposed` true:  M[i][j] = Â[j, i] = SampleNTT(ρ ‖ i ‖ j) (for u = NTT⁻¹(Âᵀ∘ŷ), Algorithm 14).
 */
function sampleMatrix(rho: Uint8Array, transposed: boolean): { m: Int32Array; mg: Int32Array } {
  const m = new Int32Array(K * K * N);
  const mg = new Int32Array(K * K * 128);
  for (let i = 0; i < K; i++) {
    for (let j = 0; j < K; j++) sampleNtt(rho, transposed ? i : j, transposed ? j : i, m, (i * K + j) * N);
  }
  gammaScale(m, 0, mg, 0, K * K);
  return { m, mg };
}

// ---------------------------------------------------------------------------
// Errors and checks

function requireLength(name: string, v: unknown, len: number, code: 'KEY_MISMATCH' | 'MALFORMED_MESSAGE' | 'INVALID_ARGUMENT'): asserts v is Uint8Array {
  if (!(v instanceof Uint8Array)) throw new SealError(code, `ML-KEM-768 ${name} must be a Uint8Array`);
  if (v.length !== len) throw new SealError(code, `ML-KEM-768 ${name} must be ${len} bytes, got ${v.length}`);
}

function randomBytes(n: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(n));
}

// ---------------------------------------------------------------------------
// K-PKE.Encrypt core (Algorithm 14), shared by encapsulation and the
// decapsulation re-encryption check. Writes the compressed coefficients of
// u (10 bits) into encU and of v (4 bits) into encV.

const y = new Int32Array(K * N); // ŷ (Algorithm 14's r̂), also ŝ/ê in key generation
const acc = new Int32Array(N);
const err = new Int32Array(N);
const encU = new Int32Array(K * N);
const encV = new Int32Array(N);

function encryptCore(pk: EncapsulationKeyData, m: Int32Array, r: Int32Array): void {
  for (let i = 0; i < K; i++) {
    cbd2Prf(r, i, y, i * N);
    ntt(y, i * N);
  }
  for (let i = 0; i < K; i++) {
    mulAcc(pk.at, i * K * N, pk.atg, i * K * 128, y, acc, 0);
    invNtt(acc, 0);
    cbd2Prf(r, K + i, err, 0); // e1[i]
    for (let c = 0, o = i * N; c < N; c++, o++) encU[o] = compress10(canon(acc[c]! + err[c]!));
  }
  mulAcc(pk.t, 0, pk.tg, 0, y, acc, 0);
  invNtt(acc, 0);
  cbd2Prf(r, 2 * K, err, 0); // e2
  for (let c = 0; c < N; c++) {
    const bit = (m[c >> 5]! >>> (c & 31)) & 1;
    encV[c] = compress4(canon(acc[c]! + err[c]! + (-bit & 1665))); // + Decompress_1(m)
  }
}

/** c = ByteEncode10(encU) ‖ ByteEncode4(encV) (Algorithm 14 lines 22–23). */
function packCiphertext(): Uint8Array {
  const ct = new Uint8Array(CT_BYTES);
  for (let i = 0, o = 0; i < K * N; i += 4, o += 5) {
    const c0 = encU[i]!, c1 = encU[i + 1]!, c2 = encU[i + 2]!, c3 = encU[i + 3]!;
    ct[o] = c0;
    ct[o + 1] = (c0 >> 8) | (c1 << 2);
    ct[o + 2] = (c1 >> 6) | (c2 << 4);
    ct[o + 3] = (c2 >> 4) | (c3 << 6);
    ct[o + 4] = c3 >> 2;
  }
  for (let i = 0, o = U_BYTES; i < N; i += 2, o++) ct[o] = encV[i]! | (encV[i + 1]! << 4);
  return ct;
}

const mWords = new Int32Array(8);
const gOut = new Int32Array(16); // G's output: K (words 0–7) ‖ r (words 8–15)
const rWords = gOut.subarray(8);

function wipeScratch(): void {
  y.fill(0);
  acc.fill(0);
  err.fill(0);
  encU.fill(0);
  encV.fill(0);
  ks.fill(0);
  mWords.fill(0);
  gOut.fill(0);
}

// ---------------------------------------------------------------------------
// Prepared encapsulation key

interface EncapsulationKeyData {
  /** Âᵀ, row-major (see sampleMatrix), and its γ-scaled odd coefficients. */
  at: Int32Array;
  atg: Int32Array;
  /** t̂ (k polynomials, centered) and its γ-scaled odd coefficients. */
  t: Int32Array;
  tg: Int32Array;
  /** H(ek) as 8 words. */
  h: Int32Array;
}

/** Decode and expand ek (the caller has checked the length). Returns null if the modulus check fails. */
function expandEncapsulationKey(ek: Uint8Array, h: Int32Array): EncapsulationKeyData | null {
  const t = new Int32Array(K * N);
  const bad = decode12(ek, 0, t, 0, K);
  if (bad < 0) return null;
  const tg = new Int32Array(K * 128);
  gammaScale(t, 0, tg, 0, K);
  const { m: at, mg: atg } = sampleMatrix(ek.subarray(K * POLY12), true);
  return { at, atg, t, tg, h };
}

/**
 * An ML-KEM-768 encapsulation key, checked (FIPS 203 §7.2) and expanded once
 * (Â, t̂, H(ek)) for any number of encapsulations. From prepareEncapsulationKey().
 */
export interface PreparedEncapsulationKey {
  /** A copy of the encapsulation key bytes. */
  readonly encapsulationKey: Uint8Array;
  /**
   * ML-KEM.Encaps (Algorithm 20), or Encaps_internal (Algorithm 17) when the
   * 32-byte `m` is given (test vectors only: m must be fresh and random).
   */
  encapsulate(m?: Uint8Array): { cipherText: Uint8Array; sharedSecret: Uint8Array };
}

class EncapsulationKey implements PreparedEncapsulationKey {
  constructor(
    private readonly ek: Uint8Array,
    readonly data: EncapsulationKeyData,
  ) {}

  get encapsulationKey(): Uint8Array {
    return this.ek.slice();
  }

  encapsulate(m?: Uint8Array): { cipherText: Uint8Array; sharedSecret: Uint8Array } {
    const own = m === undefined;
    const msg = own ? randomBytes(32) : m;
    requireLength('message m', msg, 32, 'INVALID_ARGUMENT');
    try {
      toWords(msg, 0, mWords, 8);
      g64(mWords, this.data.h, gOut); // (K, r) = G(m ‖ H(ek)), Algorithm 17 line 1
      encryptCore(this.data, mWords, rWords);
      const cipherText = packCiphertext();
      const sharedSecret = new Uint8Array(32);
      fromWords(gOut, 0, sharedSecret, 0, 8);
      return { cipherText, sharedSecret };
    } finally {
      wipeScratch();
      if (own) msg.fill(0);
    }
  }
}

/**
 * Check and expand an ML-KEM-768 encapsulation key: a wrong length is
 * KEY_MISMATCH, a coefficient ≥ q (the §7.2 modulus check) is KEM_FAILED.
 *
 * @example
 * const pk = prepareEncapsulationKey(ek);
 * const a = pk.encapsulate(), b = pk.encapsulate();
 */
export function prepareEncapsulationKey(ek: Uint8Array): PreparedEncapsulationKey {
  requireLength('encapsulation key', ek, EK_BYTES, 'KEY_MISMATCH');
  const copy = ek.slice();
  const h = new Int32Array(8);
  toWords(sha3_256(copy), 0, h, 8);
  const data = expandEncapsulationKey(copy, h);
  if (!data) throw new SealError('KEM_FAILED', 'ML-KEM-768 encapsulation key fails the modulus check (FIPS 203 §7.2)');
  return new EncapsulationKey(copy, data);
}

/**
 * ML-KEM.Encaps for a one-off key; see PreparedEncapsulationKey for repeated use.
 *
 * @example
 * const { cipherText, sharedSecret } = encapsulate(ek);
 */
export function encapsulate(ek: Uint8Array, m?: Uint8Array): { cipherText: Uint8Array; sharedSecret: Uint8Array } {
  return prepareEncapsulationKey(ek).encapsulate(m);
}

// ---------------------------------------------------------------------------
// Prepared decapsulation key

const ctU = new Int32Array(K * N); // the received c1's 10-bit values
const ctV = new Int32Array(N); // the received c2's 4-bit values
const u = new Int32Array(K * N);
const kBar = new Uint8Array(32);
const jSponge = new KeccakSponge(136, 0x1f); // J = SHAKE256(z ‖ c, 32)

/**
 * An ML-KEM-768 decapsulation key, checked (FIPS 203 §7.3) and expanded once:
 * ŝ decoded, Â and t̂ expanded, H(ek) and z kept, for any number of
 * decapsulations. Holds secret material for its lifetime. From
 * prepareDecapsulationKey().
 */
export interface PreparedDecapsulationKey {
  /** The embedded encapsulation key, expanded (public data). */
  readonly publicKey: PreparedEncapsulationKey;
  /**
   * ML-KEM.Decaps (Algorithms 21 and 18): never fails on a 1088-byte
   * ciphertext, an invalid one yields the implicit-rejection key J(z ‖ c);
   * a wrong length is MALFORMED_MESSAGE.
   */
  decapsulate(cipherText: Uint8Array): Uint8Array;
}

class DecapsulationKey implements PreparedDecapsulationKey {
  constructor(
    readonly publicKey: EncapsulationKey,
    private readonly s: Int32Array,
    private readonly sg: Int32Array,
    private readonly z: Uint8Array,
  ) {}

  decapsulate(cipherText: Uint8Array): Uint8Array {
    requireLength('ciphertext', cipherText, CT_BYTES, 'MALFORMED_MESSAGE');
    const c = cipherText;
    const pk = this.publicKey.data;
    try {
      // K-PKE.Decrypt (Algorithm 15): u' = Decompress10(c1), v' = Decompress4(c2)
      for (let i = 0, o = 0; i < K * N; i += 4, o += 5) {
        const b0 = c[o]!, b1 = c[o + 1]!, b2 = c[o + 2]!, b3 = c[o + 3]!, b4 = c[o + 4]!;
        const c0 = b0 | ((b1 & 3) << 8), c1 = (b1 >> 2) | ((b2 & 0xf) << 6);
        const c2 = (b2 >> 4) | ((b3 & 0x3f) << 4), c3 = (b3 >> 6) | (b4 << 2);
        ctU[i] = c0;
        ctU[i + 1] = c1;
        ctU[i + 2] = c2;
        ctU[i + 3] = c3;
        u[i] = decompress10(c0);
        u[i + 1] = decompress10(c1);
        u[i + 2] = decompress10(c2);
        u[i + 3] = decompress10(c3);
      }
      for (let i = 0, o = U_BYTES; i < N; i += 2, o++) {
        ctV[i] = c[o]! & 0xf;
        ctV[i + 1] = c[o]! >> 4;
      }
      for (let i = 0; i < K; i++) ntt(u, i * N);
      mulAcc(this.s, 0, this.sg, 0, u, acc, 0); // ŝᵀ ∘ NTT(u')
      invNtt(acc, 0);
      // w = v' − NTT⁻¹(ŝᵀ∘û); m' = ByteEncode1(Compress1(w)), as 8 words
      mWords.fill(0);
      for (let i = 0; i < N; i++) {
        const bit = compress1(canon(decompress4(ctV[i]!) - acc[i]!));
        mWords[i >> 5]! |= bit << (i & 31);
      }
      // (K', r') = G(m' ‖ h); c' = K-PKE.Encrypt(ek, m', r')
      g64(mWords, pk.h, gOut);
      encryptCore(pk, mWords, rWords);
      // c = c' compared as the compressed coefficients (a bijection with the bytes), no early exit
      let diff = 0;
      for (let i = 0; i < K * N; i++) diff |= encU[i]! ^ ctU[i]!;
      for (let i = 0; i < N; i++) diff |= encV[i]! ^ ctV[i]!;
      // K̄ = J(z ‖ c), always computed
      jSponge.reset().update(this.z).update(c).squeeze(kBar);
      const reject = -diff >> 31; // all ones iff diff ≠ 0
      const out = new Uint8Array(32);
      for (let i = 0; i < 8; i++) {
        const kw = gOut[i]!;
        const v = kw ^ (reject & (kw ^ (kBar[4 * i]! | (kBar[4 * i + 1]! << 8) | (kBar[4 * i + 2]! << 16) | (kBar[4 * i + 3]! << 24))));
        out[4 * i] = v;
        out[4 * i + 1] = v >>> 8;
        out[4 * i + 2] = v >>> 16;
        out[4 * i + 3] = v >>> 24;
      }
      return out;
    } finally {
      wipeScratch();
      ctU.fill(0);
      ctV.fill(0);
      u.fill(0);
      kBar.fill(0);
      jSponge.reset();
    }
  }
}

/**
 * Check and expand an ML-KEM-768 decapsulation key dk = dk_PKE ‖ ek ‖ H(ek) ‖ z.
 * A wrong length or a failed hash check H(ek) (FIPS 203 §7.3) is KEY_MISMATCH.
 *
 * @example
 * const dk = prepareDecapsulationKey(decapsulationKey);
 * const ss = dk.decapsulate(cipherText);
 */
export function prepareDecapsulationKey(dk: Uint8Array): PreparedDecapsulationKey {
  requireLength('decapsulation key', dk, DK_BYTES, 'KEY_MISMATCH');
  const ek = dk.slice(K * POLY12, K * POLY12 + EK_BYTES);
  const hBytes = sha3_256(ek);
  let d = 0;
  for (let i = 0; i < 32; i++) d |= hBytes[i]! ^ dk[K * POLY12 + EK_BYTES + i]!;
  if (d !== 0) throw new SealError('KEY_MISMATCH', 'ML-KEM-768 decapsulation key fails the hash check (FIPS 203 §7.3)');
  const h = new Int32Array(8);
  toWords(hBytes, 0, h, 8);
  // §7.3 asks for no modulus check on the embedded ek: decode it reduced, as ByteDecode12 does.
  const t = new Int32Array(K * N);
  decode12(ek, 0, t, 0, K);
  const tg = new Int32Array(K * 128);
  gammaScale(t, 0, tg, 0, K);
  const { m: at, mg: atg } = sampleMatrix(ek.subarray(K * POLY12), true);
  const publicKey = new EncapsulationKey(ek, { at, atg, t, tg, h });
  const s = new Int32Array(K * N);
  decode12(dk, 0, s, 0, K);
  const sg = new Int32Array(K * 128);
  gammaScale(s, 0, sg, 0, K);
  const z = dk.slice(DK_BYTES - 32);
  return new DecapsulationKey(publicKey, s, sg, z);
}

/**
 * ML-KEM.Decaps for a one-off key; see PreparedDecapsulationKey for repeated use.
 *
 * @example
 * const ss = decapsulate(cipherText, decapsulationKey);
 */
export function decapsulate(cipherText: Uint8Array, dk: Uint8Array): Uint8Array {
  requireLength('ciphertext', cipherText, CT_BYTES, 'MALFORMED_MESSAGE');
  return prepareDecapsulationKey(dk).decapsulate(cipherText);
}

// ---------------------------------------------------------------------------
// Key generation

const kgSeed = new Uint8Array(33);

/**
 * ML-KEM.KeyGen_internal(d, z) (Algorithm 16, with K-PKE.KeyGen, Algorithm 13).
 * `d` and `z` are 32 random bytes each (noble's 64-byte seed is d ‖ z).
 *
 * @example
 * const { encapsulationKey, decapsulationKey } = keygen(randomD, randomZ);
 */
export function keygen(d: Uint8Array, z: Uint8Array): { encapsulationKey: Uint8Array; decapsulationKey: Uint8Array } {
  requireLength('seed d', d, 32, 'INVALID_ARGUMENT');
  requireLength('seed z', z, 32, 'INVALID_ARGUMENT');
  const sigma = new Int32Array(8);
  let rhoSigma: Uint8Array | undefined;
  try {
    kgSeed.set(d);
    kgSeed[32] = K; // (ρ, σ) = G(d ‖ k)
    rhoSigma = sha3_512(kgSeed);
    const rho = rhoSigma.subarray(0, 32);
    toWords(rhoSigma, 32, sigma, 8);
    const { m: a, mg: ag } = sampleMatrix(rho, false);
    for (let i = 0; i < K; i++) {
      cbd2Prf(sigma, i, y, i * N); // s
      ntt(y, i * N);
    }
    const dk = new Uint8Array(DK_BYTES);
    const ek = dk.subarray(K * POLY12, K * POLY12 + EK_BYTES);
    for (let i = 0; i < K; i++) {
      mulAcc(a, i * K * N, ag, i * K * 128, y, acc, 0); // Â[i]·ŝ, times R⁻¹
      cbd2Prf(sigma, K + i, err, 0); // e
      ntt(err, 0);
      for (let c = 0; c < N; c++) acc[c] = mont(Math.imul(acc[c]!, R2_MOD_Q)) + err[c]!; // ·R cancels R⁻¹; + ê
      encode12(acc, 0, ek, i * POLY12, 1);
    }
    ek.set(rho, K * POLY12);
    encode12(y, 0, dk, 0, K); // dk_PKE = ByteEncode12(ŝ)
    dk.set(sha3_256(ek), K * POLY12 + EK_BYTES);
    dk.set(z, DK_BYTES - 32);
    return { encapsulationKey: ek.slice(), decapsulationKey: dk };
  } finally {
    wipeScratch();
    kgSeed.fill(0);
    sigma.fill(0);
    rhoSigma?.fill(0);
  }
}

/** Internals for tests only. */
export const _mlkemForTest = { compress1, compress4, compress10, decompress4, decompress10, ntt, invNtt, Q };
