/**
 * Signature verification over Web Crypto: ECDSA (P-256/384/521 with
 * SHA-256/384/512), RSASSA-PKCS1-v1_5 and RSASSA-PSS. Keys are imported once
 * per certificate and cached.
 */
import { equalBytes, fromHex } from '../util/bytes.ts';
import { DerError, TAG, children, decodeOid, decodeSmallUint, expectTag, integerMagnitude, readWhole } from './der.ts';
import type { Certificate } from './cert.ts';

/** The digests Web Crypto signature schemes are used with here. */
export type Hash = 'SHA-256' | 'SHA-384' | 'SHA-512';

/** How a signature algorithm OID maps onto Web Crypto. */
export type SignatureScheme =
  | { kind: 'ecdsa'; hash: Hash }
  | { kind: 'rsa-pkcs1'; hash: Hash }
  | { kind: 'rsa-pss'; hash: Hash; saltLength: number };

const HASH_OIDS: Record<string, Hash> = {
  '2.16.840.1.101.3.4.2.1': 'SHA-256',
  '2.16.840.1.101.3.4.2.2': 'SHA-384',
  '2.16.840.1.101.3.4.2.3': 'SHA-512',
};

const CURVES: Record<string, { name: 'P-256' | 'P-384' | 'P-521'; size: number }> = {
  '1.2.840.10045.3.1.7': { name: 'P-256', size: 32 },
  '1.3.132.0.34': { name: 'P-384', size: 48 },
  '1.3.132.0.35': { name: 'P-521', size: 66 },
};

/** DER content of the SHA-2 hash OIDs, by name. */
const HASH_OID_HEX: Record<Hash, string> = {
  'SHA-256': '608648016503040201',
  'SHA-384': '608648016503040202',
  'SHA-512': '608648016503040203',
};

/** Short-form DER TLV (hex in, hex out); every use here stays below 128 bytes. */
function tlvHex(tag: string, body: string): string {
  const len = body.length / 2;
  if (len >= 0x80) throw new RangeError('tlvHex: long form not needed here');
  return tag + len.toString(16).padStart(2, '0') + body;
}

/**
 * The DER AlgorithmIdentifier encodings of RSASSA-PSS with `hash`, MGF1 with
 * the same hash, and `saltLength` (RFC 4055, hash parameters as explicit
 * NULL): first with the default trailerField omitted (proper DER), then with
 * it spelled out as 1 (as AMD's ARKs do). For byte-exact checks with
 * {@link hasSignatureAlgorithm}, which is stricter than parsing the parameters.
 *
 * @example
 * hasSignatureAlgorithm(cert, rsaPssAlgorithmIdentifiers('SHA-384', 48)); // AMD KDS certificates
 */
export function rsaPssAlgorithmIdentifiers(hash: Hash, saltLength: number): Uint8Array[] {
  if (!Number.isInteger(saltLength) || saltLength < 0 || saltLength > 0xffff) throw new RangeError('saltLength out of range');
  const hashAlg = tlvHex('30', tlvHex('06', HASH_OID_HEX[hash]) + '0500');
  let salt = saltLength.toString(16);
  salt = salt.padStart(salt.length + (salt.length % 2), '0');
  if (parseInt(salt.slice(0, 2), 16) & 0x80) salt = '00' + salt; // INTEGER is signed
  const params =
    tlvHex('a0', hashAlg) +
    tlvHex('a1', tlvHex('30', tlvHex('06', '2a864886f70d010108') + hashAlg)) + // id-mgf1
    tlvHex('a2', tlvHex('02', salt));
  const pss = tlvHex('06', '2a864886f70d01010a'); // id-RSASSA-PSS
  return [fromHex(tlvHex('30', pss + tlvHex('30', params))), fromHex(tlvHex('30', pss + tlvHex('30', params + 'a303020101')))];
}

/**
 * True when `cert`'s outer signatureAlgorithm is byte-identical to one of
 * `accepted` and to the copy inside tbsCertificate. Use it to pin the exact
 * algorithm and parameters an issuer is known to use.
 */
export function hasSignatureAlgorithm(cert: Certificate, accepted: readonly Uint8Array[]): boolean {
  return (
    accepted.some((a) => equalBytes(a, cert.signatureAlgorithmDer)) &&
    equalBytes(cert.tbsSignatureAlgorithmDer, cert.signatureAlgorithmDer)
  );
}

