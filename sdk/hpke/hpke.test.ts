import { describe, it, expect } from 'vitest';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { ml_kem768_x25519 } from '@noble/post-quantum/hybrid.js';
import rfc from './vectors/rfc9180-base-x25519.json' with { type: 'json' };
import xwingVectors from './vectors/xwing-draft.json' with { type: 'json' };
import {
  DHKEM_X25519,
  XWING,
  AEAD_AES_128_GCM,
  AEAD_CHACHA20_POLY1305,
  KDF_HKDF_SHA256,
  KEM_DHKEM_X25519_HKDF_SHA256,
  KEM_XWING,
  openBase,
  receiveExport,
  sealBase,
  sendExport,
  setupBaseR,
  setupBaseS,
  suite,
  utf8,
} from './hpke.ts';
import { SealError } from './errors.ts';

const h = hexToBytes;
const hex = bytesToHex;

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

describe('RFC 9180 test vectors (mode_base, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256)', () => {
  for (const v of rfc.vectors) {
    describe(v.name, () => {
      const s = suite(v.kem_id, v.kdf_id, v.aead_id);

      it('DeriveKeyPair reproduces skEm/pkEm and skRm/pkRm', () => {
        const e = DHKEM_X25519.deriveKeyPair(h(v.ikmE));
        expect(hex(e.secretKey)).toBe(v.skEm);
        expect(hex(e.publicKey)).toBe(v.pkEm);
        const r = DHKEM_X25519.deriveKeyPair(h(v.ikmR));
        expect(hex(r.secretKey)).toBe(v.skRm);
        expect(hex(r.publicKey)).toBe(v.pkRm);
      });

      it('Encap/Decap give enc and shared_secret', () => {
        const { enc, sharedSecret } = DHKEM_X25519.encap(h(v.pkRm), h(v.ikmE));
        expect(hex(enc)).toBe(v.enc);
        expect(hex(sharedSecret)).toBe(v.shared_secret);
        expect(hex(DHKEM_X25519.decap(h(v.enc), h(v.skRm)))).toBe(v.shared_secret);
      });

      it('key schedule gives key, base_nonce, exporter_secret on both sides', () => {
        const { enc, ctx } = setupBaseS(s, h(v.pkRm), h(v.info), { ikmE: h(v.ikmE) });
        expect(hex(enc)).toBe(v.enc);
        expect(hex(ctx.key)).toBe(v.key);
        expect(hex(ctx.baseNonce)).toBe(v.base_nonce);
        expect(hex(ctx.exporterSecret)).toBe(v.exporter_secret);
        const r = setupBaseR(s, h(v.enc), h(v.skRm), h(v.info));
        expect(hex(r.key)).toBe(v.key);
        expect(hex(r.baseNonce)).toBe(v.base_nonce);
        expect(hex(r.exporterSecret)).toBe(v.exporter_secret);
      });

      it('encryptions at sequence numbers 0,1,2,4,255,256 (context Seal/Open)', () => {
        const { ctx } = setupBaseS(s, h(v.pkRm), h(v.info), { ikmE: h(v.ikmE) });
        const r = setupBaseR(s, h(v.enc), h(v.skRm), h(v.info));
        const bySeq = new Map(v.encryptions.map((e) => [e.seq, e]));
        for (let seq = 0; seq <= 256; seq++) {
          const e = bySeq.get(seq);
          if (e) {
            expect(hex(ctx.computeNonce(seq))).toBe(e.nonce);
            expect(hex(ctx.seal(h(e.pt), h(e.aad)))).toBe(e.ct);
            expect(hex(r.open(h(e.ct), h(e.aad)))).toBe(e.pt);
          } else {
            // advance both contexts through the gaps with real operations
            const ct = ctx.seal(new Uint8Array(1));
            r.open(ct);
          }
          expect(ctx.seq).toBe(seq + 1);
          expect(r.seq).toBe(seq + 1);
        }
      });

      it('exports', () => {
        const { ctx } = setupBaseS(s, h(v.pkRm), h(v.info), { ikmE: h(v.ikmE) });
        const r = setupBaseR(s, h(v.enc), h(v.skRm), h(v.info));
        for (const x of v.exports) {
          expect(hex(ctx.export(h(x.exporter_context), x.L))).toBe(x.exported_value);
          expect(hex(r.export(h(x.exporter_context), x.L))).toBe(x.exported_value);
        }
      });

      it('single-shot Seal/Open and Export', () => {
        const e0 = v.encryptions[0]!;
        const { enc, ct } = sealBase(s, h(v.pkRm), h(v.info), h(e0.aad), h(e0.pt), { ikmE: h(v.ikmE) });
        expect(hex(enc)).toBe(v.enc);
        expect(hex(ct)).toBe(e0.ct);
        expect(hex(openBase(s, enc, h(v.skRm), h(v.info), h(e0.aad), ct))).toBe(e0.pt);
        const x = v.exports[2]!;
        const se = sendExport(s, h(v.pkRm), h(v.info), h(x.exporter_context), x.L, { ikmE: h(v.ikmE) });
        expect(hex(se.exported)).toBe(x.exported_value);
        expect(hex(receiveExport(s, se.enc, h(v.skRm), h(v.info), h(x.exporter_context), x.L))).toBe(
          x.exported_value,
        );
      });

      it('rejects a wrong aad, wrong info, flipped tag and out-of-order open with OPEN_FAILED', () => {
        const e0 = v.encryptions[0]!;
        const e1 = v.encryptions[1]!;
        expectCode(() => openBase(s, h(v.enc), h(v.skRm), h(v.info), h(e1.aad), h(e0.ct)), 'OPEN_FAILED');
        expectCode(() => openBase(s, h(v.enc), h(v.skRm), utf8('other'), h(e0.aad), h(e0.ct)), 'OPEN_FAILED');
        const bad = h(e0.ct);
        bad[bad.length - 1]! ^= 1;
        expectCode(() => openBase(s, h(v.enc), h(v.skRm), h(v.info), h(e0.aad), bad), 'OPEN_FAILED');
        const r = setupBaseR(s, h(v.enc), h(v.skRm), h(v.info));
        expectCode(() => r.open(h(e1.ct), h(e1.aad)), 'OPEN_FAILED');
        // a failed Open does not advance the sequence number
        expect(r.seq).toBe(0);
        expect(hex(r.open(h(e0.ct), h(e0.aad)))).toBe(e0.pt);
      });
    });
  }

  it('rejects the all-zero X25519 shared secret (small-order enc)', () => {
    const sk = DHKEM_X25519.deriveKeyPair(new Uint8Array(32)).secretKey;
    expectCode(() => DHKEM_X25519.decap(new Uint8Array(32), sk), 'KEM_FAILED');
  });

  it('rejects unsupported suite ids', () => {
    expectCode(() => suite(0x0010, KDF_HKDF_SHA256, AEAD_AES_128_GCM), 'UNSUPPORTED_SUITE');
    expectCode(() => suite(KEM_DHKEM_X25519_HKDF_SHA256, 0x0002, AEAD_AES_128_GCM), 'UNSUPPORTED_SUITE');
    expectCode(() => suite(KEM_DHKEM_X25519_HKDF_SHA256, KDF_HKDF_SHA256, 0x0002), 'UNSUPPORTED_SUITE');
    expectCode(() => suite(KEM_DHKEM_X25519_HKDF_SHA256, KDF_HKDF_SHA256, 0xffff), 'UNSUPPORTED_SUITE');
  });
});

