/**
 * HPKE (RFC 9180), base mode only (mode_base = 0x00).
 *
 * Suites:
 *   KEM  0x0020 DHKEM(X25519, HKDF-SHA256)          (RFC 9180 §7.1)
 *   KEM  0x647a X-Wing (ML-KEM-768 + X25519)         (draft-connolly-cfrg-xwing-kem, "Use in HPKE")
 *   KDF  0x0001 HKDF-SHA256
 *   AEAD 0x0001 AES-128-GCM, 0x0003 ChaCha20-Poly1305
 *
 * TypeScript on top of @noble/* and, for X25519, Web Crypto where the runtime
 * has it (./native.ts, noble fallback); ML-KEM-768 and SHA-3 are our own
 * (./mlkem768.ts, ./keccak.ts: byte-identical to noble, several times faster).
 * No `node:` imports, no Buffer, so it runs in browsers, Cloudflare Workers
 * and Node alike.
 */
import { x25519 } from '@noble/curves/ed25519.js';
import { extract, expand } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { gcm } from '@noble/ciphers/aes.js';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { bytesToHex, randomBytes } from '@noble/hashes/utils.js';
import { SealError } from './errors.ts';
import { ChaChaPolyKey, FAST_CHACHA, NobleChaChaPolyKey } from './chacha20poly1305.ts';
import { sha3_256, shake256 } from './keccak.ts';
import {
  keygen as mlkemKeygen,
  prepareDecapsulationKey,
  prepareEncapsulationKey,
  type PreparedDecapsulationKey,
  type PreparedEncapsulationKey,
} from './mlkem768.ts';
import { x25519Dh, x25519Generate, x25519Secret, x25519Start, type X25519Secret } from './native.ts';

// ---------------------------------------------------------------------------
// Identifiers

export const MODE_BASE = 0x00;
export const KEM_DHKEM_X25519_HKDF_SHA256 = 0x0020;
/** X-Wing's HPKE KEM id (25722 = 0x647a), from draft-connolly-cfrg-xwing-kem §IANA. */
export const KEM_XWING = 0x647a;
export const KDF_HKDF_SHA256 = 0x0001;
export const AEAD_AES_128_GCM = 0x0001;
export const AEAD_CHACHA20_POLY1305 = 0x0003;

export type KemName = 'X25519' | 'X-Wing';
export type AeadName = 'AES-128-GCM' | 'ChaCha20-Poly1305';

// ---------------------------------------------------------------------------
// Byte helpers (local, small, allocation-conscious)

const te = new TextEncoder();
export const utf8 = (s: string): Uint8Array => te.encode(s);

export function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function i2osp(value: number, length: number): Uint8Array {
  if (!Number.isSafeInteger(value) || value < 0) throw new SealError('INVALID_ARGUMENT', 'i2osp: bad value');
  const out = new Uint8Array(length);
  let v = value;
  for (let i = length - 1; i >= 0 && v > 0; i--) {
    out[i] = v % 256;
    v = Math.floor(v / 256);
  }
  if (v > 0) throw new SealError('INVALID_ARGUMENT', 'i2osp: value too large');
  return out;
}

