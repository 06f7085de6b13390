/**
 * Keccak-f[1600] and the four FIPS 202 functions ML-KEM (FIPS 203) and X-Wing
 * use: SHA3-256, SHA3-512, SHAKE128 and SHAKE256.
 *
 * Why not `@noble/hashes`: ML-KEM-768 decapsulation runs ~17 Keccak
 * permutations (G, seven PRF calls, J over the 1088-byte ciphertext), and
 * noble's loop-and-array permutation costs ~5–6.5 µs in Node 20. Here a lane
 * is two 32-bit halves, one round is written out with the ρ/π outputs in 50
 * locals (no index arithmetic, no per-step loops), ~1.3 µs per permutation.
 * (Keeping all 50 state words in locals too was slower: V8 spills them.)
 * Output is byte-identical to noble's; `keccak.test.ts` checks FIPS 202 /
 * NIST example vectors and random inputs against noble.
 *
 * Byte order is handled with shifts, never by aliasing the state, so this is
 * correct on any host. Web-standard JS only (browsers, Workers, Node).
 */

/**
 * Round constants RC[ir] (FIPS 202 Algorithm 5/6), as lo/hi 32-bit halves,
 * computed from the spec's LFSR rather than typed in.
 */
const RC = /* @__PURE__ */ (() => {
  const rc = new Int32Array(48);
  let r = 1; // LFSR state R (8 bits), rc(0) = 1
  const step = (): number => {
    const bit = r & 1;
    r = (r & 0x80) ? ((r << 1) ^ 0x71) & 0xff : (r << 1) & 0xff; // x^8 + x^6 + x^5 + x^4 + 1
    return bit;
  };
  for (let ir = 0; ir < 24; ir++) {
    for (let j = 0; j < 7; j++) {
      const pos = (1 << j) - 1; // bit 2^j - 1 of lane (0,0)
      if (step()) rc[2 * ir + (pos >= 32 ? 1 : 0)]! |= 1 << (pos & 31);
    }
  }
  return rc;
})();

/**
 * Keccak-p[1600, 24] in place on a 50-word state: lane (x, y) is words
 * 2(x + 5y) (low half) and 2(x + 5y) + 1 (high half), little-endian as in
 * FIPS 202's byte order.
 *
 * @example
 * const s = new Int32Array(50);
 * keccakP1600(s); // Keccak-f[1600] of the zero state
 */
