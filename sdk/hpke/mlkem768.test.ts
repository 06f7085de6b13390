import { describe, expect, it } from 'vitest';
import * as nobleSha3 from '@noble/hashes/sha3.js';
import { ml_kem768, __tests as nobleKem } from '@noble/post-quantum/ml-kem.js';
import { bytesToHex as hex, hexToBytes as h } from '@noble/hashes/utils.js';
import xwingVectors from './vectors/xwing-draft.json' with { type: 'json' };
import { SealError } from './errors.ts';
import { XWING } from './hpke.ts';
import { KeccakSponge, keccakP1600, sha3_256, sha3_512, shake128, shake256 } from './keccak.ts';
import {
  MLKEM768,
  _mlkemForTest as T,
  decapsulate,
  encapsulate,
  keygen,
  prepareDecapsulationKey,
  prepareEncapsulationKey,
} from './mlkem768.ts';

const te = new TextEncoder();
const Q = 3329;

// Deterministic test bytes from a SHAKE128 stream (so failures reproduce).
const stream = shake128().update(te.encode('sealgate mlkem768.test.ts'));
const rnd = (n: number): Uint8Array => stream.squeeze(new Uint8Array(n));
const rndInt = (n: number): number => (rnd(4).reduce((a, b) => a * 256 + b, 0) >>> 0) % n;

function expectCode(f: () => unknown, code: string): void {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(SealError);
    expect((e as SealError).code).toBe(code);
    return;
  }
  throw new Error(`expected SealError ${code}, nothing thrown`);
}