/** Constant-time equality for equal-length inputs. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

function requireBytes(name: string, v: unknown, len?: number): asserts v is Uint8Array {
  if (!(v instanceof Uint8Array)) throw new SealError('INVALID_ARGUMENT', `${name} must be a Uint8Array`);
  if (len !== undefined && v.length !== len) {
    throw new SealError('INVALID_ARGUMENT', `${name} must be ${len} bytes, got ${v.length}`);
  }
}

// ---------------------------------------------------------------------------
// KDF: HKDF-SHA256 with RFC 9180 labels

const HPKE_V1 = utf8('HPKE-v1');
const EMPTY = new Uint8Array(0);

export interface Kdf {
  readonly id: number;
  readonly Nh: number;
  extract(salt: Uint8Array, ikm: Uint8Array): Uint8Array;
  expand(prk: Uint8Array, info: Uint8Array, L: number): Uint8Array;
  labeledExtract(suiteId: Uint8Array, salt: Uint8Array, label: string, ikm: Uint8Array): Uint8Array;
  labeledExpand(suiteId: Uint8Array, prk: Uint8Array, label: string, info: Uint8Array, L: number): Uint8Array;
}

export const HKDF_SHA256: Kdf = {
  id: KDF_HKDF_SHA256,
  Nh: 32,
  extract(salt, ikm) {
    return extract(sha256, ikm, salt);
  },
  expand(prk, info, L) {
    if (L > 255 * 32) throw new SealError('INVALID_ARGUMENT', 'HKDF-Expand length too large');
    return expand(sha256, prk, info, L);
  },
  labeledExtract(suiteId, salt, label, ikm) {
    return this.extract(salt, concat(HPKE_V1, suiteId, utf8(label), ikm));
  },
  labeledExpand(suiteId, prk, label, info, L) {
    if (L > 0xffff) throw new SealError('INVALID_ARGUMENT', 'LabeledExpand length too large');
    return this.expand(prk, concat(i2osp(L, 2), HPKE_V1, suiteId, utf8(label), info), L);
  },
};

// ---------------------------------------------------------------------------
// KEMs

export interface KeyPair {
  secretKey: Uint8Array;
  publicKey: Uint8Array;
}

export interface EncapResult {
  sharedSecret: Uint8Array;
  enc: Uint8Array;
}

export interface Kem {
  readonly id: number;
  readonly name: KemName;
  readonly Nsecret: number;
  readonly Nenc: number;
  readonly Npk: number;
  readonly Nsk: number;
  /** Recipient key generation (pure JS; done once per worker start). */
  generateKeyPair(): KeyPair;
  deriveKeyPair(ikm: Uint8Array): KeyPair;
  publicKeyOf(secretKey: Uint8Array): Uint8Array;
  /**
   * Encapsulate to `publicKey`. `ikmE` makes it deterministic (test vectors only):
   * for DHKEM it is DeriveKeyPair's ikm for the ephemeral key; for X-Wing it is
   * the 64-byte `eseed` of the draft's derandomized Encapsulate. Async: X25519
   * runs on Web Crypto where the runtime has it (./native.ts).
   */
  encap(publicKey: Uint8Array, ikmE?: Uint8Array): Promise<EncapResult>;
  /**
   * Decapsulate. Expanded forms of `secretKey` (imported CryptoKey, X-Wing's
   * ML-KEM decapsulation key) are cached per secret-key array object, so a
   * long-lived recipient key is expanded once; do not mutate it after use.
   */
  decap(enc: Uint8Array, secretKey: Uint8Array, publicKey?: Uint8Array): Promise<Uint8Array>;
}

const KEM_SUITE_X25519 = concat(utf8('KEM'), i2osp(KEM_DHKEM_X25519_HKDF_SHA256, 2));

/** Recipient-side cache: X25519 public key per secret-key array object (derived with noble once). */
const x25519PublicOf = new WeakMap<Uint8Array, Uint8Array>();

