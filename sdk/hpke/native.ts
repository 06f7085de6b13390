/**
 * Native (Web Crypto) X25519 and Ed25519 where the runtime has them, with a
 * pure-JS @noble/curves fallback. Runtime-agnostic: only `globalThis.crypto`
 * (no `node:` imports, no Buffer).
 *
 * Detection runs once, lazily, and checks the native result against a known
 * answer (RFC 7748 §6.1 for X25519, RFC 8032 §7.1 test 1 for Ed25519), so a
 * runtime that names the algorithm but computes something else is not used.
 *
 * Raw key bytes are what the protocol carries; CryptoKeys are derived from
 * them and cached:
 *   - secret keys in WeakMaps keyed by the caller's Uint8Array *object* (so a
 *     long-lived worker key is imported once; nothing is kept once the caller
 *     drops its key). Do not mutate a secret key array after first use.
 *   - public keys (public data) in a small bounded Map keyed by their hex.
 */
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { SealError } from './errors.ts';

type Subtle = SubtleCrypto;

const subtle: Subtle | undefined = (globalThis as { crypto?: { subtle?: Subtle } }).crypto?.subtle;

// ---------------------------------------------------------------------------
// Helpers

function hexOf(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += (b[i]! < 16 ? '0' : '') + b[i]!.toString(16);
  return s;
}

function fromHex(h: string): Uint8Array {
  const out = new Uint8Array(h.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** A fresh ArrayBuffer-backed copy (Web Crypto wants BufferSource; avoids SharedArrayBuffer typing issues). */
function buf(b: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(b.length);
  out.set(b);
  return out;
}

function isAllZero(b: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < b.length; i++) acc |= b[i]!;
  return acc === 0;
}

/** PKCS#8 wrapping of a 32-byte RFC 8410 private key: fixed 16-byte prefix ‖ key. */
function pkcs8(prefixHex: string, key: Uint8Array): Uint8Array<ArrayBuffer> {
  const prefix = fromHex(prefixHex);
  const out = new Uint8Array(prefix.length + key.length);
  out.set(prefix);
  out.set(key, prefix.length);
  return out;
}
/** SEQUENCE { INTEGER 0, SEQUENCE { OID 1.3.101.110 }, OCTET STRING { OCTET STRING (32) } } */
const PKCS8_X25519 = '302e020100300506032b656e04220420';
/** Same with OID 1.3.101.112 (Ed25519). */
const PKCS8_ED25519 = '302e020100300506032b657004220420';

/** Bounded insertion-ordered cache for imported public keys (public data only). */
class PublicKeyCache {
  private readonly map = new Map<string, Promise<CryptoKey>>();
  constructor(private readonly max: number) {}
  get(key: Uint8Array, load: () => Promise<CryptoKey>): Promise<CryptoKey> {
    const id = hexOf(key);
    let p = this.map.get(id);
    if (p) return p;
    p = load();
    p.catch(() => this.map.delete(id)); // never cache a failed import
    this.map.set(id, p);
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value as string);
    return p;
  }
}

// ---------------------------------------------------------------------------
// Feature detection (once) and test override

// RFC 7748 §6.1
const KAT_X25519_SK = '77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a';
const KAT_X25519_PK = 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f';
const KAT_X25519_SS = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';
// RFC 8032 §7.1, TEST 1 (empty message)
const KAT_ED25519_SK = '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60';
const KAT_ED25519_PK = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a';
const KAT_ED25519_SIG =
  'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b';

/** @internal the known-answer values, exported so a test can check them against noble. */
export const NATIVE_KATS = {
  x25519: { sk: KAT_X25519_SK, pk: KAT_X25519_PK, ss: KAT_X25519_SS },
  ed25519: { sk: KAT_ED25519_SK, pk: KAT_ED25519_PK, sig: KAT_ED25519_SIG },
} as const;

async function detectX25519(): Promise<boolean> {
  if (!subtle) return false;
  try {
    const sk = await subtle.importKey('pkcs8', pkcs8(PKCS8_X25519, fromHex(KAT_X25519_SK)), { name: 'X25519' }, false, ['deriveBits']);
    const pk = await subtle.importKey('raw', buf(fromHex(KAT_X25519_PK)), { name: 'X25519' }, true, []);
    const ss = new Uint8Array(await subtle.deriveBits({ name: 'X25519', public: pk }, sk, 256));
    return hexOf(ss) === KAT_X25519_SS;
  } catch {
    return false;
  }
}

