import { describe, expect, it } from 'vitest';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { poly1305 } from '@noble/ciphers/_poly1305.js';
import { ChaChaPolyKey, FAST_CHACHA, _aeadMacForTest } from './chacha20poly1305.ts';
import { SealError } from './errors.ts';

const hex = (s: string) => Uint8Array.from(s.match(/../g)!.map((b) => parseInt(b, 16)));
const toHex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
let seed = 0x9e3779b9;
function rnd(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    out[i] = seed & 0xff;
  }
  return out;
}

/** The AEAD MAC input of RFC 8439 §2.8: aad ‖ pad16 ‖ ct ‖ pad16 ‖ le64(|aad|) ‖ le64(|ct|). */
function macInput(aad: Uint8Array, ct: Uint8Array): Uint8Array {
  const p = (n: number) => (16 - (n % 16)) % 16;
  const out = new Uint8Array(aad.length + p(aad.length) + ct.length + p(ct.length) + 16);
  out.set(aad, 0);
  out.set(ct, aad.length + p(aad.length));
  const v = new DataView(out.buffer);
  v.setUint32(out.length - 16, aad.length, true);
  v.setUint32(out.length - 8, ct.length, true);
  return out;
}

describe('ChaCha20-Poly1305 (own, keyed once)', () => {
  it('runs on this host', () => expect(FAST_CHACHA).toBe(true));

  it('RFC 8439 §2.8.2 test vector', () => {
    const key = hex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f');
    const nonce = hex('070000004041424344454647');
    const aad = hex('50515253c0c1c2c3c4c5c6c7');
    const pt = new TextEncoder().encode(
      "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
    );
    const ct = new ChaChaPolyKey(key).seal(nonce, aad, pt);
    expect(toHex(ct.subarray(0, 16))).toBe('d31a8d34648e60db7b86afbc53ef7ec2');
    expect(toHex(ct.subarray(ct.length - 16))).toBe('1ae10b594f09e26a7e902ecbd0600691');
    expect(new ChaChaPolyKey(key).open(nonce, aad, ct)).toEqual(pt);
  });

  it('matches noble on random keys, nonces, aad and lengths 0..300, and opens what noble seals', () => {
    for (let len = 0; len <= 300; len++) {
      const key = rnd(32);
      const nonce = rnd(12);
      const aad = rnd(len % 37);
      const pt = rnd(len);
      const k = new ChaChaPolyKey(key);
      const ours = k.seal(nonce, aad, pt);
      expect(toHex(ours)).toBe(toHex(chacha20poly1305(key, nonce, aad).encrypt(pt)));
      expect(k.open(nonce, aad, ours)).toEqual(pt);
    }
  });

  it('sealInto writes ct ‖ tag at an offset and leaves the rest alone', () => {
    const key = rnd(32);
    const nonce = rnd(12);
    const pt = rnd(100);
    const out = new Uint8Array(130).fill(0xee);
    new ChaChaPolyKey(key).sealInto(nonce, new Uint8Array(0), pt, out, 7);
    expect(out.subarray(0, 7).every((b) => b === 0xee)).toBe(true);
    expect(out.subarray(123).every((b) => b === 0xee)).toBe(true);
    expect(toHex(out.subarray(7, 123))).toBe(toHex(chacha20poly1305(key, nonce, new Uint8Array(0)).encrypt(pt)));
  });

  it('Poly1305 matches noble at the edges: maximal r and s, all-0xff and all-zero messages', () => {
    const keys = [
      new Uint8Array(32).fill(0xff),
      Uint8Array.from([...new Uint8Array(16).fill(0xff), ...new Uint8Array(16)]),
      Uint8Array.from([...new Uint8Array(16), ...new Uint8Array(16).fill(0xff)]),
      new Uint8Array(32),
      hex('0100000000000000000000000000000000000000000000000000000000000000'),
      hex('0200000000000000000000000000000000000000000000000000000000000000'),
    ];
    for (const otk of keys) {
      for (const len of [0, 1, 15, 16, 17, 31, 32, 63, 64, 65, 255, 256, 1000]) {
        for (const fill of [0x00, 0xff, 0x80, 0x01]) {
          const ct = new Uint8Array(len).fill(fill);
          const aad = new Uint8Array(len % 20).fill(fill ^ 0xff);
          expect(toHex(_aeadMacForTest(otk, aad, ct))).toBe(toHex(poly1305(macInput(aad, ct), otk)));
        }
      }
    }
    for (let i = 0; i < 500; i++) {
      const otk = rnd(32);
      if (i % 2) otk.fill(0xff, 0, 16);
      const ct = rnd(i % 97);
      const aad = rnd(i % 13);
      expect(toHex(_aeadMacForTest(otk, aad, ct))).toBe(toHex(poly1305(macInput(aad, ct), otk)));
    }
  });

  it('rejects every single-bit flip of ct, tag and aad, a wrong nonce and a short input with OPEN_FAILED', () => {
    const key = rnd(32);
    const nonce = rnd(12);
    const aad = rnd(5);
    const k = new ChaChaPolyKey(key);
    const ct = k.seal(nonce, aad, rnd(40));
    for (let i = 0; i < ct.length * 8; i++) {
      const bad = ct.slice();
      bad[i >> 3]! ^= 1 << (i & 7);
      expect(() => k.open(nonce, aad, bad)).toThrow(SealError);
    }
    for (let i = 0; i < aad.length * 8; i++) {
      const bad = aad.slice();
      bad[i >> 3]! ^= 1 << (i & 7);
      expect(() => k.open(nonce, bad, ct)).toThrow(/authentication/);
    }
    const n2 = nonce.slice();
    n2[11]! ^= 1;
    expect(() => k.open(n2, aad, ct)).toThrow(/authentication/);
    try {
      k.open(nonce, aad, ct.subarray(0, 15));
      expect.unreachable();
    } catch (e) {
      expect((e as SealError).code).toBe('OPEN_FAILED');
    }
  });

  it('refuses bad key and nonce sizes', () => {
    expect(() => new ChaChaPolyKey(new Uint8Array(16))).toThrow(/32 bytes/);
    expect(() => new ChaChaPolyKey(new Uint8Array(32)).seal(new Uint8Array(8), new Uint8Array(0), new Uint8Array(1))).toThrow(/12 bytes/);
  });
});