export const DHKEM_X25519: Kem = {
  id: KEM_DHKEM_X25519_HKDF_SHA256,
  name: 'X25519',
  Nsecret: 32,
  Nenc: 32,
  Npk: 32,
  Nsk: 32,
  generateKeyPair() {
    return this.deriveKeyPair(randomBytes(32));
  },
  deriveKeyPair(ikm) {
    requireBytes('ikm', ikm);
    const dkpPrk = HKDF_SHA256.labeledExtract(KEM_SUITE_X25519, EMPTY, 'dkp_prk', ikm);
    const sk = HKDF_SHA256.labeledExpand(KEM_SUITE_X25519, dkpPrk, 'sk', EMPTY, 32);
    return { secretKey: sk, publicKey: x25519.getPublicKey(sk) };
  },
  publicKeyOf(secretKey) {
    if (!(secretKey instanceof Uint8Array) || secretKey.length !== 32) {
      throw new SealError('KEY_MISMATCH', 'X25519 secret key must be 32 bytes');
    }
    return x25519.getPublicKey(secretKey);
  },
  async encap(pkR, ikmE) {
    if (!(pkR instanceof Uint8Array) || pkR.length !== 32) {
      throw new SealError('KEY_MISMATCH', 'X25519 public key must be 32 bytes');
    }
    let secret: X25519Secret;
    let pkE: Uint8Array;
    if (ikmE) {
      // Deterministic (test vectors): DeriveKeyPair on noble, the DH itself native when available.
      const kp = this.deriveKeyPair(ikmE);
      secret = await x25519Secret(kp.secretKey, false);
      pkE = kp.publicKey;
    } else {
      // Random ephemeral key: native generateKey (a random native key is as good as DeriveKeyPair(random ikm)).
      ({ secret, publicKey: pkE } = await x25519Generate(() => randomBytes(32)));
    }
    const dh = await x25519Dh(secret, pkR, true);
    const enc = pkE;
    const kemContext = concat(enc, pkR);
    return { sharedSecret: extractAndExpandX25519(dh, kemContext), enc };
  },
  async decap(enc, skR, pkR) {
    if (!(enc instanceof Uint8Array) || enc.length !== 32) {
      throw new SealError('MALFORMED_MESSAGE', 'X25519 enc must be 32 bytes');
    }
    if (!(skR instanceof Uint8Array) || skR.length !== 32) {
      throw new SealError('KEY_MISMATCH', 'X25519 secret key must be 32 bytes');
    }
    const dh = await x25519Dh(await x25519Secret(skR, true), enc, false);
    let pk = pkR;
    if (!pk) {
      pk = x25519PublicOf.get(skR);
      if (!pk) x25519PublicOf.set(skR, (pk = x25519.getPublicKey(skR)));
    }
    return extractAndExpandX25519(dh, concat(enc, pk));
  },
};

function extractAndExpandX25519(dh: Uint8Array, kemContext: Uint8Array): Uint8Array {
  const eaePrk = HKDF_SHA256.labeledExtract(KEM_SUITE_X25519, EMPTY, 'eae_prk', dh);
  return HKDF_SHA256.labeledExpand(KEM_SUITE_X25519, eaePrk, 'shared_secret', kemContext, 32);
}

// ---------------------------------------------------------------------------
// X-Wing (draft-connolly-cfrg-xwing-kem-10), built here over our ML-KEM-768
// (./mlkem768.ts) and the X25519 above (native when available).
//
//   expandDecapsulationKey(sk): expanded = SHAKE256(sk, 96)
//     (pk_M, sk_M) = ML-KEM-768.KeyGen_internal(expanded[0:32], expanded[32:64])
//     sk_X = expanded[64:96]; pk_X = X25519(sk_X, X25519_BASE)
//   pk = pk_M || pk_X (1184 + 32)
//   Combiner(ss_M, ss_X, ct_X, pk_X) = SHA3-256(ss_M || ss_X || ct_X || pk_X || XWingLabel)
//   Encapsulate(pk, eseed): ek_X = eseed[32:64]; ct_X = X25519(ek_X, BASE); ss_X = X25519(ek_X, pk_X)
//     (ss_M, ct_M) = ML-KEM-768.Encaps(pk_M, m = eseed[0:32]); ct = ct_M || ct_X (1088 + 32)
//   Decapsulate(ct, sk): ss_M = ML-KEM-768.Decaps(sk_M, ct_M); ss_X = X25519(sk_X, ct_X)

/** XWingLabel = "\\.//^\\" (0x5c2e2f2f5e5c), the draft's ASCII-art domain separator. */
const XWING_LABEL = Uint8Array.of(0x5c, 0x2e, 0x2f, 0x2f, 0x5e, 0x5c);
const MLKEM_PK = 1184;
const MLKEM_CT = 1088;

interface XWingExpanded {
  /** ML-KEM-768 decapsulation key, checked and expanded (ŝ, Â, t̂, H(ek), z). */
  preparedM: PreparedDecapsulationKey;
  skX: Uint8Array;
  pkX: Uint8Array;
  pk: Uint8Array;
}

function xwingExpand(seed: Uint8Array): { dkM: Uint8Array; skX: Uint8Array; pkX: Uint8Array; pk: Uint8Array } {
  const expanded = shake256(seed, 96);
  const { encapsulationKey: pkM, decapsulationKey: dkM } = mlkemKeygen(expanded.subarray(0, 32), expanded.subarray(32, 64));
  const skX = expanded.slice(64, 96);
  expanded.fill(0);
  const pkX = x25519.getPublicKey(skX);
  return { dkM, skX, pkX, pk: concat(pkM, pkX) };
}