export function keccakP1600(s: Int32Array): void {
  let t0: number, t1: number;
  for (let ir = 0; ir < 48; ir += 2) {
    // θ: column parities C[x], then D[x] = C[x−1] ^ rot(C[x+1], 1)
    const c0 = s[0]! ^ s[10]! ^ s[20]! ^ s[30]! ^ s[40]!;
    const c1 = s[1]! ^ s[11]! ^ s[21]! ^ s[31]! ^ s[41]!;
    const c2 = s[2]! ^ s[12]! ^ s[22]! ^ s[32]! ^ s[42]!;
    const c3 = s[3]! ^ s[13]! ^ s[23]! ^ s[33]! ^ s[43]!;
    const c4 = s[4]! ^ s[14]! ^ s[24]! ^ s[34]! ^ s[44]!;
    const c5 = s[5]! ^ s[15]! ^ s[25]! ^ s[35]! ^ s[45]!;
    const c6 = s[6]! ^ s[16]! ^ s[26]! ^ s[36]! ^ s[46]!;
    const c7 = s[7]! ^ s[17]! ^ s[27]! ^ s[37]! ^ s[47]!;
    const c8 = s[8]! ^ s[18]! ^ s[28]! ^ s[38]! ^ s[48]!;
    const c9 = s[9]! ^ s[19]! ^ s[29]! ^ s[39]! ^ s[49]!;
    const d0 = c8 ^ ((c2 << 1) | (c3 >>> 31)), d1 = c9 ^ ((c3 << 1) | (c2 >>> 31));
    const d2 = c0 ^ ((c4 << 1) | (c5 >>> 31)), d3 = c1 ^ ((c5 << 1) | (c4 >>> 31));
    const d4 = c2 ^ ((c6 << 1) | (c7 >>> 31)), d5 = c3 ^ ((c7 << 1) | (c6 >>> 31));
    const d6 = c4 ^ ((c8 << 1) | (c9 >>> 31)), d7 = c5 ^ ((c9 << 1) | (c8 >>> 31));
    const d8 = c6 ^ ((c0 << 1) | (c1 >>> 31)), d9 = c7 ^ ((c1 << 1) | (c0 >>> 31));
    // ρ and π: B[y, 2x+3y] = rot(A[x, y] ^ D[x], r[x, y])
    const b0 = s[0]! ^ d0, b1 = s[1]! ^ d1; // A[0, 0], r = 0
    t0 = s[2]! ^ d2; t1 = s[3]! ^ d3; // A[1, 0], r = 1
    const b20 = (t0 << 1) | (t1 >>> 31), b21 = (t1 << 1) | (t0 >>> 31);
    t0 = s[4]! ^ d4; t1 = s[5]! ^ d5; // A[2, 0], r = 62
    const b40 = (t1 << 30) | (t0 >>> 2), b41 = (t0 << 30) | (t1 >>> 2);
    t0 = s[6]! ^ d6; t1 = s[7]! ^ d7; // A[3, 0], r = 28
    const b10 = (t0 << 28) | (t1 >>> 4), b11 = (t1 << 28) | (t0 >>> 4);
    t0 = s[8]! ^ d8; t1 = s[9]! ^ d9; // A[4, 0], r = 27
    const b30 = (t0 << 27) | (t1 >>> 5), b31 = (t1 << 27) | (t0 >>> 5);
    t0 = s[10]! ^ d0; t1 = s[11]! ^ d1; // A[0, 1], r = 36
    const b32 = (t1 << 4) | (t0 >>> 28), b33 = (t0 << 4) | (t1 >>> 28);
    t0 = s[12]! ^ d2; t1 = s[13]! ^ d3; // A[1, 1], r = 44
    const b2 = (t1 << 12) | (t0 >>> 20), b3 = (t0 << 12) | (t1 >>> 20);
    t0 = s[14]! ^ d4; t1 = s[15]! ^ d5; // A[2, 1], r = 6
    const b22 = (t0 << 6) | (t1 >>> 26), b23 = (t1 << 6) | (t0 >>> 26);
    t0 = s[16]! ^ d6; t1 = s[17]! ^ d7; // A[3, 1], r = 55
    const b42 = (t1 << 23) | (t0 >>> 9), b43 = (t0 << 23) | (t1 >>> 9);
    t0 = s[18]! ^ d8; t1 = s[19]! ^ d9; // A[4, 1], r = 20
    const b12 = (t0 << 20) | (t1 >>> 12), b13 = (t1 << 20) | (t0 >>> 12);
    t0 = s[20]! ^ d0; t1 = s[21]! ^ d1; // A[0, 2], r = 3
    const b14 = (t0 << 3) | (t1 >>> 29), b15 = (t1 << 3) | (t0 >>> 29);
    t0 = s[22]! ^ d2; t1 = s[23]! ^ d3; // A[1, 2], r = 10
    const b34 = (t0 << 10) | (t1 >>> 22), b35 = (t1 << 10) | (t0 >>> 22);
    t0 = s[24]! ^ d4; t1 = s[25]! ^ d5; // A[2, 2], r = 43
    const b4 = (t1 << 11) | (t0 >>> 21), b5 = (t0 << 11) | (t1 >>> 21);
    t0 = s[26]! ^ d6; t1 = s[27]! ^ d7; // A[3, 2], r = 25
    const b24 = (t0 << 25) | (t1 >>> 7), b25 = (t1 << 25) | (t0 >>> 7);
    t0 = s[28]! ^ d8; t1 = s[29]! ^ d9; // A[4, 2], r = 39
    const b44 = (t1 << 7) | (t0 >>> 25), b45 = (t0 << 7) | (t1 >>> 25);
    t0 = s[30]! ^ d0; t1 = s[31]! ^ d1; // A[0, 3], r = 41
    const b46 = (t1 << 9) | (t0 >>> 23), b47 = (t0 << 9) | (t1 >>> 23);
    t0 = s[32]! ^ d2; t1 = s[33]! ^ d3; // A[1, 3], r = 45
    const b16 = (t1 << 13) | (t0 >>> 19), b17 = (t0 << 13) | (t1 >>> 19);
    t0 = s[34]! ^ d4; t1 = s[35]! ^ d5; // A[2, 3], r = 15
    const b36 = (t0 << 15) | (t1 >>> 17), b37 = (t1 << 15) | (t0 >>> 17);
    t0 = s[36]! ^ d6; t1 = s[37]! ^ d7; // A[3, 3], r = 21
    const b6 = (t0 << 21) | (t1 >>> 11), b7 = (t1 << 21) | (t0 >>> 11);
    t0 = s[38]! ^ d8; t1 = s[39]! ^ d9; // A[4, 3], r = 8
    const b26 = (t0 << 8) | (t1 >>> 24), b27 = (t1 << 8) | (t0 >>> 24);
    t0 = s[40]! ^ d0; t1 = s[41]! ^ d1; // A[0, 4], r = 18
    const b28 = (t0 << 18) | (t1 >>> 14), b29 = (t1 << 18) | (t0 >>> 14);
    t0 = s[42]! ^ d2; t1 = s[43]! ^ d3; // A[1, 4], r = 2
    const b48 = (t0 << 2) | (t1 >>> 30), b49 = (t1 << 2) | (t0 >>> 30);
    t0 = s[44]! ^ d4; t1 = s[45]! ^ d5; // A[2, 4], r = 61
    const b18 = (t1 << 29) | (t0 >>> 3), b19 = (t0 << 29) | (t1 >>> 3);
    t0 = s[46]! ^ d6; t1 = s[47]! ^ d7; // A[3, 4], r = 56
    const b38 = (t1 << 24) | (t0 >>> 8), b39 = (t0 << 24) | (t1 >>> 8);
    t0 = s[48]! ^ d8; t1 = s[49]! ^ d9; // A[4, 4], r = 14
    const b8 = (t0 << 14) | (t1 >>> 18), b9 = (t1 << 14) | (t0 >>> 18);
    // χ: A[x, y] = B[x, y] ^ (~B[x+1, y] & B[x+2, y])
    s[0] = b0 ^ (~b2 & b4); s[1] = b1 ^ (~b3 & b5);
    s[2] = b2 ^ (~b4 & b6); s[3] = b3 ^ (~b5 & b7);
    s[4] = b4 ^ (~b6 & b8); s[5] = b5 ^ (~b7 & b9);
    s[6] = b6 ^ (~b8 & b0); s[7] = b7 ^ (~b9 & b1);
    s[8] = b8 ^ (~b0 & b2); s[9] = b9 ^ (~b1 & b3);
    s[10] = b10 ^ (~b12 & b14); s[11] = b11 ^ (~b13 & b15);
    s[12] = b12 ^ (~b14 & b16); s[13] = b13 ^ (~b15 & b17);
    s[14] = b14 ^ (~b16 & b18); s[15] = b15 ^ (~b17 & b19);
    s[16] = b16 ^ (~b18 & b10); s[17] = b17 ^ (~b19 & b11);
    s[18] = b18 ^ (~b10 & b12); s[19] = b19 ^ (~b11 & b13);
    s[20] = b20 ^ (~b22 & b24); s[21] = b21 ^ (~b23 & b25);
    s[22] = b22 ^ (~b24 & b26); s[23] = b23 ^ (~b25 & b27);
    s[24] = b24 ^ (~b26 & b28); s[25] = b25 ^ (~b27 & b29);
    s[26] = b26 ^ (~b28 & b20); s[27] = b27 ^ (~b29 & b21);
    s[28] = b28 ^ (~b20 & b22); s[29] = b29 ^ (~b21 & b23);
    s[30] = b30 ^ (~b32 & b34); s[31] = b31 ^ (~b33 & b35);
    s[32] = b32 ^ (~b34 & b36); s[33] = b33 ^ (~b35 & b37);
    s[34] = b34 ^ (~b36 & b38); s[35] = b35 ^ (~b37 & b39);
    s[36] = b36 ^ (~b38 & b30); s[37] = b37 ^ (~b39 & b31);
    s[38] = b38 ^ (~b30 & b32); s[39] = b39 ^ (~b31 & b33);
    s[40] = b40 ^ (~b42 & b44); s[41] = b41 ^ (~b43 & b45);
    s[42] = b42 ^ (~b44 & b46); s[43] = b43 ^ (~b45 & b47);
    s[44] = b44 ^ (~b46 & b48); s[45] = b45 ^ (~b47 & b49);
    s[46] = b46 ^ (~b48 & b40); s[47] = b47 ^ (~b49 & b41);
    s[48] = b48 ^ (~b40 & b42); s[49] = b49 ^ (~b41 & b43);
    // ι
    s[0] ^= RC[ir]!;
    s[1] ^= RC[ir + 1]!;
  }
}