describe('Keccak / SHA-3 (own)', () => {
  const a3 = new Uint8Array(200).fill(0xa3);
  const m448 = te.encode('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq');
  const m896 = te.encode('abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu');

  it('FIPS 202 / NIST example vectors: SHA3-256, SHA3-512', () => {
    expect(hex(sha3_256(new Uint8Array(0)))).toBe('a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a');
    expect(hex(sha3_256(te.encode('abc')))).toBe('3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532');
    expect(hex(sha3_256(m448))).toBe('41c0dba2a9d6240849100376a8235e2c82e1b9998a999e21db32dd97496d3376');
    expect(hex(sha3_256(m896))).toBe('916f6061fe879741ca6469b43971dfdb28b1a32dc36cb3254e812be27aad1d18');
    expect(hex(sha3_256(a3))).toBe('79f38adec5c20307a98ef76e8324afbfd46cfd81b22e3973c65fa1bd9de31787');
    expect(hex(sha3_512(new Uint8Array(0)))).toBe(
      'a69f73cca23a9ac5c8b567dc185a756e97c982164fe25859e0d1dcc1475c80a615b2123af1f5f94c11e3e9402c3ac558f500199d95b6d3e301758586281dcd26',
    );
    expect(hex(sha3_512(te.encode('abc')))).toBe(
      'b751850b1a57168a5693cd924b6b096e08f621827444f70d884f5d0240d2712e10e116e9192af3c91a7ec57647e3934057340b4cf408d5a56592f8274eec53f0',
    );
    expect(hex(sha3_512(a3))).toBe(
      'e76dfad22084a8b1467fcf2ffa58361bec7628edf5f3fdc0e4805dc48caeeca81b7c13c30adf52a3659584739a2df46be589c51ca1a4a8416df6545a1ce8ba00',
    );
  });

  it('FIPS 202 / NIST example vectors: SHAKE128, SHAKE256', () => {
    const s128 = (m: Uint8Array, n: number) => hex(shake128().update(m).squeeze(new Uint8Array(n)));
    expect(s128(new Uint8Array(0), 32)).toBe('7f9c2ba4e88f827d616045507605853ed73b8093f6efbc88eb1a6eacfa66ef26');
    expect(s128(te.encode('abc'), 32)).toBe('5881092dd818bf5cf8a3ddb793fbcba74097d5c526a6d35f97b83351940f2cc8');
    expect(s128(a3, 64)).toBe(
      '131ab8d2b594946b9c81333f9bb6e0ce75c3b93104fa3469d3917457385da037cf232ef7164a6d1eb448c8908186ad852d3f85a5cf28da1ab6fe343817197846',
    );
    expect(hex(shake256(new Uint8Array(0), 64))).toBe(
      '46b9dd2b0ba88d13233b3feb743eeb243fcd52ea62b81b82b50c27646ed5762fd75dc4ddd8c0f200cb05019d67b592f6fc821c49479ab48640292eacb3b7c4be',
    );
    expect(hex(shake256(te.encode('abc'), 64))).toBe(
      '483366601360a8771c6863080cc4114d8db44530f8f1e1ee4f94ea37e78b5739d5a15bef186a5386c75744c0527e1faa9f8726e462a12a4feb06bd8801e751e4',
    );
    expect(hex(shake256(a3, 64))).toBe(
      'cd8a920ed141aa0407a22d59288652e9d9f1a7ee0c1e7c1ca699424da84a904d2d700caae7396ece96604440577da4f3aa22aeb8857f961c4cd8e06f0ae6610b',
    );
  });

  it('the permutation matches noble keccakP on random states', () => {
    for (let i = 0; i < 50; i++) {
      const bytes = rnd(200);
      const ours = new Int32Array(bytes.slice().buffer);
      const theirs = new Uint32Array(bytes.slice().buffer);
      keccakP1600(ours);
      nobleSha3.keccakP(theirs);
      expect(hex(new Uint8Array(ours.buffer))).toBe(hex(new Uint8Array(theirs.buffer)));
    }
  });

  it('matches noble on every input length 0..560 (0 to 3+ blocks of each rate)', () => {
    for (let len = 0; len <= 560; len++) {
      const m = rnd(len);
      expect(hex(sha3_256(m))).toBe(hex(nobleSha3.sha3_256(m)));
      expect(hex(sha3_512(m))).toBe(hex(nobleSha3.sha3_512(m)));
      expect(hex(shake256(m, 32))).toBe(hex(nobleSha3.shake256(m, { dkLen: 32 })));
      expect(hex(shake128().update(m).squeeze(new Uint8Array(32)))).toBe(hex(nobleSha3.shake128(m, { dkLen: 32 })));
    }
  });

  it('SHAKE outputs of every length 0..700, and incremental squeezes in random pieces, match noble', () => {
    const m = rnd(77);
    const ref128 = nobleSha3.shake128(m, { dkLen: 700 });
    const ref256 = nobleSha3.shake256(m, { dkLen: 700 });
    for (let n = 0; n <= 700; n++) {
      expect(hex(shake256(m, n))).toBe(hex(ref256.subarray(0, n)));
      expect(hex(shake128().update(m).squeeze(new Uint8Array(n)))).toBe(hex(ref128.subarray(0, n)));
    }
    for (let trial = 0; trial < 20; trial++) {
      const x128 = shake128().update(m);
      const x256 = new KeccakSponge(136, 0x1f).update(m);
      const o128 = new Uint8Array(700);
      const o256 = new Uint8Array(700);
      for (let at = 0; at < 700; ) {
        const n = Math.min(700 - at, rndInt(trial < 10 ? 9 : 200));
        x128.squeeze(o128.subarray(at, at + n));
        x256.squeeze(o256.subarray(at, at + n));
        at += n;
      }
      expect(hex(o128)).toBe(hex(ref128));
      expect(hex(o256)).toBe(hex(ref256));
    }
  });

  it('absorbing in random pieces (multi-part input) equals one shot', () => {
    for (let trial = 0; trial < 40; trial++) {
      const m = rnd(rndInt(600));
      const parts: Uint8Array[] = [];
      for (let at = 0; at < m.length; ) {
        const n = Math.min(m.length - at, rndInt(trial < 20 ? 7 : 180));
        parts.push(m.subarray(at, at + n));
        at += n;
      }
      expect(hex(sha3_256(...parts))).toBe(hex(nobleSha3.sha3_256(m)));
      expect(hex(sha3_512(...parts))).toBe(hex(nobleSha3.sha3_512(m)));
      const x = new KeccakSponge(136, 0x1f);
      for (const p of parts) x.update(p);
      expect(hex(x.squeeze(new Uint8Array(50)))).toBe(hex(nobleSha3.shake256(m, { dkLen: 50 })));
    }
  });

  it('refuses update after squeeze and a bad output length', () => {
    const x = shake128();
    x.squeeze(new Uint8Array(1));
    expect(() => x.update(new Uint8Array(1))).toThrow(/after squeeze/);
    expect(() => shake256(new Uint8Array(0), -1)).toThrow(RangeError);
  });
});