/** The X-Wing public key of a seed, wiping the expanded secret parts. */
function xwingPublicKey(seed: Uint8Array): Uint8Array {
  const { dkM, skX, pk } = xwingExpand(seed);
  dkM.fill(0);
  skX.fill(0);
  return pk;
}

/** Recipient-side cache of expanded X-Wing keys, per secret-key (seed) array object. */
const xwingExpandedKeys = new WeakMap<Uint8Array, XWingExpanded>();

function xwingExpandedFor(seed: Uint8Array): XWingExpanded {
  let e = xwingExpandedKeys.get(seed);
  if (!e) {
    const { dkM, skX, pkX, pk } = xwingExpand(seed);
    e = { preparedM: prepareDecapsulationKey(dkM), skX, pkX, pk };
    dkM.fill(0); // the prepared key holds what decapsulation needs
    xwingExpandedKeys.set(seed, e);
  }
  return e;
}

/** Sender-side cache of prepared ML-KEM public keys (public data), keyed by the X-Wing public key's hex. */
const xwingPrepared = new Map<string, PreparedEncapsulationKey>();
const XWING_PREPARED_MAX = 64;

function preparedFor(pkM: Uint8Array): PreparedEncapsulationKey {
  const id = bytesToHex(pkM);
  let p = xwingPrepared.get(id);
  if (!p) {
    p = prepareEncapsulationKey(pkM); // throws KEM_FAILED on a bad encapsulation key (modulus check)
    xwingPrepared.set(id, p);
    if (xwingPrepared.size > XWING_PREPARED_MAX) xwingPrepared.delete(xwingPrepared.keys().next().value as string);
  }
  return p;
}

function xwingCombine(ssM: Uint8Array, ssX: Uint8Array, ctX: Uint8Array, pkX: Uint8Array): Uint8Array {
  return sha3_256(ssM, ssX, ctX, pkX, XWING_LABEL);
}

/** Keep a promise from being reported as unhandled while synchronous work runs before it is awaited. */
function started<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {});
  return p;
}

/**
 * X-Wing per draft-connolly-cfrg-xwing-kem-10, checked against the draft's own
 * vectors in sdk/hpke/vectors/xwing-draft.json. Secret key = 32-byte seed;
 * public key 1216 bytes (pk_M || pk_X); enc = ciphertext 1120 bytes (ct_M || ct_X).
 * The KEM output is used directly as the HPKE shared secret ("Use in HPKE").
 */
