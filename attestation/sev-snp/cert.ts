import { AsnParser } from '@peculiar/asn1-schema';
import { Certificate, type Name } from '@peculiar/asn1-x509';
import { CollateralInvalidError } from '../errors.ts';
import { fromBase64, toBase64 } from '../util/bytes.ts';
import { bytesOf, childrenOf, contentOf, readTlv } from './der.ts';

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
}

const parsed = new Map<string, SnpCert>();
const MAX_CACHE = 256;

function remember<V>(map: Map<string, V>, key: string, value: V): V {
  if (map.size >= MAX_CACHE) map.delete(map.keys().next().value as string);
  map.set(key, value);
  return value;
}

function commonName(name: Name): string | undefined {
  for (const rdn of name) {
    for (const atv of rdn) if (atv.type === '2.5.4.3') return atv.value.toString();
  }
  return undefined;
}

/**
 * Parses an X.509 certificate for SNP chain checks. Accepts serial number 0
 * (every AMD VCEK has it, against RFC 5280). Throws `CollateralInvalidError`.
 */
export function parseSnpCert(input: Uint8Array): SnpCert {
  const id = toBase64(input);
  const hit = parsed.get(id);
  if (hit) return hit;
  // A private copy: cached slices must not change if the caller reuses its buffer.
  const der = input.slice();
  try {
    const top = readTlv(der, 0);
    if (top.tag !== 0x30 || top.end !== der.length) throw new RangeError('not a single DER SEQUENCE');
    const [tbsT, algT, sigT, ...rest] = childrenOf(der, top);
    if (!tbsT || !algT || !sigT || rest.length || tbsT.tag !== 0x30 || algT.tag !== 0x30 || sigT.tag !== 0x03) {
      throw new RangeError('bad Certificate structure');
    }
    const tbsKids = childrenOf(der, tbsT);
    let i = tbsKids[0]?.tag === 0xa0 ? 1 : 0;
    const serialT = tbsKids[i++];
    const tbsAlgT = tbsKids[i++];
    const issuerT = tbsKids[i++];
    i++; // validity
    const subjectT = tbsKids[i++];
    const spkiT = tbsKids[i++];
    if (!serialT || !tbsAlgT || !issuerT || !subjectT || !spkiT || serialT.tag !== 0x02) {
      throw new RangeError('bad tbsCertificate structure');
    }
    const sigBits = contentOf(der, sigT);
    if (sigBits.length < 2 || sigBits[0] !== 0) throw new RangeError('bad signature BIT STRING');

    const asn = AsnParser.parse(der, Certificate);
    const tbs = asn.tbsCertificate;
    const extensions = new Map<string, Uint8Array>();
    for (const e of tbs.extensions ?? []) {
      if (extensions.has(e.extnID)) throw new RangeError(`duplicate extension ${e.extnID}`);
      extensions.set(e.extnID, new Uint8Array(e.extnValue.buffer.slice(0)));
    }
    const notBefore = Math.floor(tbs.validity.notBefore.getTime().getTime() / 1000);
    const notAfter = Math.floor(tbs.validity.notAfter.getTime().getTime() / 1000);
    if (!Number.isFinite(notBefore) || !Number.isFinite(notAfter)) throw new RangeError('bad validity');
    const cert: SnpCert = {
      der,
      id,
      tbs: bytesOf(der, tbsT),
      sigAlg: bytesOf(der, algT),
      tbsSigAlg: bytesOf(der, tbsAlgT),
      signature: sigBits.subarray(1),
      serial: contentOf(der, serialT),
      issuer: bytesOf(der, issuerT),
      subject: bytesOf(der, subjectT),
      issuerCn: commonName(tbs.issuer),
      subjectCn: commonName(tbs.subject),
      spki: bytesOf(der, spkiT),
      notBefore,
      notAfter,
      extensions,
    };
    return remember(parsed, id, Object.freeze(cert));
  } catch (e) {
    throw new CollateralInvalidError(`SEV-SNP certificate does not parse: ${(e as Error).message}`, { cause: e });
  }
}

/** Reads a DER INTEGER (0..2^31) extension value such as blSPL. */
export function extInteger(cert: SnpCert, oid: string): number | undefined {
  const v = cert.extensions.get(oid);
  if (!v) return undefined;
  const t = readTlv(v, 0);
  if (t.tag !== 0x02 || t.end !== v.length) throw new RangeError(`extension ${oid} is not an INTEGER`);
  const c = contentOf(v, t);
  if (c.length === 0 || c.length > 4 || (c[0]! & 0x80) !== 0) throw new RangeError(`extension ${oid} out of range`);
  let n = 0;
  for (const x of c) n = n * 256 + x;
  return n;
}

/** Reads an IA5String extension value (productName), e.g. `Milan-B0`. */
export function extString(cert: SnpCert, oid: string): string | undefined {
  const v = cert.extensions.get(oid);
  if (!v) return undefined;
  const t = readTlv(v, 0);
  if ((t.tag !== 0x16 && t.tag !== 0x0c && t.tag !== 0x13) || t.end !== v.length) {
    throw new RangeError(`extension ${oid} is not a string`);
  }
  return new TextDecoder().decode(contentOf(v, t));
}

/** Reads hwID: raw octets in the extension value (64 bytes, or 8 on Turin); tolerates an inner OCTET STRING. */
export function extHwId(cert: SnpCert): Uint8Array | undefined {
  const v = cert.extensions.get(AMD_OID.hwId);
  if (!v) return undefined;
  if (v.length === 64 || v.length === 8) return v;
  const t = readTlv(v, 0);
  if (t.tag === 0x04 && t.end === v.length) return contentOf(v, t);
  return v;
}

/** Splits PEM text into DER certificates (ignores anything outside BEGIN/END CERTIFICATE). */
export function pemCertificates(pem: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  const re = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g;
  for (let m = re.exec(pem); m; m = re.exec(pem)) {
    try {
      out.push(fromBase64(m[1]!));
    } catch (e) {
      throw new CollateralInvalidError('PEM certificate is not base64', { cause: e });
    }
  }
  return out;
}