describe('ML-KEM-768 arithmetic', () => {
  it('Compress_d / Decompress_d equal the exact definitions for every input (d = 1, 4, 10)', () => {
    // Compress_d(x) = ⌈2^d·x/q⌋ mod 2^d, rounding halves up; Decompress_d(y) = ⌈q·y/2^d⌋.
    const compress = (x: number, d: number) => Math.floor((2 * x * 2 ** d + Q) / (2 * Q)) % 2 ** d;
    const decompress = (y: number, d: number) => Math.floor((2 * Q * y + 2 ** d) / 2 ** (d + 1));
    for (let x = 0; x < Q; x++) {
      expect(T.compress1(x)).toBe(compress(x, 1));
      expect(T.compress4(x)).toBe(compress(x, 4));
      expect(T.compress10(x)).toBe(compress(x, 10));
      expect(T.compress4(x)).toBe(nobleKem.Compress_d(x, 4));
      expect(T.compress10(x)).toBe(nobleKem.Compress_d(x, 10));
    }
    for (let y = 0; y < 1024; y++) {
      expect(T.decompress10(y)).toBe(decompress(y, 10));
      if (y < 16) expect(T.decompress4(y)).toBe(decompress(y, 4));
    }
  });

  it('NTT matches noble, and NTT⁻¹(NTT(f)) = f·R (the Montgomery factor the inverse adds)', () => {
    const canon = (x: number) => ((x % Q) + Q) % Q;
    for (let i = 0; i < 50; i++) {
      const f = Array.from({ length: 256 }, () => rndInt(Q));
      const p = Int32Array.from(f);
      T.ntt(p, 0);
      expect(Array.from(p, canon)).toEqual(Array.from(nobleKem.NTT(Uint16Array.from(f)) as Uint16Array));
      T.invNtt(p, 0);
      expect(Array.from(p, canon)).toEqual(f.map((c) => (c * 65536) % Q));
    }
  });
});