export const XWING: Kem = {
  id: KEM_XWING,
  name: 'X-Wing',
  Nsecret: 32,
  Nenc: 1120,
  Npk: 1216,
  Nsk: 32,
  generateKeyPair() {
    const secretKey = randomBytes(32);
    return { secretKey, publicKey: xwingPublicKey(secretKey) };
  },
  deriveKeyPair(ikm) {
    requireBytes('ikm', ikm);
    const secretKey = shake256(ikm, 32);
    return { secretKey, publicKey: xwingPublicKey(secretKey) };
  },
  publicKeyOf(secretKey) {
    if (!(secretKey instanceof Uint8Array) || secretKey.length !== 32) {
      throw new SealError('KEY_MISMATCH', 'X-Wing secret key must be 32 bytes');
    }
    return xwingPublicKey(secretKey);
  },
  async encap(pkR, ikmE) {
    if (!(pkR instanceof Uint8Array) || pkR.length !== 1216) {
      throw new SealError('KEY_MISMATCH', 'X-Wing public key must be 1216 bytes');
    }
    if (ikmE !== undefined) requireBytes('X-Wing eseed', ikmE, 64);
    const pkM = pkR.subarray(0, MLKEM_PK);
    const pkX = pkR.slice(MLKEM_PK);
    // X25519 half first (native work runs off the JS thread), ML-KEM meanwhile.
    const xPart = started(
      (async () => {
        let secret: X25519Secret;
        let ctX: Uint8Array;
        if (ikmE) {
          const ekX = ikmE.slice(32, 64);
          secret = await x25519Secret(ekX, false);
          ctX = x25519.getPublicKey(ekX);
        } else {
          ({ secret, publicKey: ctX } = await x25519Generate(() => randomBytes(32)));
        }
        return { ctX, ssX: await x25519Dh(secret, pkX, true) };
      })(),
    );
    let ctM: Uint8Array;
    let ssM: Uint8Array;
    try {
      ({ cipherText: ctM, sharedSecret: ssM } = preparedFor(pkM).encapsulate(ikmE ? ikmE.slice(0, 32) : undefined));
    } catch (cause) {
      throw new SealError('KEM_FAILED', 'X-Wing encapsulation failed (invalid public key)', { cause });
    }
    const { ctX, ssX } = await xPart;
    return { sharedSecret: xwingCombine(ssM, ssX, ctX, pkX), enc: concat(ctM, ctX) };
  },
  async decap(enc, skR) {
    if (!(enc instanceof Uint8Array) || enc.length !== 1120) {
      throw new SealError('MALFORMED_MESSAGE', 'X-Wing enc must be 1120 bytes');
    }
    if (!(skR instanceof Uint8Array) || skR.length !== 32) {
      throw new SealError('KEY_MISMATCH', 'X-Wing secret key must be 32 bytes');
    }
    const e = xwingExpandedFor(skR);
    const ctM = enc.subarray(0, MLKEM_CT);
    const ctX = enc.slice(MLKEM_CT);
    // X25519 first, up to the point where its scalar multiplication runs on the thread pool, then
    // ML-KEM on this thread meanwhile.
    const finishX = await x25519Start(await x25519Secret(e.skX, true), ctX, false); // KEM_FAILED on an invalid ct_X
    let ssM: Uint8Array;
    try {
      // ML-KEM decapsulation never fails on a well-sized ciphertext (implicit rejection).
      ssM = e.preparedM.decapsulate(ctM);
    } catch (cause) {
      throw new SealError('KEM_FAILED', 'X-Wing decapsulation failed', { cause });
    }
    const ssX = await finishX(); // KEM_FAILED on a small-order ct_X
    return xwingCombine(ssM, ssX, ctX, e.pkX);
  },
};

/**
 * Recipient: do the one-time per-key work now (X25519 private-key import,
 * X-Wing seed expansion and ML-KEM key preparation) instead of on the first
 * request. Optional; decap does the same lazily.
 */
export async function warmRecipientKey(kem: Kem, secretKey: Uint8Array): Promise<void> {
  if (kem.id === KEM_DHKEM_X25519_HKDF_SHA256) {
    await x25519Secret(secretKey, true);
  } else if (kem.id === KEM_XWING) {
    await x25519Secret(xwingExpandedFor(secretKey).skX, true);
  }
}

// ---------------------------------------------------------------------------
// AEADs

/** An AEAD key prepared once for many messages (response chunks): no per-call key expansion. */
export interface KeyedAead {
  seal(nonce: Uint8Array, aad: Uint8Array, pt: Uint8Array): Uint8Array;
  /** Writes ct ‖ tag (pt.length + Nt bytes) at out[off..]: saves a copy when the caller frames the ciphertext. */
  sealInto(nonce: Uint8Array, aad: Uint8Array, pt: Uint8Array, out: Uint8Array, off: number): void;
  /** Throws SealError('OPEN_FAILED') on authentication failure. */
  open(nonce: Uint8Array, aad: Uint8Array, ct: Uint8Array): Uint8Array;
}

export interface Aead {
  readonly id: number;
  readonly name: AeadName;
  readonly Nk: number;
  readonly Nn: number;
  readonly Nt: number;
  seal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, pt: Uint8Array): Uint8Array;
  /** Throws SealError('OPEN_FAILED') on authentication failure. */
  open(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, ct: Uint8Array): Uint8Array;
  keyed(key: Uint8Array): KeyedAead;
}

function aeadOpen(f: () => Uint8Array): Uint8Array {
  try {
    return f();
  } catch (cause) {
    throw new SealError('OPEN_FAILED', 'AEAD authentication failed', { cause });
  }
}

function gcmOpen(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, ct: Uint8Array): Uint8Array {
  if (ct.length < 16) throw new SealError('OPEN_FAILED', 'ciphertext shorter than the tag');
  return aeadOpen(() => gcm(key, nonce, aad).decrypt(ct));
}

