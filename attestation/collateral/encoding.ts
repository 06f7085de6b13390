/**
 * Small decoding helpers for PCS answers: PEM certificate chains, CRL bodies
 * (DER, PEM or hex) and the two validity times of a CRL. Pure TypeScript.
 *
 * Errors are plain `EncodingError`s; the parsers turn them into typed
 * attestation errors with the context they know.
 */
import { fromBase64, fromHex } from '../util/bytes.ts';

export class EncodingError extends Error {}

interface Tlv {
  tag: number;
  /** Offset of the content. */
  start: number;
  /** Offset just after the content. */
  end: number;
}

/** Reads one DER TLV at `off` (definite lengths only, at most 4 length bytes). */
export function readTlv(der: Uint8Array, off: number, limit = der.length): Tlv {
  if (off + 2 > limit) throw new EncodingError('DER truncated');
  const tag = der[off]!;
  if ((tag & 0x1f) === 0x1f) throw new EncodingError('DER multi-byte tags are not supported');
  let len = der[off + 1]!;
  let p = off + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new EncodingError('DER length form not supported');
    if (p + n > limit) throw new EncodingError('DER truncated');
    len = 0;
    for (let k = 0; k < n; k++) len = len * 256 + der[p + k]!;
    p += n;
  }
  if (p + len > limit) throw new EncodingError('DER truncated');
  return { tag, start: p, end: p + len };
}

/** True when `der` is exactly one DER SEQUENCE with no trailing bytes. */
export function isSingleDerSequence(der: Uint8Array): boolean {
  try {
    const t = readTlv(der, 0);
    return t.tag === 0x30 && t.end === der.length;
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

const ASCII = new TextDecoder('latin1');

/** Parses an ASN.1 UTCTime (0x17) or GeneralizedTime (0x18) with `Z`, to unix seconds. */
function parseTime(tag: number, content: Uint8Array): number {
  const s = ASCII.decode(content);
  let m: RegExpExecArray | null;
  let year: number;
  if (tag === 0x17 && (m = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s))) {
    const yy = Number(m[1]);
    year = yy < 50 ? 2000 + yy : 1900 + yy;
  } else if (tag === 0x18 && (m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s))) {
    year = Number(m[1]);
  } else {
    throw new EncodingError('unsupported time encoding');
  }
  const [mo, d, h, mi, se] = [m[2], m[3], m[4], m[5], m[6]].map(Number) as [number, number, number, number, number];
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 59) throw new EncodingError('invalid time');
  return Date.UTC(year, mo - 1, d, h, mi, se) / 1000;
}

/**
 * Reads `thisUpdate` and `nextUpdate` of a DER CRL (RFC 5280 TBSCertList),
 * unix seconds. A CRL without `nextUpdate` is rejected: it could never expire.
 */
export function crlTimes(der: Uint8Array): { thisUpdate: number; nextUpdate: number } {
  const outer = readTlv(der, 0);
  if (outer.tag !== 0x30 || outer.end !== der.length) throw new EncodingError('CRL is not one DER SEQUENCE');
  const tbs = readTlv(der, outer.start, outer.end);
  if (tbs.tag !== 0x30) throw new EncodingError('CRL TBSCertList is not a SEQUENCE');
  let p = tbs.start;
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
  const thisUpdate = parseTime(t.tag, der.subarray(t.start, t.end));
  if (t.end >= tbs.end) throw new EncodingError('CRL nextUpdate missing');
  t = readTlv(der, t.end, tbs.end);
  if (t.tag !== 0x17 && t.tag !== 0x18) throw new EncodingError('CRL nextUpdate missing');
  const nextUpdate = parseTime(t.tag, der.subarray(t.start, t.end));
  return { thisUpdate, nextUpdate };
}

const OID_CN = [0x55, 0x04, 0x03];

/**
 * The issuer commonName of a DER CRL (first CN attribute in the issuer Name),
 * or `undefined` when it has none. Used to check a CRL came from the expected CA.
 */
export function crlIssuerCommonName(der: Uint8Array): string | undefined {
  const outer = readTlv(der, 0);
  const tbs = readTlv(der, outer.start, outer.end);
  let t = readTlv(der, tbs.start, tbs.end);
  if (t.tag === 0x02) t = readTlv(der, t.end, tbs.end);
  const issuer = readTlv(der, t.end, tbs.end);
  if (issuer.tag !== 0x30) throw new EncodingError('CRL issuer missing');
  for (let p = issuer.start; p < issuer.end; ) {
    const rdn = readTlv(der, p, issuer.end);
    if (rdn.tag !== 0x31) throw new EncodingError('bad RDN');
    for (let q = rdn.start; q < rdn.end; ) {
      const atv = readTlv(der, q, rdn.end);
      const oid = readTlv(der, atv.start, atv.end);
      const val = readTlv(der, oid.end, atv.end);
      const o = der.subarray(oid.start, oid.end);
      if (oid.tag === 0x06 && o.length === 3 && o.every((b, i) => b === OID_CN[i])) {
        return new TextDecoder().decode(der.subarray(val.start, val.end));
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