async function detectEd25519(): Promise<boolean> {
  if (!subtle) return false;
  try {
    const sk = await subtle.importKey('pkcs8', pkcs8(PKCS8_ED25519, fromHex(KAT_ED25519_SK)), { name: 'Ed25519' }, false, ['sign']);
    const sig = new Uint8Array(await subtle.sign({ name: 'Ed25519' }, sk, new Uint8Array(0)));
    if (hexOf(sig) !== KAT_ED25519_SIG) return false;
    const pk = await subtle.importKey('raw', buf(fromHex(KAT_ED25519_PK)), { name: 'Ed25519' }, true, ['verify']);
    return await subtle.verify({ name: 'Ed25519' }, pk, sig, new Uint8Array(0));
  } catch {
    return false;
  }
}

let x25519Native: Promise<boolean> | null = null;
let ed25519Native: Promise<boolean> | null = null;
let forced: { x25519?: boolean; ed25519?: boolean } = {};

function useNativeX25519(): Promise<boolean> {
  if (forced.x25519 === false) return Promise.resolve(false);
  return (x25519Native ??= detectX25519());
}
function useNativeEd25519(): Promise<boolean> {
  if (forced.ed25519 === false) return Promise.resolve(false);
  return (ed25519Native ??= detectEd25519());
}

/** Which implementation is in use: 'webcrypto' or 'noble'. */
export async function nativeSupport(): Promise<{ x25519: 'webcrypto' | 'noble'; ed25519: 'webcrypto' | 'noble' }> {
  return {
    x25519: (await useNativeX25519()) ? 'webcrypto' : 'noble',
    ed25519: (await useNativeEd25519()) ? 'webcrypto' : 'noble',
  };
}

/**
 * @internal TEST-ONLY: force the noble fallback (`false`) or restore
 * detection (`undefined`), so tests can run both paths.
 */
export function _forceNoble(opts: { x25519?: boolean; ed25519?: boolean }): void {
  forced = {
    ...(opts.x25519 ? { x25519: false } : {}),
    ...(opts.ed25519 ? { ed25519: false } : {}),
  };
}

// ---------------------------------------------------------------------------
// X25519

const X25519_ALG = { name: 'X25519' } as const;
const x25519SecretKeys = new WeakMap<Uint8Array, Promise<CryptoKey>>();
const x25519PublicKeys = new PublicKeyCache(256);

/** An X25519 private scalar, native (CryptoKey) or raw bytes (noble). */
export interface X25519Secret {
  readonly native?: CryptoKey;
  readonly raw?: Uint8Array;
}

function kemFailed(cause: unknown): SealError {
  return new SealError('KEM_FAILED', 'X25519 rejected the public key', { cause });
}

/**
 * Wrap a 32-byte X25519 secret key. With `cache`, the imported CryptoKey is
 * kept per array object (long-lived recipient keys); ephemeral keys pass
 * `cache = false`.
 */
export async function x25519Secret(sk: Uint8Array, cache: boolean): Promise<X25519Secret> {
  if (!(await useNativeX25519())) return { raw: sk };
  const load = () => subtle!.importKey('pkcs8', pkcs8(PKCS8_X25519, sk), X25519_ALG, false, ['deriveBits']);
  if (!cache) return { native: await load() };
  let p = x25519SecretKeys.get(sk);
  if (!p) {
    p = load();
    p.catch(() => x25519SecretKeys.delete(sk));
    x25519SecretKeys.set(sk, p);
  }
  return { native: await p };
}

/** A fresh random ephemeral key pair: native generateKey when available. */
export async function x25519Generate(randomSk: () => Uint8Array): Promise<{ secret: X25519Secret; publicKey: Uint8Array }> {
  if (!(await useNativeX25519())) {
    const sk = randomSk();
    return { secret: { raw: sk }, publicKey: x25519.getPublicKey(sk) };
  }
  const kp = (await subtle!.generateKey(X25519_ALG, false, ['deriveBits'])) as CryptoKeyPair;
  const publicKey = new Uint8Array(await subtle!.exportKey('raw', kp.publicKey));
  return { secret: { native: kp.privateKey }, publicKey };
}