export const AES_128_GCM: Aead = {
  id: AEAD_AES_128_GCM,
  name: 'AES-128-GCM',
  Nk: 16,
  Nn: 12,
  Nt: 16,
  seal: (key, nonce, aad, pt) => gcm(key, nonce, aad).encrypt(pt),
  open: gcmOpen,
  keyed: (key) => ({
    seal: (nonce, aad, pt) => gcm(key, nonce, aad).encrypt(pt),
    sealInto: (nonce, aad, pt, out, off) => out.set(gcm(key, nonce, aad).encrypt(pt), off),
    open: (nonce, aad, ct) => gcmOpen(key, nonce, aad, ct),
  }),
};

/** Own keyed implementation (./chacha20poly1305.ts, ≈4× noble per small chunk); noble on big-endian hosts. */
const chachaKeyed = (key: Uint8Array): KeyedAead => (FAST_CHACHA ? new ChaChaPolyKey(key) : new NobleChaChaPolyKey(key));

export const CHACHA20_POLY1305: Aead = {
  id: AEAD_CHACHA20_POLY1305,
  name: 'ChaCha20-Poly1305',
  Nk: 32,
  Nn: 12,
  Nt: 16,
  seal: (key, nonce, aad, pt) => chachaKeyed(key).seal(nonce, aad, pt),
  open: (key, nonce, aad, ct) => chachaKeyed(key).open(nonce, aad, ct),
  keyed: chachaKeyed,
};

// ---------------------------------------------------------------------------
// Registry

const KEMS = new Map<number, Kem>([
  [DHKEM_X25519.id, DHKEM_X25519],
  [XWING.id, XWING],
]);
const KDFS = new Map<number, Kdf>([[HKDF_SHA256.id, HKDF_SHA256]]);
const AEADS = new Map<number, Aead>([
  [AES_128_GCM.id, AES_128_GCM],
  [CHACHA20_POLY1305.id, CHACHA20_POLY1305],
]);

export function kemById(id: number): Kem {
  const k = KEMS.get(id);
  if (!k) throw new SealError('UNSUPPORTED_SUITE', `unsupported KEM id 0x${id.toString(16).padStart(4, '0')}`);
  return k;
}
export function kdfById(id: number): Kdf {
  const k = KDFS.get(id);
  if (!k) throw new SealError('UNSUPPORTED_SUITE', `unsupported KDF id 0x${id.toString(16).padStart(4, '0')}`);
  return k;
}
export function aeadById(id: number): Aead {
  const a = AEADS.get(id);
  if (!a) throw new SealError('UNSUPPORTED_SUITE', `unsupported AEAD id 0x${id.toString(16).padStart(4, '0')}`);
  return a;
}
export function kemByName(name: KemName): Kem {
  if (name === 'X25519') return DHKEM_X25519;
  if (name === 'X-Wing') return XWING;
  throw new SealError('UNSUPPORTED_SUITE', `unsupported KEM ${String(name)}`);
}
export function aeadByName(name: AeadName): Aead {
  if (name === 'AES-128-GCM') return AES_128_GCM;
  if (name === 'ChaCha20-Poly1305') return CHACHA20_POLY1305;
  throw new SealError('UNSUPPORTED_SUITE', `unsupported AEAD ${String(name)}`);
}

export interface Suite {
  readonly kem: Kem;
  readonly kdf: Kdf;
  readonly aead: Aead;
  /** "HPKE" || I2OSP(kem_id, 2) || I2OSP(kdf_id, 2) || I2OSP(aead_id, 2) */
  readonly id: Uint8Array;
}

export function suite(kemId: number, kdfId: number, aeadId: number): Suite {
  const kem = kemById(kemId);
  const kdf = kdfById(kdfId);
  const aead = aeadById(aeadId);
  return { kem, kdf, aead, id: concat(utf8('HPKE'), i2osp(kemId, 2), i2osp(kdfId, 2), i2osp(aeadId, 2)) };
}

// ---------------------------------------------------------------------------
// Key schedule and contexts (RFC 9180 §5.1 – §5.3)