/**
 * A Keccak[c] sponge with FIPS 202 padding: absorb any number of byte
 * strings, then squeeze any number of bytes (incrementally for an XOF).
 * `suffix` is the domain byte with the first pad bit: 0x06 for SHA-3,
 * 0x1f for SHAKE. `rate` is in bytes (a multiple of 8).
 *
 * @example
 * const xof = shake128();
 * xof.update(seed).update(Uint8Array.of(0, 1));
 * const block = xof.squeeze(new Uint8Array(168));
 */
export class KeccakSponge {
  /** State, 50 32-bit words (see keccakP1600). */
  readonly s = new Int32Array(50);
  private pos = 0;
  private squeezing = false;

  constructor(
    readonly rate: number,
    readonly suffix: number,
  ) {}

  /** Back to the empty state, for reuse. */
  reset(): this {
    this.s.fill(0);
    this.pos = 0;
    this.squeezing = false;
    return this;
  }

  /** Absorb `data` (all of it). Throws once squeezing has started. */
  update(data: Uint8Array): this {
    if (this.squeezing) throw new Error('Keccak: update after squeeze');
    const s = this.s;
    const rate = this.rate;
    const n = data.length;
    let pos = this.pos;
    let i = 0;
    while (i < n) {
      if ((pos & 3) === 0) {
        // whole little-endian words while both input and block have them
        const words = Math.min(rate - pos, n - i) >> 2;
        for (let w = pos >> 2, end = w + words; w < end; w++, i += 4) {
          s[w]! ^= data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
        }
        pos += words << 2;
      }
      if (pos < rate && i < n) {
        s[pos >> 2]! ^= data[i++]! << ((pos & 3) << 3);
        pos++;
      }
      if (pos === rate) {
        keccakP1600(s);
        pos = 0;
      }
    }
    this.pos = pos;
    return this;
  }

