/**
 * Small decoding helpers for PCS answers: PEM certificate chains, CRL bodies
 * (DER, PEM or hex) and the two validity times of a CRL. Pure TypeScript.
 *
 * Errors are plain `EncodingError`s; the parsers turn them into typed
 * attestation errors with the context they know.
 */
import { fromBase64, fromHex } from '../util/bytes.ts';
import { DerError, decodeTime, readTlv as readDer, readWhole, TAG, type Tlv } from '../x509/der.ts';

export class EncodingError extends Error {}

/** Reads one DER TLV at `off` with the shared reader (`../x509/der.ts`); malformed DER is an `EncodingError`. */
function readTlv(der: Uint8Array, off: number, limit = der.length): Tlv {
  try {
    return readDer(der, off, limit);
  } catch (e) {
    if (e instanceof DerError) throw new EncodingError(e.message);
    throw e;
  }
}

/** True when `der` is exactly one DER SEQUENCE with no trailing bytes. */
export function isSingleDerSequence(der: Uint8Array): boolean {
  try {
    readWhole(der, TAG.SEQUENCE);
    return true;
  } catch {
    return false;
  }
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([A-Za-z0-9+/=\s]*?)-----END \1-----/g;

/**
 * Decodes every PEM block labelled `label` in `text`, in order. Anything other
 * than whitespace between or around blocks is rejected, as is an empty chain.
 *
 * @example
 * const ders = pemBlocks(decodeURIComponent(header), 'CERTIFICATE');
 */
export function pemBlocks(text: string, label: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  let last = 0;
  for (const m of text.matchAll(PEM_BLOCK)) {
    if (text.slice(last, m.index).trim() !== '') throw new EncodingError('unexpected text between PEM blocks');
    if (m[1] !== label) throw new EncodingError(`unexpected PEM block ${m[1]}`);
    let der: Uint8Array;
    try {
      der = fromBase64(m[2]!);
    } catch {
      throw new EncodingError('invalid base64 in PEM block');
    }
    if (!isSingleDerSequence(der)) throw new EncodingError('PEM block is not a DER SEQUENCE');
    out.push(der);
    last = m.index + m[0].length;
  }
  if (text.slice(last).trim() !== '') throw new EncodingError('unexpected text after PEM blocks');
  if (out.length === 0) throw new EncodingError(`no ${label} PEM block`);
  return out;
}

/**
 * Accepts a CRL as served by PCS (DER, or PEM when `encoding=der` is ignored)
 * or by a PCCS (`rootcacrl` answers hex text). Returns the DER.
 */
export function crlBodyToDer(body: Uint8Array): Uint8Array {
  if (isSingleDerSequence(body)) return body;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body).trim();
  } catch {
    throw new EncodingError('CRL body is neither DER nor text');
  }
  if (text.startsWith('-----BEGIN')) {
    const blocks = pemBlocks(text, 'X509 CRL');
    if (blocks.length !== 1) throw new EncodingError('expected exactly one PEM CRL');
    return blocks[0]!;
  }
  if (/^[0-9a-fA-F]+$/.test(text)) {
    const der = fromHex(text);
    if (isSingleDerSequence(der)) return der;
  }
  throw new EncodingError('CRL body is neither DER, PEM nor hex DER');
}

/** UTCTime / GeneralizedTime (Zulu) to unix seconds with the shared decoder, refusing a seconds field of 60. */
function parseTime(t: Tlv): number {
  let v: number;
  try {
    v = decodeTime(t);
  } catch (e) {
    if (e instanceof DerError) throw new EncodingError(e.message);
    throw e;
  }
  if (/60Z$/.test(String.fromCharCode(...t.value))) throw new EncodingError('invalid time');
  return v;
}

/**
 * Reads `thisUpdate` and `nextUpdate` of a DER CRL (RFC 5280 TBSCertList),
 * unix seconds. A CRL without `nextUpdate` is rejected: it could never expire.
 */
export function crlTimes(der: Uint8Array): { thisUpdate: number; nextUpdate: number } {
  const outer = readTlv(der, 0);
  if (outer.tag !== 0x30 || outer.end !== der.length) throw new EncodingError('CRL is not one DER SEQUENCE');
  const tbs = readTlv(der, outer.valueStart, outer.end);
  if (tbs.tag !== 0x30) throw new EncodingError('CRL TBSCertList is not a SEQUENCE');
  let p = tbs.valueStart;
  let t = readTlv(der, p, tbs.end);
  if (t.tag === 0x02) {
    p = t.end; // version
    t = readTlv(der, p, tbs.end);
  }
  if (t.tag !== 0x30) throw new EncodingError('CRL signature algorithm missing');
  t = readTlv(der, t.end, tbs.end); // issuer
  if (t.tag !== 0x30) throw new EncodingError('CRL issuer missing');
  t = readTlv(der, t.end, tbs.end);
  if (t.tag !== 0x17 && t.tag !== 0x18) throw new EncodingError('CRL thisUpdate missing');
  const thisUpdate = parseTime(t);
  if (t.end >= tbs.end) throw new EncodingError('CRL nextUpdate missing');
  t = readTlv(der, t.end, tbs.end);
  if (t.tag !== 0x17 && t.tag !== 0x18) throw new EncodingError('CRL nextUpdate missing');
  const nextUpdate = parseTime(t);
  return { thisUpdate, nextUpdate };
}

const OID_CN = [0x55, 0x04, 0x03];

/**
 * The issuer commonName of a DER CRL (first CN attribute in the issuer Name),
 * or `undefined` when it has none. Used to check a CRL came from the expected CA.
 */
export function crlIssuerCommonName(der: Uint8Array): string | undefined {
  const outer = readTlv(der, 0);
  const tbs = readTlv(der, outer.valueStart, outer.end);
  let t = readTlv(der, tbs.valueStart, tbs.end);
  if (t.tag === 0x02) t = readTlv(der, t.end, tbs.end);
  const issuer = readTlv(der, t.end, tbs.end);
  if (issuer.tag !== 0x30) throw new EncodingError('CRL issuer missing');
  for (let p = issuer.valueStart; p < issuer.end; ) {
    const rdn = readTlv(der, p, issuer.end);
    if (rdn.tag !== 0x31) throw new EncodingError('bad RDN');
    for (let q = rdn.valueStart; q < rdn.end; ) {
      const atv = readTlv(der, q, rdn.end);
      const oid = readTlv(der, atv.valueStart, atv.end);
      const val = readTlv(der, oid.end, atv.end);
      const o = oid.value;
      if (oid.tag === 0x06 && o.length === 3 && o.every((b, i) => b === OID_CN[i])) {
        return new TextDecoder().decode(val.value);
      }
      q = atv.end;
    }
    p = rdn.end;
  }
  return undefined;
}

/** Strict `YYYY-MM-DDTHH:MM:SSZ` (what PCS emits) to unix seconds. */
export function parseIsoSeconds(s: string): number {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z$/.test(s)) throw new EncodingError(`bad timestamp ${s}`);
  const ms = Date.parse(s);
  if (!Number.isFinite(ms)) throw new EncodingError(`bad timestamp ${s}`);
  return Math.floor(ms / 1000);
}
