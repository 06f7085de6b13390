/**
 * X.509 certificate and CRL parsing into small, immutable records that keep
 * the exact signed bytes. Structure comes from `@peculiar/asn1-x509`; the raw
 * `tbs` slices come from a DER walk so signatures are checked over the bytes
 * as received, never re-encoded.
 */
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  BasicConstraints,
  Certificate as AsnCertificate,
  CertificateList as AsnCertificateList,
  KeyUsage,
  Name as AsnName,
  id_ce_basicConstraints,
  id_ce_keyUsage,
} from '@peculiar/asn1-x509';
import { toHex } from '../util/bytes.ts';
import { DerError, TAG, children, decodeOid, decodeTime, expectTag, integerMagnitude, readWhole } from './der.ts';
import { X509ParseError } from './errors.ts';

/** One certificate extension: critical flag and the DER inside extnValue. */
export interface X509Extension {
  critical: boolean;
  value: Uint8Array;
}

/** A parsed X.509 certificate. Times are unix seconds. */
export interface Certificate {
  /** The full DER encoding. */
  readonly der: Uint8Array;
  /** The exact `tbsCertificate` bytes the issuer signed. */
  readonly tbs: Uint8Array;
  /** Signature algorithm OID (outer `signatureAlgorithm`). */
  readonly signatureAlgorithm: string;
  /** DER of the algorithm parameters, if any (RSA-PSS). */
  readonly signatureParams?: Uint8Array;
  /** The whole outer `signatureAlgorithm` AlgorithmIdentifier, as received. */
  readonly signatureAlgorithmDer: Uint8Array;
  /** The `signature` AlgorithmIdentifier inside tbsCertificate, as received (RFC 5280 wants it equal to the outer one). */
  readonly tbsSignatureAlgorithmDer: Uint8Array;
  /** Signature BIT STRING content (without the unused-bits octet). */
  readonly signature: Uint8Array;
  /** Serial number, unsigned big-endian lowercase hex without leading zero bytes. */
  readonly serialNumber: string;
  /** DER of the issuer Name (compared byte-for-byte when chaining). */
  readonly issuerDer: Uint8Array;
  /** DER of the subject Name. */
  readonly subjectDer: Uint8Array;
  /** RFC 4514-like display strings. */
  readonly issuer: string;
  readonly subject: string;
  /** The subject's (first) commonName, if any. */
  readonly subjectCommonName?: string;
  /** The issuer's (first) commonName, if any. */
  readonly issuerCommonName?: string;
  readonly notBefore: number;
  readonly notAfter: number;
  /** DER of SubjectPublicKeyInfo. */
  readonly spki: Uint8Array;
  /** Public key algorithm OID, and the named curve OID for EC keys. */
  readonly keyAlgorithm: string;
  readonly keyCurve?: string;
  /** SubjectPublicKey BIT STRING content (an uncompressed EC point for EC keys). */
  readonly publicKey: Uint8Array;
  /** basicConstraints cA (false when the extension is absent). */
  readonly isCa: boolean;
  readonly pathLenConstraint?: number;
  /** keyUsage names (e.g. `keyCertSign`, `crlSign`), undefined when absent. */
  readonly keyUsage?: readonly string[];
  /** Extensions by OID. */
  readonly extensions: ReadonlyMap<string, X509Extension>;
}

/** A parsed CRL. Times are unix seconds. */
export interface Crl {
  readonly der: Uint8Array;
  readonly tbs: Uint8Array;
  readonly signatureAlgorithm: string;
  readonly signatureParams?: Uint8Array;
  readonly signature: Uint8Array;
  readonly issuerDer: Uint8Array;
  readonly issuer: string;
  readonly thisUpdate: number;
  /** Absent when the CRL has no nextUpdate (treated as already stale by `checkCrlTime`). */
  readonly nextUpdate?: number;
  /** Revoked serial numbers, in `Certificate.serialNumber` form. */
  readonly revokedSerials: ReadonlySet<string>;
}

const NAME_KEYS: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.5': 'serialNumber',
};

function attributeOf(name: AsnName, oid: string): string | undefined {
  for (const rdn of name) for (const atv of rdn) if (atv.type === oid) return atv.value.toString();
  return undefined;
}

function commonName(name: AsnName): string | undefined {
  return attributeOf(name, '2.5.4.3');
}