describe('ML-KEM-768 against noble (differential)', () => {
  it('keygen, encapsulation and decapsulation are byte-identical on 200 random keys', () => {
    for (let i = 0; i < 200; i++) {
      const s = rnd(64);
      const n = ml_kem768.keygen(s);
      const o = keygen(s.subarray(0, 32), s.subarray(32));
      expect(hex(o.encapsulationKey)).toBe(hex(n.publicKey));
      expect(hex(o.decapsulationKey)).toBe(hex(n.secretKey));

      const m = rnd(32);
      const ne = ml_kem768.encapsulate(n.publicKey, m);
      const pk = prepareEncapsulationKey(o.encapsulationKey);
      const oe = pk.encapsulate(m);
      expect(hex(oe.cipherText)).toBe(hex(ne.cipherText));
      expect(hex(oe.sharedSecret)).toBe(hex(ne.sharedSecret));
      if (i % 10 === 0) expect(hex(encapsulate(o.encapsulationKey, m).cipherText)).toBe(hex(ne.cipherText));

      const dk = prepareDecapsulationKey(o.decapsulationKey);
      expect(hex(dk.decapsulate(ne.cipherText))).toBe(hex(ne.sharedSecret));
      const ct = rnd(MLKEM768.cipherText);
      const rejected = dk.decapsulate(ct);
      expect(hex(rejected)).toBe(hex(ml_kem768.decapsulate(ct, n.secretKey)));
      expect(hex(rejected)).toBe(hex(nobleSha3.shake256(new Uint8Array([...o.decapsulationKey.subarray(2368), ...ct]), { dkLen: 32 })));
      if (i % 10 === 0) expect(hex(decapsulate(ct, o.decapsulationKey))).toBe(hex(rejected));

      // random m: what we encapsulate, noble and we decapsulate alike
      const r = pk.encapsulate();
      expect(hex(ml_kem768.decapsulate(r.cipherText, n.secretKey))).toBe(hex(r.sharedSecret));
      expect(hex(dk.decapsulate(r.cipherText))).toBe(hex(r.sharedSecret));
    }
  });

  it('every single-byte change of a valid ciphertext (all 960 u bytes and 128 v bytes) gives noble\'s implicit-rejection key', () => {
    const s = rnd(64);
    const n = ml_kem768.keygen(s);
    const dk = prepareDecapsulationKey(n.secretKey);
    const { cipherText, sharedSecret } = ml_kem768.encapsulate(n.publicKey, rnd(32));
    const seen = new Set<string>();
    for (let pos = 0; pos < MLKEM768.cipherText; pos++) {
      const bad = cipherText.slice();
      bad[pos]! ^= 1 + rndInt(255);
      const k = hex(dk.decapsulate(bad));
      expect(k).toBe(hex(ml_kem768.decapsulate(bad, n.secretKey)));
      expect(k).not.toBe(hex(sharedSecret));
      seen.add(k);
    }
    expect(seen.size).toBe(MLKEM768.cipherText); // J(z ‖ c) differs per ciphertext
    expect(hex(dk.decapsulate(cipherText))).toBe(hex(sharedSecret));
  });

  it('single-bit flips at the first and last bit of every coefficient class agree with noble', () => {
    const n = ml_kem768.keygen(rnd(64));
    const dk = prepareDecapsulationKey(n.secretKey);
    const { cipherText } = ml_kem768.encapsulate(n.publicKey, rnd(32));
    // u: 4 coefficients per 5 bytes (bit offsets 0, 10, 20, 30 in each group); v: 2 per byte
    const bits = [0, 9, 10, 19, 20, 29, 30, 39].flatMap((b) => [b, 5 * 8 * 63 + b, 5 * 8 * 191 + b]);
    bits.push(960 * 8, 960 * 8 + 3, 960 * 8 + 4, 960 * 8 + 7, 1087 * 8, 1087 * 8 + 7);
    for (const bit of bits) {
      const bad = cipherText.slice();
      bad[bit >> 3]! ^= 1 << (bit & 7);
      expect(hex(dk.decapsulate(bad))).toBe(hex(ml_kem768.decapsulate(bad, n.secretKey)));
    }
  });

  it('a decapsulation key whose dk_PKE holds values ≥ q (not checked by FIPS 203) decapsulates as noble does', () => {
    const n = ml_kem768.keygen(rnd(64));
    const dkBytes = n.secretKey.slice();
    dkBytes[0] = 0xff;
    dkBytes[1]! |= 0x0f; // first coefficient of ŝ[0] = 4095
    dkBytes[3 * 384 - 1] = 0xff; // last coefficient of ŝ[2] ≥ q
    const { cipherText } = ml_kem768.encapsulate(n.publicKey, rnd(32));
    const dk = prepareDecapsulationKey(dkBytes);
    expect(hex(dk.decapsulate(cipherText))).toBe(hex(ml_kem768.decapsulate(cipherText, dkBytes)));
    const ct = rnd(1088);
    expect(hex(dk.decapsulate(ct))).toBe(hex(ml_kem768.decapsulate(ct, dkBytes)));
  });

  it('does not modify its inputs, and prepared keys keep their own copies', () => {
    const d = rnd(32), z = rnd(32), m = rnd(32);
    const [d0, z0, m0] = [hex(d), hex(z), hex(m)];
    const { encapsulationKey: ek, decapsulationKey: dkBytes } = keygen(d, z);
    const pk = prepareEncapsulationKey(ek);
    const dk = prepareDecapsulationKey(dkBytes);
    const { cipherText, sharedSecret } = pk.encapsulate(m);
    const c0 = hex(cipherText);
    expect(hex(dk.decapsulate(cipherText))).toBe(hex(sharedSecret));
    expect([hex(d), hex(z), hex(m), hex(cipherText)]).toEqual([d0, z0, m0, c0]);
    ek.fill(0);
    dkBytes.fill(0);
    pk.encapsulationKey.fill(0);
    expect(hex(pk.encapsulate(m).cipherText)).toBe(c0);
    expect(hex(dk.decapsulate(cipherText))).toBe(hex(sharedSecret));
    expect(hex(dk.publicKey.encapsulate(m).sharedSecret)).toBe(hex(sharedSecret));
  });
});