/**
 * X25519(sk, pk) with the RFC 9180 §7.1.4 all-zero check. `cachePublic`
 * caches the imported public key (use it for long-lived peer keys, not for
 * per-request ephemeral ones). Errors are SealError('KEM_FAILED').
 */
export async function x25519Dh(secret: X25519Secret, pk: Uint8Array, cachePublic: boolean): Promise<Uint8Array> {
  return (await x25519Start(secret, pk, cachePublic))();
}

/**
 * X25519 in two steps: the returned promise resolves once the native work has
 * been handed to the thread pool (after the peer key's import), to a function
 * that awaits its result. A caller can run synchronous work in between, in
 * parallel with the thread pool: X-Wing's ML-KEM half.
 */
export async function x25519Start(secret: X25519Secret, pk: Uint8Array, cachePublic: boolean): Promise<() => Promise<Uint8Array>> {
  if (!secret.native) {
    let dh: Uint8Array;
    try {
      dh = x25519.getSharedSecret(secret.raw!, pk);
    } catch (cause) {
      throw kemFailed(cause);
    }
    return async () => checkedDh(dh);
  }
  let pending: Promise<ArrayBuffer>;
  try {
    const load = () => subtle!.importKey('raw', buf(pk), X25519_ALG, true, []);
    const pub = cachePublic ? await x25519PublicKeys.get(pk, load) : await load();
    pending = subtle!.deriveBits({ name: 'X25519', public: pub }, secret.native, 256);
  } catch (cause) {
    throw kemFailed(cause);
  }
  pending.catch(() => {}); // awaited by the returned function; not unhandled meanwhile
  return async () => {
    try {
      return checkedDh(new Uint8Array(await pending));
    } catch (cause) {
      throw cause instanceof SealError ? cause : kemFailed(cause);
    }
  };
}

function checkedDh(dh: Uint8Array): Uint8Array {
  if (isAllZero(dh)) throw new SealError('KEM_FAILED', 'X25519 produced the all-zero shared secret');
  return dh;
}

// ---------------------------------------------------------------------------
// Ed25519

const ED25519_ALG = { name: 'Ed25519' } as const;
const ed25519SecretKeys = new WeakMap<Uint8Array, Promise<CryptoKey>>();
const ed25519PublicKeys = new PublicKeyCache(256);

function ed25519SigningKey(secretKey: Uint8Array): Promise<CryptoKey> {
  let p = ed25519SecretKeys.get(secretKey);
  if (!p) {
    p = subtle!.importKey('pkcs8', pkcs8(PKCS8_ED25519, secretKey), ED25519_ALG, false, ['sign']);
    p.catch(() => ed25519SecretKeys.delete(secretKey));
    ed25519SecretKeys.set(secretKey, p);
  }
  return p;
}

/** Ed25519 signature of `msg` with the 32-byte seed `secretKey` (RFC 8032). */
export async function ed25519Sign(msg: Uint8Array, secretKey: Uint8Array): Promise<Uint8Array> {
  if (!(await useNativeEd25519())) return ed25519.sign(msg, secretKey);
  return new Uint8Array(await subtle!.sign(ED25519_ALG, await ed25519SigningKey(secretKey), buf(msg)));
}

/** Import (and cache) a long-lived Ed25519 signing key ahead of its first use. */
export async function ed25519Warm(secretKey: Uint8Array): Promise<void> {
  if (await useNativeEd25519()) await ed25519SigningKey(secretKey);
}

/** Ed25519 verification; false (never a throw) for any malformed input. */
export async function ed25519Verify(sig: Uint8Array, msg: Uint8Array, publicKey: Uint8Array): Promise<boolean> {
  if (sig.length !== 64 || publicKey.length !== 32) return false;
  if (!(await useNativeEd25519())) {
    try {
      return ed25519.verify(sig, msg, publicKey);
    } catch {
      return false;
    }
  }
  try {
    const pub = await ed25519PublicKeys.get(publicKey, () =>
      subtle!.importKey('raw', buf(publicKey), ED25519_ALG, true, ['verify']),
    );
    return await subtle!.verify(ED25519_ALG, pub, buf(sig), buf(msg));
  } catch {
    return false;
  }
}