  /** Fill `out` with the next out.length output bytes (pads on the first call). */
  squeeze(out: Uint8Array): Uint8Array {
    const s = this.s;
    const rate = this.rate;
    let pos = this.pos;
    if (!this.squeezing) {
      // pad10*1 after the domain suffix bits (FIPS 202 §5.1, §6.1–6.2)
      s[pos >> 2]! ^= this.suffix << ((pos & 3) << 3);
      s[(rate - 1) >> 2]! ^= 0x80 << (((rate - 1) & 3) << 3);
      keccakP1600(s);
      pos = 0;
      this.squeezing = true;
    }
    const n = out.length;
    let i = 0;
    while (i < n) {
      if (pos === rate) {
        keccakP1600(s);
        pos = 0;
      }
      if ((pos & 3) === 0) {
        const words = Math.min(rate - pos, n - i) >> 2;
        for (let w = pos >> 2, end = w + words; w < end; w++, i += 4) {
          const v = s[w]!;
          out[i] = v;
          out[i + 1] = v >>> 8;
          out[i + 2] = v >>> 16;
          out[i + 3] = v >>> 24;
        }
        pos += words << 2;
      }
      if (pos < rate && i < n) {
        out[i++] = s[pos >> 2]! >>> ((pos & 3) << 3);
        pos++;
      }
    }
    this.pos = pos;
    return out;
  }
}

// One sponge per fixed-output function, reused: every call is synchronous.
const sha3_256Sponge = new KeccakSponge(136, 0x06);
const sha3_512Sponge = new KeccakSponge(72, 0x06);
const shake256Sponge = new KeccakSponge(136, 0x1f);

/**
 * SHA3-256 (FIPS 202 §6.1) of the concatenation of `parts`.
 *
 * @example
 * sha3_256(new TextEncoder().encode('abc')); // 3a985da7…11431532
 */
export function sha3_256(...parts: Uint8Array[]): Uint8Array {
  const h = sha3_256Sponge.reset();
  for (const p of parts) h.update(p);
  const out = h.squeeze(new Uint8Array(32));
  h.reset();
  return out;
}

/**
 * SHA3-512 (FIPS 202 §6.1) of the concatenation of `parts`.
 *
 * @example
 * sha3_512(new Uint8Array(0)); // a69f73cc…281dcd26
 */
export function sha3_512(...parts: Uint8Array[]): Uint8Array {
  const h = sha3_512Sponge.reset();
  for (const p of parts) h.update(p);
  const out = h.squeeze(new Uint8Array(64));
  h.reset();
  return out;
}

/**
 * SHAKE256 (FIPS 202 §6.2) of `data`, `dkLen` output bytes.
 *
 * @example
 * shake256(seed, 96); // X-Wing's expandDecapsulationKey
 */
export function shake256(data: Uint8Array, dkLen: number): Uint8Array {
  if (!Number.isSafeInteger(dkLen) || dkLen < 0) throw new RangeError('shake256: bad output length');
  const h = shake256Sponge.reset().update(data);
  const out = h.squeeze(new Uint8Array(dkLen));
  h.reset();
  return out;
}

/**
 * A fresh SHAKE128 instance (FIPS 202 §6.2): absorb with `update`, then
 * `squeeze` as many times as needed (ML-KEM's SampleNTT, FIPS 203 Algorithm 7).
 *
 * @example
 * shake128().update(new Uint8Array(0)).squeeze(new Uint8Array(16)); // 7f9c2ba4…
 */
export function shake128(): KeccakSponge {
  return new KeccakSponge(168, 0x1f);
}