describe('ML-KEM-768 input checks (typed errors)', () => {
  const { encapsulationKey: ek, decapsulationKey: dk } = keygen(rnd(32), rnd(32));

  it('rejects an encapsulation key with a coefficient ≥ q (FIPS 203 §7.2) with KEM_FAILED, as noble does', () => {
    // ByteEncode12 packs two 12-bit values in 3 bytes: value 2i is byte 3i + low nibble of 3i+1
    const setCoeff = (b: Uint8Array, i: number, v: number) => {
      const o = 3 * (i >> 1);
      if (i % 2 === 0) {
        b[o] = v & 0xff;
        b[o + 1] = (b[o + 1]! & 0xf0) | (v >> 8);
      } else {
        b[o + 1] = (b[o + 1]! & 0x0f) | ((v & 0xf) << 4);
        b[o + 2] = v >> 4;
      }
    };
    for (const i of [0, 1, 2, 255, 256, 511, 512, 700, 767]) {
      for (const v of [Q, Q + 1, 4095]) {
        const bad = ek.slice();
        setCoeff(bad, i, v);
        expectCode(() => prepareEncapsulationKey(bad), 'KEM_FAILED');
        expectCode(() => encapsulate(bad, rnd(32)), 'KEM_FAILED');
        expect(() => ml_kem768.encapsulate(bad, rnd(32))).toThrow();
      }
      const edge = ek.slice();
      setCoeff(edge, i, Q - 1); // the largest valid value is accepted
      expect(hex(prepareEncapsulationKey(edge).encapsulate(new Uint8Array(32)).cipherText)).toBe(
        hex(ml_kem768.encapsulate(edge, new Uint8Array(32)).cipherText),
      );
    }
    // ρ (the last 32 bytes) is not range-checked
    const rho = ek.slice();
    rho.fill(0xff, 1152);
    expect(() => prepareEncapsulationKey(rho)).not.toThrow();
  });

  it('rejects wrong-length keys and ciphertexts', () => {
    for (const n of [0, 1, 1183, 1185, 2400]) expectCode(() => prepareEncapsulationKey(new Uint8Array(n)), 'KEY_MISMATCH');
    expectCode(() => prepareEncapsulationKey([...ek] as unknown as Uint8Array), 'KEY_MISMATCH');
    for (const n of [0, 1184, 2399, 2401]) {
      expectCode(() => prepareDecapsulationKey(new Uint8Array(n)), 'KEY_MISMATCH');
      expectCode(() => decapsulate(new Uint8Array(1088), new Uint8Array(n)), 'KEY_MISMATCH');
    }
    const prepared = prepareDecapsulationKey(dk);
    for (const n of [0, 1087, 1089, 1120]) {
      expectCode(() => prepared.decapsulate(new Uint8Array(n)), 'MALFORMED_MESSAGE');
      expectCode(() => decapsulate(new Uint8Array(n), dk), 'MALFORMED_MESSAGE');
    }
    for (const n of [0, 31, 33]) {
      expectCode(() => prepared.publicKey.encapsulate(new Uint8Array(n)), 'INVALID_ARGUMENT');
      expectCode(() => keygen(new Uint8Array(n), new Uint8Array(32)), 'INVALID_ARGUMENT');
      expectCode(() => keygen(new Uint8Array(32), new Uint8Array(n)), 'INVALID_ARGUMENT');
    }
  });

  it('rejects a decapsulation key failing the H(ek) check (FIPS 203 §7.3) with KEY_MISMATCH, as noble does', () => {
    for (const pos of [1152, 1152 + 600, 1152 + 1183, 2336, 2367]) {
      const bad = dk.slice();
      bad[pos]! ^= 1;
      expectCode(() => prepareDecapsulationKey(bad), 'KEY_MISMATCH');
      expectCode(() => decapsulate(new Uint8Array(1088), bad), 'KEY_MISMATCH');
      expect(() => ml_kem768.decapsulate(new Uint8Array(1088), bad)).toThrow(/hash check/);
    }
    // dk_PKE and z are not covered by the hash: accepted
    for (const pos of [0, 1151, 2368, 2399]) {
      const other = dk.slice();
      other[pos]! ^= 1;
      expect(() => prepareDecapsulationKey(other)).not.toThrow();
    }
  });
});