/** The named curve of `cert`'s EC public key (P-256/384/521), or undefined for other keys and curves. */
export function ecCurveOf(cert: Certificate): { name: 'P-256' | 'P-384' | 'P-521'; size: number } | undefined {
  if (cert.keyAlgorithm !== OID_EC_PUBLIC_KEY) return undefined;
  return CURVES[cert.keyCurve ?? ''];
}

/** OIDs of the public key algorithms understood here. */
export const OID_EC_PUBLIC_KEY = '1.2.840.10045.2.1';
export const OID_RSA_ENCRYPTION = '1.2.840.113549.1.1.1';

/** Maps a signature algorithm OID (and DER params, for PSS) to a scheme, or undefined if unsupported. */
export function signatureSchemeOf(oid: string, params?: Uint8Array): SignatureScheme | undefined {
  switch (oid) {
    case '1.2.840.10045.4.3.2':
      return { kind: 'ecdsa', hash: 'SHA-256' };
    case '1.2.840.10045.4.3.3':
      return { kind: 'ecdsa', hash: 'SHA-384' };
    case '1.2.840.10045.4.3.4':
      return { kind: 'ecdsa', hash: 'SHA-512' };
    case '1.2.840.113549.1.1.11':
      return { kind: 'rsa-pkcs1', hash: 'SHA-256' };
    case '1.2.840.113549.1.1.12':
      return { kind: 'rsa-pkcs1', hash: 'SHA-384' };
    case '1.2.840.113549.1.1.13':
      return { kind: 'rsa-pkcs1', hash: 'SHA-512' };
    case '1.2.840.113549.1.1.10':
      return params ? pssParams(params) : undefined;
    default:
      return undefined;
  }
}

function pssParams(der: Uint8Array): SignatureScheme | undefined {
  try {
    let hash: string = 'SHA-1';
    let saltLength = 20;
    for (const p of children(readWhole(der, TAG.SEQUENCE))) {
      if (p.tag === 0xa0) {
        const alg = children(expectTag(children(p)[0], TAG.SEQUENCE, 'hashAlgorithm'));
        const h = HASH_OIDS[decodeOid(expectTag(alg[0], TAG.OID, 'hash oid').value)];
        if (!h) return undefined;
        hash = h;
      } else if (p.tag === 0xa2) {
        saltLength = decodeSmallUint(expectTag(children(p)[0], TAG.INTEGER, 'saltLength').value);
      }
    }
    if (hash !== 'SHA-256' && hash !== 'SHA-384' && hash !== 'SHA-512') return undefined;
    return { kind: 'rsa-pss', hash, saltLength };
  } catch {
    return undefined;
  }
}

/**
 * Converts a DER `ECDSA-Sig-Value` to raw `r‖s` of `size` bytes each; null if malformed.
 */
export function ecdsaDerToRaw(der: Uint8Array, size: number): Uint8Array | null {
  try {
    const [r, s, ...rest] = children(readWhole(der, TAG.SEQUENCE));
    if (!r || !s || rest.length) return null;
    const out = new Uint8Array(size * 2);
    for (const [i, t] of [r, s].entries()) {
      if (expectTag(t, TAG.INTEGER, 'ecdsa int').value.length === 0 || (t.value[0]! & 0x80) !== 0) return null;
      const m = integerMagnitude(t.value);
      if (m.length > size) return null;
      out.set(m, i * size + size - m.length);
    }
    return out;
  } catch (e) {
    if (e instanceof DerError) return null;
    throw e;
  }
}

const keyCache = new WeakMap<Certificate, Map<string, Promise<CryptoKey | null>>>();

function keyParams(cert: Certificate, scheme: SignatureScheme): RsaHashedImportParams | EcKeyImportParams | null {
  if (scheme.kind === 'ecdsa') {
    if (cert.keyAlgorithm !== OID_EC_PUBLIC_KEY || !cert.keyCurve) return null;
    const c = CURVES[cert.keyCurve];
    return c ? { name: 'ECDSA', namedCurve: c.name } : null;
  }
  if (cert.keyAlgorithm !== OID_RSA_ENCRYPTION && cert.keyAlgorithm !== '1.2.840.113549.1.1.10') return null;
  return { name: scheme.kind === 'rsa-pss' ? 'RSA-PSS' : 'RSASSA-PKCS1-v1_5', hash: scheme.hash };
}