/**
 * The string value of the first attribute `oid` in a DER Name (e.g. a
 * certificate's `subjectDer`), or undefined. Throws if `nameDer` is not a
 * DER Name.
 *
 * @example
 * const serial = nameAttribute(cert.subjectDer, '2.5.4.5'); // subject serialNumber
 */
export function nameAttribute(nameDer: Uint8Array, oid: string): string | undefined {
  return attributeOf(AsnConvert.parse(nameDer, AsnName), oid);
}

/**
 * The DER inside an extension's extnValue OCTET STRING, or undefined when the
 * certificate does not carry extension `oid`. Vendor extensions (AMD TCB,
 * TCG DICE, Intel SGX) are decoded by their callers with the `der.ts` reader.
 */
export function extensionValue(cert: Certificate, oid: string): Uint8Array | undefined {
  return cert.extensions.get(oid)?.value;
}

function nameToString(name: AsnName): string {
  const rdns: string[] = [];
  for (const rdn of name) {
    rdns.push(
      Array.from(rdn)
        .map((atv) => `${NAME_KEYS[atv.type] ?? atv.type}=${atv.value.toString()}`)
        .join('+'),
    );
  }
  return rdns.join(', ');
}

interface SignedParts {
  tbs: Uint8Array;
  tbsFields: ReturnType<typeof children>;
  signatureAlgorithm: string;
  signatureAlgorithmDer: Uint8Array;
  signatureParams?: Uint8Array;
  signature: Uint8Array;
}

function splitSigned(der: Uint8Array): SignedParts {
  const outer = readWhole(der, TAG.SEQUENCE);
  const parts = children(outer);
  if (parts.length !== 3) throw new DerError('signed object must have 3 parts');
  const tbs = expectTag(parts[0], TAG.SEQUENCE, 'tbs');
  const alg = children(expectTag(parts[1], TAG.SEQUENCE, 'signatureAlgorithm'));
  const oid = decodeOid(expectTag(alg[0], TAG.OID, 'algorithm').value);
  const params = alg[1] && alg[1].tag !== TAG.NULL ? new Uint8Array(alg[1].raw) : undefined;
  const bits = expectTag(parts[2], TAG.BIT_STRING, 'signature');
  if (bits.value.length < 1 || bits.value[0] !== 0) throw new DerError('signature BIT STRING has unused bits');
  return {
    tbs: new Uint8Array(tbs.raw),
    tbsFields: children(tbs),
    signatureAlgorithm: oid,
    signatureAlgorithmDer: new Uint8Array(parts[1]!.raw),
    ...(params ? { signatureParams: params } : {}),
    signature: new Uint8Array(bits.value.subarray(1)),
  };
}

/**
 * Parses one DER certificate. Accepts non-positive serial numbers (AMD VCEKs
 * use 0). Throws `X509ParseError` (code `CERT_CHAIN_INVALID`) on bad input.
 */