/** Largest sequence number we allow; far below 2^96 - 1 (RFC 9180 §5.2) and exact in a JS number. */
const MAX_SEQ = Number.MAX_SAFE_INTEGER;

export class Context {
  /** @internal exposed for test vectors only */
  readonly key: Uint8Array;
  /** @internal exposed for test vectors only */
  readonly baseNonce: Uint8Array;
  /** @internal exposed for test vectors only */
  readonly exporterSecret: Uint8Array;
  readonly suite: Suite;
  protected _seq = 0;
  private _aead: KeyedAead | null = null;

  /** The context's AEAD key, expanded once. */
  protected get aeadKey(): KeyedAead {
    return (this._aead ??= this.suite.aead.keyed(this.key));
  }

  constructor(s: Suite, key: Uint8Array, baseNonce: Uint8Array, exporterSecret: Uint8Array) {
    this.suite = s;
    this.key = key;
    this.baseNonce = baseNonce;
    this.exporterSecret = exporterSecret;
  }

  /** The sequence number the next Seal/Open will use. */
  get seq(): number {
    return this._seq;
  }

  /** base_nonce XOR I2OSP(seq, Nn). */
  computeNonce(seq: number): Uint8Array {
    return xorCounter(this.baseNonce, seq);
  }

  protected incrementSeq(): void {
    if (this._seq >= MAX_SEQ) throw new SealError('STATE_ERROR', 'HPKE sequence number overflow');
    this._seq++;
  }

  /** Secret export (RFC 9180 §5.3): LabeledExpand(exporter_secret, "sec", exporter_context, L). */
  export(exporterContext: Uint8Array, L: number): Uint8Array {
    requireBytes('exporterContext', exporterContext);
    if (!Number.isInteger(L) || L < 0 || L > 255 * this.suite.kdf.Nh) {
      throw new SealError('INVALID_ARGUMENT', 'export length out of range');
    }
    return this.suite.kdf.labeledExpand(this.suite.id, this.exporterSecret, 'sec', exporterContext, L);
  }
}

export class SenderContext extends Context {
  seal(plaintext: Uint8Array, aad: Uint8Array = EMPTY): Uint8Array {
    requireBytes('plaintext', plaintext);
    requireBytes('aad', aad);
    if (this._seq >= MAX_SEQ) throw new SealError('STATE_ERROR', 'HPKE sequence number overflow');
    const ct = this.aeadKey.seal(this.computeNonce(this._seq), aad, plaintext);
    this.incrementSeq();
    return ct;
  }
}

export class RecipientContext extends Context {
  open(ciphertext: Uint8Array, aad: Uint8Array = EMPTY): Uint8Array {
    requireBytes('ciphertext', ciphertext);
    requireBytes('aad', aad);
    if (this._seq >= MAX_SEQ) throw new SealError('STATE_ERROR', 'HPKE sequence number overflow');
    const pt = this.aeadKey.open(this.computeNonce(this._seq), aad, ciphertext);
    this.incrementSeq();
    return pt;
  }
}

/** nonce XOR I2OSP(counter, Nn): counter right-aligned, big-endian. */
export function xorCounter(base: Uint8Array, counter: number): Uint8Array {
  const out = base.slice();
  let c = counter;
  for (let i = out.length - 1; i >= 0 && c > 0; i--) {
    out[i]! ^= c % 256;
    c = Math.floor(c / 256);
  }
  return out;
}

/**
 * key_schedule_context = mode || LabeledExtract("", "psk_id_hash", "") || LabeledExtract("", "info_hash", info).
 * It depends only on the suite and info (constant per suite in the sealed protocol), so it is memoized.
 */
const kscCache = new Map<string, Uint8Array>();
const KSC_CACHE_MAX = 64;
const KSC_CACHE_MAX_INFO = 256;

