import { afterAll, beforeAll, describe, it, expect } from 'vitest';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { ml_kem768_x25519 } from '@noble/post-quantum/hybrid.js';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
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
import { NATIVE_KATS, _forceNoble, nativeSupport } from './native.ts';

const h = hexToBytes;
const hex = bytesToHex;

async function expectCode(f: () => unknown, code: string): Promise<void> {
  try {
    await f();
  } catch (e) {
    expect(e).toBeInstanceOf(SealError);
    expect((e as SealError).code).toBe(code);
    return;
  }
  throw new Error(`expected SealError ${code}, nothing thrown`);
}

describe('native detection', () => {
  it('the known-answer values used for detection agree with noble (RFC 7748 §6.1, RFC 8032 test 1)', () => {
    const k = NATIVE_KATS;
    expect(hex(x25519.getSharedSecret(h(k.x25519.sk), h(k.x25519.pk)))).toBe(k.x25519.ss);
    expect(hex(ed25519.getPublicKey(h(k.ed25519.sk)))).toBe(k.ed25519.pk);
    expect(hex(ed25519.sign(new Uint8Array(0), h(k.ed25519.sk)))).toBe(k.ed25519.sig);
  });

  it('Node has Web Crypto X25519 and Ed25519, so the native path is used', async () => {
    expect(await nativeSupport()).toEqual({ x25519: 'webcrypto', ed25519: 'webcrypto' });
  });
});

