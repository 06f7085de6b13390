/**
 * AMD KDS certificates (ARK, ASK/ASVK, VCEK/VLEK) on top of the shared X.509
 * code in `../x509/`: the SEV-SNP view of a parsed certificate, AMD's
 * extensions, and PEM splitting, with SEV-SNP error codes.
 */
import { CollateralInvalidError } from '../errors.ts';
import { toBase64 } from '../util/bytes.ts';
import { children, expectTag, parseCertificate, pemToDerList, readTlv, readWhole, TAG, type Certificate } from '../x509/index.ts';

/** AMD KDS certificate extensions (OID arc 1.3.6.1.4.1.3704.1). */
export const AMD_OID = {
  structVersion: '1.3.6.1.4.1.3704.1.1',
  productName: '1.3.6.1.4.1.3704.1.2',
  blSpl: '1.3.6.1.4.1.3704.1.3.1',
  teeSpl: '1.3.6.1.4.1.3704.1.3.2',
  snpSpl: '1.3.6.1.4.1.3704.1.3.3',
  ucodeSpl: '1.3.6.1.4.1.3704.1.3.8',
  fmcSpl: '1.3.6.1.4.1.3704.1.3.9',
  hwId: '1.3.6.1.4.1.3704.1.4',
  cspId: '1.3.6.1.4.1.3704.1.5',
} as const;

/** A certificate, parsed once, with the raw slices signature checks need. */
export interface SnpCert {
  der: Uint8Array;
  /** Cache key: base64 of the DER. */
  id: string;
  /** Exact tbsCertificate bytes (what the issuer signed). */
  tbs: Uint8Array;
  /** Raw outer signatureAlgorithm TLV, and the one inside tbsCertificate. */
  sigAlg: Uint8Array;
  tbsSigAlg: Uint8Array;
  /** Signature value (BIT STRING content without the unused-bits byte). */
  signature: Uint8Array;
  serial: Uint8Array;
  issuer: Uint8Array;
  subject: Uint8Array;
  issuerCn: string | undefined;
  subjectCn: string | undefined;
  /** SubjectPublicKeyInfo DER. */
  spki: Uint8Array;
  /** Unix seconds. */
  notBefore: number;
  notAfter: number;
  /** extnID -> extnValue (the OCTET STRING content). */
  extensions: Map<string, Uint8Array>;
  /** The same certificate as parsed by `../x509/`, for the shared chain and signature checks. */
  cert: Certificate;
}

const parsed = new Map<string, SnpCert>();
const MAX_CACHE = 256;

/** Drops every parsed certificate (and with them the public keys `../x509/` cached on them). */
export function clearSnpCertCache(): void {
  parsed.clear();
}

/**
 * Parses an X.509 certificate for SNP chain checks. Accepts serial number 0
 * (every AMD VCEK has it, against RFC 5280). Throws `CollateralInvalidError`.
 */
export function parseSnpCert(input: Uint8Array): SnpCert {
  const id = toBase64(input);
  const hit = parsed.get(id);
  if (hit) return hit;
  try {
    // parseCertificate keeps a private copy: cached slices do not change if the caller reuses its buffer.
    const cert = parseCertificate(input);
    if (cert.signature.length === 0) throw new RangeError('bad signature BIT STRING');
    const tbsFields = children(readWhole(cert.tbs, TAG.SEQUENCE));
    const serial = expectTag(tbsFields[tbsFields[0]?.tag === 0xa0 ? 1 : 0], TAG.INTEGER, 'serialNumber');
    const snp: SnpCert = {
      der: cert.der,
      id,
      tbs: cert.tbs,
      sigAlg: cert.signatureAlgorithmDer,
      tbsSigAlg: cert.tbsSignatureAlgorithmDer,
      signature: cert.signature,
      serial: serial.value,
      issuer: cert.issuerDer,
      subject: cert.subjectDer,
      issuerCn: cert.issuerCommonName,
      subjectCn: cert.subjectCommonName,
      spki: cert.spki,
      notBefore: cert.notBefore,
      notAfter: cert.notAfter,
      extensions: new Map([...cert.extensions].map(([oid, e]) => [oid, e.value])),
      cert,
    };
    if (parsed.size >= MAX_CACHE) parsed.delete(parsed.keys().next().value as string);
    parsed.set(id, Object.freeze(snp));
    return snp;
  } catch (e) {
    throw new CollateralInvalidError(`SEV-SNP certificate does not parse: ${(e as Error).message}`, { cause: e });
  }
}

/** Reads a DER INTEGER (0..2^31) extension value such as blSPL. */
export function extInteger(cert: SnpCert, oid: string): number | undefined {
  const v = cert.extensions.get(oid);
  if (!v) return undefined;
  const c = readWhole(v, TAG.INTEGER).value;
  if (c.length === 0 || c.length > 4 || (c[0]! & 0x80) !== 0) throw new RangeError(`extension ${oid} out of range`);
  let n = 0;
  for (const x of c) n = n * 256 + x;
  return n;
}

/** Reads an IA5String extension value (productName), e.g. `Milan-B0`. */
export function extString(cert: SnpCert, oid: string): string | undefined {
  const v = cert.extensions.get(oid);
  if (!v) return undefined;
  const t = readWhole(v);
  if (t.tag !== 0x16 && t.tag !== TAG.UTF8_STRING && t.tag !== 0x13) throw new RangeError(`extension ${oid} is not a string`);
  return new TextDecoder().decode(t.value);
}

/** Reads hwID: raw octets in the extension value (64 bytes, or 8 on Turin); tolerates an inner OCTET STRING. */
export function extHwId(cert: SnpCert): Uint8Array | undefined {
  const v = cert.extensions.get(AMD_OID.hwId);
  if (!v) return undefined;
  if (v.length === 64 || v.length === 8) return v;
  const t = readTlv(v, 0);
  if (t.tag === TAG.OCTET_STRING && t.end === v.length) return t.value;
  return v;
}

/**
 * Splits PEM text into DER certificates (ignores anything outside BEGIN/END
 * CERTIFICATE). Throws `CollateralInvalidError` when there is none or a block
 * is not base64; `what` prefixes the message.
 */
export function pemCertificates(pem: string, what = 'SEV-SNP certificate PEM'): Uint8Array[] {
  try {
    return pemToDerList(pem);
  } catch (e) {
    throw new CollateralInvalidError(`${what}: ${(e as Error).message}`, { cause: e });
  }
}