function keyScheduleContext(s: Suite, info: Uint8Array): Uint8Array {
  const cacheable = info.length <= KSC_CACHE_MAX_INFO;
  const key = cacheable ? bytesToHex(s.id) + bytesToHex(info) : '';
  if (cacheable) {
    const hit = kscCache.get(key);
    if (hit) return hit;
  }
  const { kdf, id } = s;
  const pskIdHash = kdf.labeledExtract(id, EMPTY, 'psk_id_hash', EMPTY);
  const infoHash = kdf.labeledExtract(id, EMPTY, 'info_hash', info);
  const ksc = concat(Uint8Array.of(MODE_BASE), pskIdHash, infoHash);
  if (cacheable) {
    kscCache.set(key, ksc);
    if (kscCache.size > KSC_CACHE_MAX) kscCache.delete(kscCache.keys().next().value as string);
  }
  return ksc;
}

function keySchedule<C extends Context>(
  s: Suite,
  sharedSecret: Uint8Array,
  info: Uint8Array,
  Ctor: new (s: Suite, k: Uint8Array, n: Uint8Array, e: Uint8Array) => C,
): C {
  const { kdf, aead, id } = s;
  const ksc = keyScheduleContext(s, info);
  const secret = kdf.labeledExtract(id, sharedSecret, 'secret', EMPTY);
  const key = kdf.labeledExpand(id, secret, 'key', ksc, aead.Nk);
  const baseNonce = kdf.labeledExpand(id, secret, 'base_nonce', ksc, aead.Nn);
  const exporterSecret = kdf.labeledExpand(id, secret, 'exp', ksc, kdf.Nh);
  return new Ctor(s, key, baseNonce, exporterSecret);
}

export interface SetupOptions {
  /** Test-only: deterministic ephemeral input (see Kem.encap). Never set this in production. */
  ikmE?: Uint8Array;
}

/** SetupBaseS (RFC 9180 §5.1.1). */
export async function setupBaseS(
  s: Suite,
  pkR: Uint8Array,
  info: Uint8Array = EMPTY,
  opts: SetupOptions = {},
): Promise<{ enc: Uint8Array; ctx: SenderContext }> {
  requireBytes('info', info);
  const { sharedSecret, enc } = await s.kem.encap(pkR, opts.ikmE);
  return { enc, ctx: keySchedule(s, sharedSecret, info, SenderContext) };
}

/** SetupBaseR (RFC 9180 §5.1.1). `pkR` is optional (derived from skR when absent). */
export async function setupBaseR(
  s: Suite,
  enc: Uint8Array,
  skR: Uint8Array,
  info: Uint8Array = EMPTY,
  pkR?: Uint8Array,
): Promise<RecipientContext> {
  requireBytes('info', info);
  const sharedSecret = await s.kem.decap(enc, skR, pkR);
  return keySchedule(s, sharedSecret, info, RecipientContext);
}

/** Single-shot SealBase (RFC 9180 §6.1). */
export async function sealBase(
  s: Suite,
  pkR: Uint8Array,
  info: Uint8Array,
  aad: Uint8Array,
  pt: Uint8Array,
  opts: SetupOptions = {},
): Promise<{ enc: Uint8Array; ct: Uint8Array }> {
  const { enc, ctx } = await setupBaseS(s, pkR, info, opts);
  return { enc, ct: ctx.seal(pt, aad) };
}

/** Single-shot OpenBase (RFC 9180 §6.1). */
export async function openBase(
  s: Suite,
  enc: Uint8Array,
  skR: Uint8Array,
  info: Uint8Array,
  aad: Uint8Array,
  ct: Uint8Array,
): Promise<Uint8Array> {
  return (await setupBaseR(s, enc, skR, info)).open(ct, aad);
}

/** Single-shot SendExport (RFC 9180 §6.2). */
export async function sendExport(
  s: Suite,
  pkR: Uint8Array,
  info: Uint8Array,
  exporterContext: Uint8Array,
  L: number,
  opts: SetupOptions = {},
): Promise<{ enc: Uint8Array; exported: Uint8Array }> {
  const { enc, ctx } = await setupBaseS(s, pkR, info, opts);
  return { enc, exported: ctx.export(exporterContext, L) };
}

/** Single-shot ReceiveExport (RFC 9180 §6.2). */
export async function receiveExport(
  s: Suite,
  enc: Uint8Array,
  skR: Uint8Array,
  info: Uint8Array,
  exporterContext: Uint8Array,
  L: number,
): Promise<Uint8Array> {
  return (await setupBaseR(s, enc, skR, info)).export(exporterContext, L);
}
