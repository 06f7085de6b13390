/**
 * Intel DCAP quote layout (parse only, no crypto): SGX quote v3, TDX quote v4
 * and v5 (TD1.0 and TD1.5 bodies), ECDSA-256-with-P-256 attestation keys,
 * certification data type 6 (QE report certification data) wrapping type 5
 * (PCK cert chain), or type 5 directly in v3. Little-endian throughout.
 * Trailing bytes after the signature data are ignored. Every
 * read is bounds-checked: any byte string yields either a `DcapQuote` or an
 * `UnsupportedFormatError` / `MalformedEvidenceError`.
 *
 * Layout sources: Intel "TDX DCAP Quoting Library API" and "SGX ECDSA Quote
 * Library API" quote-format appendices (as summarized in SOURCES.md).
 */
import { MalformedEvidenceError, UnsupportedFormatError } from '../errors.ts';

export const HEADER_SIZE = 48;
export const SGX_REPORT_SIZE = 384;
export const TD10_REPORT_SIZE = 584;
export const TD15_REPORT_SIZE = 648;
export const TEE_TYPE_SGX = 0x00000000;
export const TEE_TYPE_TDX = 0x00000081;
export const ATT_KEY_TYPE_ECDSA_P256 = 2;
export const CERT_TYPE_PCK_CHAIN = 5;
export const CERT_TYPE_QE_REPORT = 6;
/** Intel's QE vendor id 939a7233-f79c-4ca9-940a-0db3957f0607. */
export const INTEL_QE_VENDOR_ID = new Uint8Array([
  0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9, 0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07,
]);

/** The 48-byte quote header. */
export interface QuoteHeader {
  version: number;
  attestationKeyType: number;
  /** 0 = SGX, 0x81 = TDX. */
  teeType: number;
  /** Bytes 8..10 / 10..12 (QE SVN and PCE SVN in v3; reserved in v4/v5). */
  qeSvn: number;
  pceSvn: number;
  qeVendorId: Uint8Array;
  userData: Uint8Array;
}

/** SGX enclave report body (384 bytes); also the QE report. */
export interface SgxReportBody {
  cpuSvn: Uint8Array;
  miscSelect: number;
  attributes: Uint8Array;
  mrEnclave: Uint8Array;
  mrSigner: Uint8Array;
  isvProdId: number;
  isvSvn: number;
  reportData: Uint8Array;
  /** The exact 384 bytes. */
  raw: Uint8Array;
}