for (const impl of ['webcrypto', 'noble'] as const) {
describe(`X25519 via ${impl}`, () => {
  beforeAll(() => _forceNoble(impl === 'noble' ? { x25519: true, ed25519: true } : {}));
  afterAll(() => _forceNoble({}));

  describe('RFC 9180 test vectors (mode_base, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256)', async () => {
    for (const v of rfc.vectors) {
      describe(v.name, () => {
        const s = suite(v.kem_id, v.kdf_id, v.aead_id);

        it('DeriveKeyPair reproduces skEm/pkEm and skRm/pkRm', async () => {
          const e = DHKEM_X25519.deriveKeyPair(h(v.ikmE));
          expect(hex(e.secretKey)).toBe(v.skEm);
          expect(hex(e.publicKey)).toBe(v.pkEm);
          const r = DHKEM_X25519.deriveKeyPair(h(v.ikmR));
          expect(hex(r.secretKey)).toBe(v.skRm);
          expect(hex(r.publicKey)).toBe(v.pkRm);
        });

        it('Encap/Decap give enc and shared_secret', async () => {
          const { enc, sharedSecret } = await DHKEM_X25519.encap(h(v.pkRm), h(v.ikmE));
          expect(hex(enc)).toBe(v.enc);
          expect(hex(sharedSecret)).toBe(v.shared_secret);
          expect(hex(await DHKEM_X25519.decap(h(v.enc), h(v.skRm)))).toBe(v.shared_secret);
        });

        it('key schedule gives key, base_nonce, exporter_secret on both sides', async () => {
          const { enc, ctx } = await setupBaseS(s, h(v.pkRm), h(v.info), { ikmE: h(v.ikmE) });
          expect(hex(enc)).toBe(v.enc);
          expect(hex(ctx.key)).toBe(v.key);
          expect(hex(ctx.baseNonce)).toBe(v.base_nonce);
          expect(hex(ctx.exporterSecret)).toBe(v.exporter_secret);
          const r = await setupBaseR(s, h(v.enc), h(v.skRm), h(v.info));
          expect(hex(r.key)).toBe(v.key);
          expect(hex(r.baseNonce)).toBe(v.base_nonce);
          expect(hex(r.exporterSecret)).toBe(v.exporter_secret);
        });

        it('encryptions at sequence numbers 0,1,2,4,255,256 (context Seal/Open)', async () => {
          const { ctx } = await setupBaseS(s, h(v.pkRm), h(v.info), { ikmE: h(v.ikmE) });
          const r = await setupBaseR(s, h(v.enc), h(v.skRm), h(v.info));
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

        it('exports', async () => {
          const { ctx } = await setupBaseS(s, h(v.pkRm), h(v.info), { ikmE: h(v.ikmE) });
          const r = await setupBaseR(s, h(v.enc), h(v.skRm), h(v.info));
          for (const x of v.exports) {
            expect(hex(ctx.export(h(x.exporter_context), x.L))).toBe(x.exported_value);
            expect(hex(r.export(h(x.exporter_context), x.L))).toBe(x.exported_value);
          }
        });

        it('single-shot Seal/Open and Export', async () => {
          const e0 = v.encryptions[0]!;
          const { enc, ct } = await sealBase(s, h(v.pkRm), h(v.info), h(e0.aad), h(e0.pt), { ikmE: h(v.ikmE) });
          expect(hex(enc)).toBe(v.enc);
          expect(hex(ct)).toBe(e0.ct);
          expect(hex(await openBase(s, enc, h(v.skRm), h(v.info), h(e0.aad), ct))).toBe(e0.pt);
          const x = v.exports[2]!;
          const se = await sendExport(s, h(v.pkRm), h(v.info), h(x.exporter_context), x.L, { ikmE: h(v.ikmE) });
          expect(hex(se.exported)).toBe(x.exported_value);
          expect(hex(await receiveExport(s, se.enc, h(v.skRm), h(v.info), h(x.exporter_context), x.L))).toBe(
            x.exported_value,
          );
        });

        it('rejects a wrong aad, wrong info, flipped tag and out-of-order open with OPEN_FAILED', async () => {
          const e0 = v.encryptions[0]!;
          const e1 = v.encryptions[1]!;
          await expectCode(async () => openBase(s, h(v.enc), h(v.skRm), h(v.info), h(e1.aad), h(e0.ct)), 'OPEN_FAILED');
          await expectCode(async () => openBase(s, h(v.enc), h(v.skRm), utf8('other'), h(e0.aad), h(e0.ct)), 'OPEN_FAILED');
          const bad = h(e0.ct);
          bad[bad.length - 1]! ^= 1;
          await expectCode(async () => openBase(s, h(v.enc), h(v.skRm), h(v.info), h(e0.aad), bad), 'OPEN_FAILED');
          const r = await setupBaseR(s, h(v.enc), h(v.skRm), h(v.info));
          await expectCode(() => r.open(h(e1.ct), h(e1.aad)), 'OPEN_FAILED');
          // a failed Open does not advance the sequence number
          expect(r.seq).toBe(0);
          expect(hex(r.open(h(e0.ct), h(e0.aad)))).toBe(e0.pt);
        });
      });
    }

    it('rejects the all-zero X25519 shared secret (small-order enc)', async () => {
      const sk = DHKEM_X25519.deriveKeyPair(new Uint8Array(32)).secretKey;
      await expectCode(async () => DHKEM_X25519.decap(new Uint8Array(32), sk), 'KEM_FAILED');
    });

    it('rejects unsupported suite ids', async () => {
      await expectCode(() => suite(0x0010, KDF_HKDF_SHA256, AEAD_AES_128_GCM), 'UNSUPPORTED_SUITE');
      await expectCode(() => suite(KEM_DHKEM_X25519_HKDF_SHA256, 0x0002, AEAD_AES_128_GCM), 'UNSUPPORTED_SUITE');
      await expectCode(() => suite(KEM_DHKEM_X25519_HKDF_SHA256, KDF_HKDF_SHA256, 0x0002), 'UNSUPPORTED_SUITE');
      await expectCode(() => suite(KEM_DHKEM_X25519_HKDF_SHA256, KDF_HKDF_SHA256, 0xffff), 'UNSUPPORTED_SUITE');
    });
  });

  describe('X-Wing (draft-connolly-cfrg-xwing-kem) test vectors', async () => {
    xwingVectors.vectors.forEach((v, i) => {
      it(`vector ${i}: keygen(seed), Encapsulate(pk, eseed), Decapsulate(ct, sk)`, async () => {
        expect(hex(XWING.publicKeyOf(h(v.sk)))).toBe(v.pk);
        const kp = ml_kem768_x25519.keygen(h(v.seed));
        expect(hex(kp.publicKey)).toBe(v.pk);
        const { enc, sharedSecret } = await XWING.encap(h(v.pk), h(v.eseed));
        expect(hex(enc)).toBe(v.ct);
        expect(hex(sharedSecret)).toBe(v.ss);
        expect(hex(await XWING.decap(h(v.ct), h(v.sk)))).toBe(v.ss);
      });
    });

    it('agrees with noble ml_kem768_x25519 (the same function) on random seeds and eseeds', async () => {
    for (let i = 0; i < 3; i++) {
      const seed = crypto.getRandomValues(new Uint8Array(32));
      const eseed = crypto.getRandomValues(new Uint8Array(64));
      const pk = XWING.publicKeyOf(seed);
      expect(hex(pk)).toBe(hex(ml_kem768_x25519.getPublicKey(seed)));
      const mine = await XWING.encap(pk, eseed);
      const theirs = ml_kem768_x25519.encapsulate(pk, eseed);
      expect(hex(mine.enc)).toBe(hex(theirs.cipherText));
      expect(hex(mine.sharedSecret)).toBe(hex(theirs.sharedSecret));
      const random = await XWING.encap(pk);
      expect(hex(await XWING.decap(random.enc, seed))).toBe(hex(ml_kem768_x25519.decapsulate(random.enc, seed)));
    }
  });

  it('DeriveKeyPair(ikm) = GenerateKeyPairDerand(SHAKE256(ikm, 32)) is deterministic', async () => {
      const a = XWING.deriveKeyPair(utf8('sealgate x-wing ikm'));
      const b = XWING.deriveKeyPair(utf8('sealgate x-wing ikm'));
      expect(hex(a.publicKey)).toBe(hex(b.publicKey));
      expect(a.secretKey.length).toBe(32);
      expect(a.publicKey.length).toBe(1216);
    });

    for (const aeadId of [AEAD_AES_128_GCM, AEAD_CHACHA20_POLY1305]) {
      it(`HPKE round trip with X-Wing (0x647a) and AEAD 0x${aeadId.toString(16)}`, async () => {
        const s = suite(KEM_XWING, KDF_HKDF_SHA256, aeadId);
        const kp = XWING.generateKeyPair();
        const { enc, ctx } = await setupBaseS(s, kp.publicKey, utf8('info'));
        expect(enc.length).toBe(1120);
        const r = await setupBaseR(s, enc, kp.secretKey, utf8('info'));
        for (let i = 0; i < 5; i++) {
          const pt = utf8(`message ${i}`);
          expect(hex(r.open(ctx.seal(pt, utf8('aad')), utf8('aad')))).toBe(hex(pt));
        }
        expect(hex(r.export(utf8('x'), 48))).toBe(hex(ctx.export(utf8('x'), 48)));
        // a wrong recipient key decapsulates to an unrelated secret (implicit rejection) => OPEN_FAILED
        const other = XWING.generateKeyPair();
        const { enc: enc2, ct } = await sealBase(s, kp.publicKey, utf8('info'), EMPTY_AAD, utf8('hi'));
        await expectCode(async () => openBase(s, enc2, other.secretKey, utf8('info'), EMPTY_AAD, ct), 'OPEN_FAILED');
      });
    }

    it('rejects an X-Wing public key that fails the ML-KEM encapsulation key check (KEM_FAILED)', async () => {
      const pk = XWING.generateKeyPair().publicKey.slice();
      pk.fill(0xff, 0, 384); // coefficients >= q in the ML-KEM part
      await expectCode(async () => XWING.encap(pk), 'KEM_FAILED');
    });

    it('rejects wrong-sized X-Wing keys and enc', async () => {
      await expectCode(async () => XWING.encap(new Uint8Array(32)), 'KEY_MISMATCH');
      await expectCode(async () => XWING.decap(new Uint8Array(1119), new Uint8Array(32)), 'MALFORMED_MESSAGE');
    });
  });


  it('X-Wing: a small-order ct_X is KEM_FAILED; decap with a cached expanded key agrees with a fresh one', async () => {
    const kp = XWING.deriveKeyPair(utf8('xwing small order'));
    const { enc, sharedSecret } = await XWING.encap(kp.publicKey);
    expect(hex(await XWING.decap(enc, kp.secretKey))).toBe(hex(sharedSecret));
    expect(hex(await XWING.decap(enc, kp.secretKey))).toBe(hex(sharedSecret));
    expect(hex(await XWING.decap(enc, kp.secretKey.slice()))).toBe(hex(sharedSecret));
    const bad = enc.slice();
    bad.fill(0, 1088);
    await expectCode(() => XWING.decap(bad, kp.secretKey), 'KEM_FAILED');
  });

  it('random-path DHKEM encap (native key generation when available) round-trips', async () => {
    const kp = DHKEM_X25519.generateKeyPair();
    for (let i = 0; i < 3; i++) {
      const { enc, sharedSecret } = await DHKEM_X25519.encap(kp.publicKey);
      expect(hex(await DHKEM_X25519.decap(enc, kp.secretKey))).toBe(hex(sharedSecret));
      expect(hex(await DHKEM_X25519.decap(enc, kp.secretKey, kp.publicKey))).toBe(hex(sharedSecret));
    }
  });
});
}

const EMPTY_AAD = new Uint8Array(0);