describe('ML-KEM-768 published vectors', () => {
  /**
   * Go's crypto/mlkem TestAccumulated (FIPS 203 final): one SHAKE128("") stream
   * gives each iteration's 64-byte seed d ‖ z, message m and a random
   * ciphertext; a second SHAKE128 absorbs ek, ct, K and the rejection key.
   */
  function goAccumulated(iterations: number): string {
    const rng = shake128();
    const out = shake128();
    for (let i = 0; i < iterations; i++) {
      const s = rng.squeeze(new Uint8Array(64));
      const { encapsulationKey: ek, decapsulationKey } = keygen(s.subarray(0, 32), s.subarray(32));
      out.update(ek);
      const m = rng.squeeze(new Uint8Array(32));
      // alternate the one-shot and prepared APIs
      const { cipherText, sharedSecret } = i % 2 ? encapsulate(ek, m) : prepareEncapsulationKey(ek).encapsulate(m);
      out.update(cipherText).update(sharedSecret);
      const dk = prepareDecapsulationKey(decapsulationKey);
      expect(hex(i % 3 ? dk.decapsulate(cipherText) : decapsulate(cipherText, decapsulationKey))).toBe(hex(sharedSecret));
      out.update(dk.decapsulate(rng.squeeze(new Uint8Array(1088))));
    }
    return hex(out.squeeze(new Uint8Array(32)));
  }

  /** C2SP CCTV ML-KEM accumulated vectors (FIPS 203 final): d, z, m, ct drawn; ek, dk, ct, K, K̄ absorbed. */
  function cctvAccumulated(iterations: number): string {
    const rng = shake128();
    const out = shake128();
    for (let i = 0; i < iterations; i++) {
      const d = rng.squeeze(new Uint8Array(32));
      const z = rng.squeeze(new Uint8Array(32));
      const m = rng.squeeze(new Uint8Array(32));
      const ct = rng.squeeze(new Uint8Array(1088));
      const { encapsulationKey: ek, decapsulationKey } = keygen(d, z);
      const dk = prepareDecapsulationKey(decapsulationKey);
      const { cipherText, sharedSecret } = dk.publicKey.encapsulate(m);
      expect(hex(dk.decapsulate(cipherText))).toBe(hex(sharedSecret));
      out.update(ek).update(decapsulationKey).update(cipherText).update(sharedSecret).update(dk.decapsulate(ct));
    }
    return hex(out.squeeze(new Uint8Array(32)));
  }

  it('Go crypto/mlkem TestAccumulated, 100 iterations', () => {
    expect(goAccumulated(100)).toBe('1114b1b6699ed191734fa339376afa7e285c9e6acf6ff0177d346696ce564415');
  });

  // ~5 s each on a shared 2-core machine; the published values cover far more keys than the differential tests.
  it('C2SP CCTV accumulated, 10,000 iterations', { timeout: 120_000 }, () => {
    expect(cctvAccumulated(10_000)).toBe('f959d18d3d1180121433bf0e05f11e7908cf9d03edc150b2b07cb90bef5bc1c1');
  });

  it('Go crypto/mlkem TestAccumulated, 10,000 iterations', { timeout: 120_000 }, () => {
    expect(goAccumulated(10_000)).toBe('8a518cc63da366322a8e7a818c7a0d63483cb3528d34a4cf42f35d5ad73f22fc');
  });

  it('C2SP CCTV "unlucky" SampleNTT vector (more than 575 XOF bytes for one Â entry)', () => {
    const d = h('82c4a361586b9715c2375a45fb85c32d04be7fe6e26acd820ec5d4080093afe1');
    const z = h('8476013560151d986dc7834dcb57c75f845f8d7ee71558d0955f3f4feb723cf2');
    const m = h('e48f74ad416e99631003ded1478aec62a02c245d88ed7f2fae92aedf13ca03b3');
    const { encapsulationKey: ek, decapsulationKey: dk } = keygen(d, z);
    // the published ek, dk and c are long: check their ends, and all of ek through H(ek) (published inside dk)
    expect(hex(ek.subarray(0, 16))).toBe('ad568015b87690ebbe1fb438ee8a22b9');
    expect(hex(ek.subarray(1180))).toBe('1b7c6161');
    expect(hex(sha3_256(ek))).toBe('451f9b6547b8f6e927fbfe7598658160206040fdb57dd39ba8bf1f3a5ff89b9c');
    expect(hex(dk.subarray(0, 16))).toBe('c50385c7c4b17639049f390088bac9d5');
    expect(hex(dk.subarray(2336, 2368))).toBe('451f9b6547b8f6e927fbfe7598658160206040fdb57dd39ba8bf1f3a5ff89b9c');
    const { cipherText, sharedSecret } = encapsulate(ek, m);
    expect(hex(sharedSecret)).toBe('4f7cc64c040fc4e335a539691f4638caf8b1bf5da6455754afe699e41813801b');
    expect(hex(cipherText.subarray(0, 16))).toBe('696ef1699d5ac2aa9a012a64c60c6c21');
    expect(hex(cipherText.subarray(1084))).toBe('1dd4a715');
    expect(hex(prepareDecapsulationKey(dk).decapsulate(cipherText))).toBe(hex(sharedSecret));
    const n = ml_kem768.keygen(new Uint8Array([...d, ...z]));
    expect(hex(ek)).toBe(hex(n.publicKey));
    expect(hex(cipherText)).toBe(hex(ml_kem768.encapsulate(n.publicKey, m).cipherText));
  });

  it('X-Wing draft vectors: the ML-KEM-768 half (keygen from SHAKE256(seed, 96), decapsulation) and the whole KEM through hpke.ts', async () => {
    for (const v of xwingVectors.vectors) {
      const expanded = shake256(h(v.sk), 96);
      const { encapsulationKey, decapsulationKey } = keygen(expanded.subarray(0, 32), expanded.subarray(32, 64));
      expect(hex(encapsulationKey)).toBe(v.pk.slice(0, 2 * 1184));
      const ct = h(v.ct);
      const ssM = prepareDecapsulationKey(decapsulationKey).decapsulate(ct.subarray(0, 1088));
      expect(hex(ssM)).toBe(hex(ml_kem768.decapsulate(ct.subarray(0, 1088), decapsulationKey)));
      expect(hex(XWING.publicKeyOf(h(v.sk)))).toBe(v.pk);
      expect(hex(await XWING.decap(ct, h(v.sk)))).toBe(v.ss);
      const { enc, sharedSecret } = await XWING.encap(h(v.pk), h(v.eseed));
      expect(hex(enc)).toBe(v.ct);
      expect(hex(sharedSecret)).toBe(v.ss);
    }
  });
});