describe('X-Wing (draft-connolly-cfrg-xwing-kem) test vectors', () => {
  xwingVectors.vectors.forEach((v, i) => {
    it(`vector ${i}: keygen(seed), Encapsulate(pk, eseed), Decapsulate(ct, sk)`, () => {
      expect(hex(XWING.publicKeyOf(h(v.sk)))).toBe(v.pk);
      const kp = ml_kem768_x25519.keygen(h(v.seed));
      expect(hex(kp.publicKey)).toBe(v.pk);
      const { enc, sharedSecret } = XWING.encap(h(v.pk), h(v.eseed));
      expect(hex(enc)).toBe(v.ct);
      expect(hex(sharedSecret)).toBe(v.ss);
      expect(hex(XWING.decap(h(v.ct), h(v.sk)))).toBe(v.ss);
    });
  });

  it('DeriveKeyPair(ikm) = GenerateKeyPairDerand(SHAKE256(ikm, 32)) is deterministic', () => {
    const a = XWING.deriveKeyPair(utf8('sealgate x-wing ikm'));
    const b = XWING.deriveKeyPair(utf8('sealgate x-wing ikm'));
    expect(hex(a.publicKey)).toBe(hex(b.publicKey));
    expect(a.secretKey.length).toBe(32);
    expect(a.publicKey.length).toBe(1216);
  });

  for (const aeadId of [AEAD_AES_128_GCM, AEAD_CHACHA20_POLY1305]) {
    it(`HPKE round trip with X-Wing (0x647a) and AEAD 0x${aeadId.toString(16)}`, () => {
      const s = suite(KEM_XWING, KDF_HKDF_SHA256, aeadId);
      const kp = XWING.generateKeyPair();
      const { enc, ctx } = setupBaseS(s, kp.publicKey, utf8('info'));
      expect(enc.length).toBe(1120);
      const r = setupBaseR(s, enc, kp.secretKey, utf8('info'));
      for (let i = 0; i < 5; i++) {
        const pt = utf8(`message ${i}`);
        expect(hex(r.open(ctx.seal(pt, utf8('aad')), utf8('aad')))).toBe(hex(pt));
      }
      expect(hex(r.export(utf8('x'), 48))).toBe(hex(ctx.export(utf8('x'), 48)));
      // a wrong recipient key decapsulates to an unrelated secret (implicit rejection) => OPEN_FAILED
      const other = XWING.generateKeyPair();
      const { enc: enc2, ct } = sealBase(s, kp.publicKey, utf8('info'), EMPTY_AAD, utf8('hi'));
      expectCode(() => openBase(s, enc2, other.secretKey, utf8('info'), EMPTY_AAD, ct), 'OPEN_FAILED');
    });
  }

  it('rejects an X-Wing public key that fails the ML-KEM encapsulation key check (KEM_FAILED)', () => {
    const pk = XWING.generateKeyPair().publicKey.slice();
    pk.fill(0xff, 0, 384); // coefficients >= q in the ML-KEM part
    expectCode(() => XWING.encap(pk), 'KEM_FAILED');
  });

  it('rejects wrong-sized X-Wing keys and enc', () => {
    expectCode(() => XWING.encap(new Uint8Array(32)), 'KEY_MISMATCH');
    expectCode(() => XWING.decap(new Uint8Array(1119), new Uint8Array(32)), 'MALFORMED_MESSAGE');
  });
});

const EMPTY_AAD = new Uint8Array(0);