/** The certificate's public key imported for `scheme` (cached), or null if it does not fit. */
export function certificateKey(cert: Certificate, scheme: SignatureScheme): Promise<CryptoKey | null> {
  let m = keyCache.get(cert);
  if (!m) keyCache.set(cert, (m = new Map()));
  const id = `${scheme.kind}/${scheme.hash}`;
  let p = m.get(id);
  if (!p) {
    const params = keyParams(cert, scheme);
    p = params
      ? crypto.subtle
          .importKey('spki', cert.spki as Uint8Array<ArrayBuffer>, params, false, ['verify'])
          .catch(() => null)
      : Promise.resolve(null);
    m.set(id, p);
  }
  return p;
}

/**
 * Verifies an X.509-style signature (DER-encoded for ECDSA) made by `issuer`'s
 * key over `data`. Returns false on any mismatch or unsupported algorithm; never throws.
 */
export async function verifyX509Signature(
  data: Uint8Array,
  algorithm: string,
  params: Uint8Array | undefined,
  signature: Uint8Array,
  issuer: Certificate,
): Promise<boolean> {
  const scheme = signatureSchemeOf(algorithm, params);
  if (!scheme) return false;
  const key = await certificateKey(issuer, scheme);
  if (!key) return false;
  try {
    if (scheme.kind === 'ecdsa') {
      const size = CURVES[issuer.keyCurve ?? '']?.size;
      if (!size) return false;
      const raw = ecdsaDerToRaw(signature, size);
      if (!raw) return false;
      return await crypto.subtle.verify(
        { name: 'ECDSA', hash: scheme.hash },
        key,
        raw as Uint8Array<ArrayBuffer>,
        data as Uint8Array<ArrayBuffer>,
      );
    }
    const alg = scheme.kind === 'rsa-pss' ? { name: 'RSA-PSS', saltLength: scheme.saltLength } : { name: 'RSASSA-PKCS1-v1_5' };
    return await crypto.subtle.verify(alg, key, signature as Uint8Array<ArrayBuffer>, data as Uint8Array<ArrayBuffer>);
  } catch {
    return false;
  }
}

/**
 * Verifies that `issuer`'s key signed `cert` (its tbsCertificate, with the
 * algorithm the certificate names). Checks neither names nor CA flags; see
 * `verifyIssuedBy` in `chain.ts` for that. False on any failure; never throws.
 */
export function verifyCertificateSignature(cert: Certificate, issuer: Certificate): Promise<boolean> {
  return verifyX509Signature(cert.tbs, cert.signatureAlgorithm, cert.signatureParams, cert.signature, issuer);
}

/**
 * Verifies a raw `r‖s` ECDSA signature (as in SEV-SNP reports, SPDM and
 * XML-DSig) over `data` with `cert`'s EC public key, on the certificate's own
 * curve. False on any failure (not an EC key, wrong length, bad signature);
 * never throws. Callers that need a specific curve check {@link ecCurveOf}.
 */
export async function verifyEcdsaRaw(cert: Certificate, hash: Hash, signature: Uint8Array, data: Uint8Array): Promise<boolean> {
  const key = await certificateKey(cert, { kind: 'ecdsa', hash });
  if (!key) return false;
  try {
    return await crypto.subtle.verify(
      { name: 'ECDSA', hash },
      key,
      signature as Uint8Array<ArrayBuffer>,
      data as Uint8Array<ArrayBuffer>,
    );
  } catch {
    return false;
  }
}

/**
 * Imports a raw P-256 public key (64 bytes X‖Y, or 65 with a 0x04 prefix) for
 * ECDSA/SHA-256 verification. Returns null if it is not a valid point.
 */
export async function importP256RawKey(xy: Uint8Array): Promise<CryptoKey | null> {
  let point: Uint8Array;
  if (xy.length === 64) {
    point = new Uint8Array(65);
    point[0] = 4;
    point.set(xy, 1);
  } else if (xy.length === 65 && xy[0] === 4) {
    point = xy;
  } else {
    return null;
  }
  try {
    return await crypto.subtle.importKey('raw', point as Uint8Array<ArrayBuffer>, { name: 'ECDSA', namedCurve: 'P-256' }, false, [
      'verify',
    ]);
  } catch {
    return null;
  }
}

/** Verifies a raw `r‖s` (64 bytes) ECDSA P-256/SHA-256 signature; false on any failure, never throws. */
export async function verifyP256Raw(key: CryptoKey, signature: Uint8Array, data: Uint8Array): Promise<boolean> {
  if (signature.length !== 64) return false;
  try {
    return await crypto.subtle.verify(
      { name: 'ECDSA', hash: 'SHA-256' },
      key,
      signature as Uint8Array<ArrayBuffer>,
      data as Uint8Array<ArrayBuffer>,
    );
  } catch {
    return false;
  }
}