/** TD report body: TD1.0 (584 bytes) or TD1.5 (648 bytes, with `teeTcbSvn2` and `mrServiceTd`). */
export interface TdReportBody {
  teeTcbSvn: Uint8Array;
  mrSeam: Uint8Array;
  mrSignerSeam: Uint8Array;
  seamAttributes: Uint8Array;
  tdAttributes: Uint8Array;
  xfam: Uint8Array;
  mrTd: Uint8Array;
  mrConfigId: Uint8Array;
  mrOwner: Uint8Array;
  mrOwnerConfig: Uint8Array;
  rtmrs: [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
  reportData: Uint8Array;
  teeTcbSvn2?: Uint8Array;
  mrServiceTd?: Uint8Array;
  raw: Uint8Array;
}

/** The quote body, tagged with its body type (v5 numbering: 1 SGX, 2 TD1.0, 3 TD1.5). */
export type QuoteBody =
  | { type: 1; tee: 'sgx'; report: SgxReportBody }
  | { type: 2 | 3; tee: 'tdx'; report: TdReportBody };

/** A parsed DCAP quote. Byte fields are copies, independent of the input buffer. */
export interface DcapQuote {
  header: QuoteHeader;
  body: QuoteBody;
  /** Bytes covered by the attestation-key signature (everything before `sig_data_len`). */
  signedData: Uint8Array;
  /** ECDSA P-256 signature, raw r‖s (64 bytes). */
  signature: Uint8Array;
  /** Attestation public key, raw X‖Y (64 bytes). */
  attestationKey: Uint8Array;
  /** The QE report (its `raw` is what the PCK key signed). */
  qeReport: SgxReportBody;
  /** PCK signature over the QE report, raw r‖s (64 bytes). */
  qeReportSignature: Uint8Array;
  qeAuthData: Uint8Array;
  /** Innermost certification data type (always 5 = PCK chain, PEM). */
  certDataType: number;
  /** The PEM PCK chain bytes as carried (leaf, intermediate CA, root). */
  pckChainPem: Uint8Array;
  /** Length of the quote's own parts; bytes after this (usually zero padding) are ignored. */
  length: number;
}

class Reader {
  private readonly view: DataView;
  constructor(
    readonly bytes: Uint8Array,
    public pos = 0,
    readonly end = bytes.length,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  need(n: number, what: string): void {
    if (n < 0 || this.pos + n > this.end) {
      throw new MalformedEvidenceError(`quote truncated: ${what} needs ${n} bytes at offset ${this.pos}, ${this.end - this.pos} left`);
    }
  }
  u16(what: string): number {
    this.need(2, what);
    const v = this.view.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }
  u32(what: string): number {
    this.need(4, what);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  bytesOf(n: number, what: string): Uint8Array {
    this.need(n, what);
    const v = this.bytes.slice(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }
}

function parseHeader(r: Reader): QuoteHeader {
  const version = r.u16('version');
  const attestationKeyType = r.u16('attestation key type');
  const teeType = r.u32('tee type');
  const qeSvn = r.u16('qe svn');
  const pceSvn = r.u16('pce svn');
  const qeVendorId = r.bytesOf(16, 'qe vendor id');
  const userData = r.bytesOf(20, 'user data');
  return { version, attestationKeyType, teeType, qeSvn, pceSvn, qeVendorId, userData };
}

/** Parses a 384-byte SGX report body. */
export function parseSgxReportBody(raw: Uint8Array): SgxReportBody {
  if (raw.length !== SGX_REPORT_SIZE) throw new MalformedEvidenceError(`SGX report must be ${SGX_REPORT_SIZE} bytes`);
  const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  return {
    cpuSvn: raw.slice(0, 16),
    miscSelect: v.getUint32(16, true),
    attributes: raw.slice(48, 64),
    mrEnclave: raw.slice(64, 96),
    mrSigner: raw.slice(128, 160),
    isvProdId: v.getUint16(256, true),
    isvSvn: v.getUint16(258, true),
    reportData: raw.slice(320, 384),
    raw: raw.slice(),
  };
}

/** Parses a TD1.0 (584 B) or TD1.5 (648 B) report body. */
export function parseTdReportBody(raw: Uint8Array): TdReportBody {
  if (raw.length !== TD10_REPORT_SIZE && raw.length !== TD15_REPORT_SIZE) {
    throw new MalformedEvidenceError(`TD report must be ${TD10_REPORT_SIZE} or ${TD15_REPORT_SIZE} bytes`);
  }
  const s = (o: number, n: number) => raw.slice(o, o + n);
  return {
    teeTcbSvn: s(0, 16),
    mrSeam: s(16, 48),
    mrSignerSeam: s(64, 48),
    seamAttributes: s(112, 8),
    tdAttributes: s(120, 8),
    xfam: s(128, 8),
    mrTd: s(136, 48),
    mrConfigId: s(184, 48),
    mrOwner: s(232, 48),
    mrOwnerConfig: s(280, 48),
    rtmrs: [s(328, 48), s(376, 48), s(424, 48), s(472, 48)],
    reportData: s(520, 64),
    ...(raw.length === TD15_REPORT_SIZE ? { teeTcbSvn2: s(584, 16), mrServiceTd: s(600, 48) } : {}),
    raw: raw.slice(),
  };
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * Parses an Intel DCAP quote (SGX v3/v4/v5 or TDX v4/v5). Bytes after the
 * signature data (zero padding) are tolerated and not part of the quote.
 *
 * @throws UnsupportedFormatError for versions, key types, TEE types, body types
 *   or certification data types this verifier does not handle.
 * @throws MalformedEvidenceError for truncated input or inconsistent lengths.
 */
export function parseDcapQuote(input: Uint8Array): DcapQuote {
  if (!(input instanceof Uint8Array)) throw new MalformedEvidenceError('quote must be bytes');
  if (input.length < HEADER_SIZE) throw new MalformedEvidenceError(`quote is ${input.length} bytes, shorter than its header`);
  const bytes = input.slice();
  const r = new Reader(bytes);
  const header = parseHeader(r);
  const { version, teeType } = header;
  if (version !== 3 && version !== 4 && version !== 5) throw new UnsupportedFormatError(`quote version ${version} is not supported`);
  if (header.attestationKeyType !== ATT_KEY_TYPE_ECDSA_P256) {
    throw new UnsupportedFormatError(`attestation key type ${header.attestationKeyType} is not supported (only ECDSA-256-with-P-256)`);
  }
  if (teeType !== TEE_TYPE_SGX && teeType !== TEE_TYPE_TDX) throw new UnsupportedFormatError(`TEE type 0x${teeType.toString(16)} is not supported`);
  if (version === 3 && teeType !== TEE_TYPE_SGX) throw new UnsupportedFormatError('quote format not supported: v3 quotes are SGX only');
  if (!equal(header.qeVendorId, INTEL_QE_VENDOR_ID)) throw new UnsupportedFormatError('QE vendor is not Intel');

  let body: QuoteBody;
  if (version === 5) {
    const bodyType = r.u16('body type');
    const bodySize = r.u32('body size');
    const expected = bodyType === 1 ? SGX_REPORT_SIZE : bodyType === 2 ? TD10_REPORT_SIZE : bodyType === 3 ? TD15_REPORT_SIZE : -1;
    if (expected < 0) throw new UnsupportedFormatError(`quote v5 body type ${bodyType} is not supported`);
    if ((bodyType === 1) !== (teeType === TEE_TYPE_SGX)) {
      throw new MalformedEvidenceError(`quote v5 body type ${bodyType} does not fit TEE type 0x${teeType.toString(16)}`);
    }
    if (bodySize !== expected) throw new MalformedEvidenceError(`quote v5 body size ${bodySize}, expected ${expected}`);
    const raw = r.bytesOf(bodySize, 'report body');
    body = bodyType === 1
      ? { type: 1, tee: 'sgx', report: parseSgxReportBody(raw) }
      : { type: bodyType as 2 | 3, tee: 'tdx', report: parseTdReportBody(raw) };
  } else if (teeType === TEE_TYPE_SGX) {
    body = { type: 1, tee: 'sgx', report: parseSgxReportBody(r.bytesOf(SGX_REPORT_SIZE, 'SGX report body')) };
  } else {
    body = { type: 2, tee: 'tdx', report: parseTdReportBody(r.bytesOf(TD10_REPORT_SIZE, 'TD report body')) };
  }
  const signedData = bytes.slice(0, r.pos);

  const sigLen = r.u32('signature data length');
  r.need(sigLen, 'signature data');
  const sigEnd = r.pos + sigLen;
  // Bytes after the signature data (zero padding from configfs, or test
  // suffixes) are covered by no signature and are ignored, as Intel's QVL does.
  const s = new Reader(bytes, r.pos, sigEnd);
  const signature = s.bytesOf(64, 'quote signature');
  const attestationKey = s.bytesOf(64, 'attestation key');

  let qe: { qeReportRaw: Uint8Array; qeReportSignature: Uint8Array; qeAuthData: Uint8Array; certType: number; certData: Uint8Array };
  const readQeParts = (rd: Reader) => {
    const qeReportRaw = rd.bytesOf(SGX_REPORT_SIZE, 'QE report');
    const qeReportSignature = rd.bytesOf(64, 'QE report signature');
    const authLen = rd.u16('QE auth data length');
    const qeAuthData = rd.bytesOf(authLen, 'QE auth data');
    const certType = rd.u16('certification data type');
    const certSize = rd.u32('certification data size');
    const certData = rd.bytesOf(certSize, 'certification data');
    return { qeReportRaw, qeReportSignature, qeAuthData, certType, certData };
  };
  if (version === 3) {
    qe = readQeParts(s);
  } else {
    const outerType = s.u16('certification data type');
    const outerSize = s.u32('certification data size');
    if (outerType !== CERT_TYPE_QE_REPORT) {
      throw new UnsupportedFormatError(`certification data type ${outerType} is not supported (expected 6, QE report)`);
    }
    s.need(outerSize, 'QE report certification data');
    const inner = new Reader(bytes, s.pos, s.pos + outerSize);
    qe = readQeParts(inner);
    if (inner.pos !== inner.end) {
      throw new MalformedEvidenceError(`QE report certification data size is ${outerSize}, its parts take ${inner.pos - s.pos}`);
    }
    s.pos = inner.end;
  }
  if (s.pos !== sigEnd) {
    throw new MalformedEvidenceError(`signature data length is ${sigLen}, its parts take ${s.pos - (sigEnd - sigLen)}`);
  }
  if (qe.certType !== CERT_TYPE_PCK_CHAIN) {
    throw new UnsupportedFormatError(`certification data type ${qe.certType} is not supported (expected 5, PCK cert chain)`);
  }
  return {
    header,
    body,
    signedData,
    signature,
    attestationKey,
    qeReport: parseSgxReportBody(qe.qeReportRaw),
    qeReportSignature: qe.qeReportSignature,
    qeAuthData: qe.qeAuthData,
    certDataType: qe.certType,
    pckChainPem: qe.certData,
    length: sigEnd,
  };
}