export function parseCertificate(der: Uint8Array): Certificate {
  try {
    const own = new Uint8Array(der);
    const signed = splitSigned(own);
    const asn = AsnConvert.parse(own, AsnCertificate);
    const tbs = asn.tbsCertificate;
    // TBS fields by position: [0] version? serial, sigAlg, issuer, validity, subject, spki, ...
    const f = signed.tbsFields;
    const base = f[0]?.tag === 0xa0 ? 1 : 0;
    const serial = expectTag(f[base], TAG.INTEGER, 'serialNumber');
    const tbsAlg = expectTag(f[base + 1], TAG.SEQUENCE, 'signature');
    const issuer = expectTag(f[base + 2], TAG.SEQUENCE, 'issuer');
    const validity = children(expectTag(f[base + 3], TAG.SEQUENCE, 'validity'));
    const subject = expectTag(f[base + 4], TAG.SEQUENCE, 'subject');
    const spki = expectTag(f[base + 5], TAG.SEQUENCE, 'subjectPublicKeyInfo');
    const spkiParts = children(spki);
    const keyAlg = children(expectTag(spkiParts[0], TAG.SEQUENCE, 'spki algorithm'));
    const keyAlgorithm = decodeOid(expectTag(keyAlg[0], TAG.OID, 'key algorithm').value);
    const keyCurve = keyAlg[1]?.tag === TAG.OID ? decodeOid(keyAlg[1].value) : undefined;
    const keyBits = expectTag(spkiParts[1], TAG.BIT_STRING, 'subjectPublicKey');
    if (keyBits.value.length < 1 || keyBits.value[0] !== 0) throw new DerError('public key has unused bits');

    const extensions = new Map<string, X509Extension>();
    let isCa = false;
    let pathLenConstraint: number | undefined;
    let keyUsage: string[] | undefined;
    for (const ext of tbs.extensions ?? []) {
      if (extensions.has(ext.extnID)) throw new DerError(`duplicate extension ${ext.extnID}`);
      const value = new Uint8Array(ext.extnValue.buffer);
      extensions.set(ext.extnID, { critical: ext.critical, value });
      if (ext.extnID === id_ce_basicConstraints) {
        const bc = AsnConvert.parse(value, BasicConstraints);
        isCa = bc.cA;
        pathLenConstraint = bc.pathLenConstraint;
      } else if (ext.extnID === id_ce_keyUsage) {
        keyUsage = AsnConvert.parse(value, KeyUsage).toJSON();
      }
    }
    return {
      der: own,
      tbs: signed.tbs,
      signatureAlgorithm: signed.signatureAlgorithm,
      ...(signed.signatureParams ? { signatureParams: signed.signatureParams } : {}),
      signatureAlgorithmDer: signed.signatureAlgorithmDer,
      tbsSignatureAlgorithmDer: new Uint8Array(tbsAlg.raw),
      signature: signed.signature,
      serialNumber: toHex(integerMagnitude(serial.value)),
      issuerDer: new Uint8Array(issuer.raw),
      subjectDer: new Uint8Array(subject.raw),
      issuer: nameToString(tbs.issuer),
      subject: nameToString(tbs.subject),
      ...(commonName(tbs.subject) !== undefined ? { subjectCommonName: commonName(tbs.subject)! } : {}),
      ...(commonName(tbs.issuer) !== undefined ? { issuerCommonName: commonName(tbs.issuer)! } : {}),
      notBefore: decodeTime(validity[0]!),
      notAfter: decodeTime(validity[1]!),
      spki: new Uint8Array(spki.raw),
      keyAlgorithm,
      ...(keyCurve ? { keyCurve } : {}),
      publicKey: new Uint8Array(keyBits.value.subarray(1)),
      isCa,
      ...(pathLenConstraint !== undefined ? { pathLenConstraint } : {}),
      ...(keyUsage ? { keyUsage } : {}),
      extensions,
    };
  } catch (e) {
    if (e instanceof X509ParseError) throw e;
    throw new X509ParseError(`certificate does not parse: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * Parses a DER CRL (RFC 5280 CertificateList). Throws `X509ParseError` on bad input.
 */
export function parseCrl(der: Uint8Array): Crl {
  try {
    const own = new Uint8Array(der);
    const signed = splitSigned(own);
    const asn = AsnConvert.parse(own, AsnCertificateList);
    const tbs = asn.tbsCertList;
    const f = signed.tbsFields;
    const base = f[0]?.tag === TAG.INTEGER ? 1 : 0;
    const issuer = expectTag(f[base + 1], TAG.SEQUENCE, 'issuer');
    const thisUpdate = decodeTime(f[base + 2]!);
    const nu = f[base + 3];
    const nextUpdate = nu && (nu.tag === TAG.UTC_TIME || nu.tag === TAG.GENERALIZED_TIME) ? decodeTime(nu) : undefined;
    const revokedSerials = new Set<string>();
    for (const r of tbs.revokedCertificates ?? []) {
      revokedSerials.add(toHex(integerMagnitude(new Uint8Array(r.userCertificate))));
    }
    for (const ext of tbs.crlExtensions ?? []) {
      // Delta CRLs, issuing-distribution-point scoping etc. are not supported: fail closed on critical ones.
      if (ext.critical) throw new DerError(`unsupported critical CRL extension ${ext.extnID}`);
    }
    return {
      der: own,
      tbs: signed.tbs,
      signatureAlgorithm: signed.signatureAlgorithm,
      ...(signed.signatureParams ? { signatureParams: signed.signatureParams } : {}),
      signature: signed.signature,
      issuerDer: new Uint8Array(issuer.raw),
      issuer: nameToString(tbs.issuer),
      thisUpdate,
      ...(nextUpdate !== undefined ? { nextUpdate } : {}),
      revokedSerials,
    };
  } catch (e) {
    if (e instanceof X509ParseError) throw e;
    throw new X509ParseError(`CRL does not parse: ${(e as Error).message}`, { cause: e });
  }
}
