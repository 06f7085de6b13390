/**
 * Parsers for Intel PCS (and PCCS) v3/v4 response shapes into the pieces of
 * `IntelCollateral`.
 *
 * | endpoint | body | issuer chain header |
 * |---|---|---|
 * | `GET /{sgx,tdx}/certification/v4/tcb?fmspc=` | `{"tcbInfo":{…},"signature":"…"}` | `TCB-Info-Issuer-Chain` (v3: `SGX-TCB-Info-Issuer-Chain`) |
 * | `GET /{sgx,tdx}/certification/v4/qe/identity` | `{"enclaveIdentity":{…},"signature":"…"}` | `SGX-Enclave-Identity-Issuer-Chain` |
 * | `GET /sgx/certification/v4/pckcrl?ca=…&encoding=der` | DER CRL | `SGX-PCK-CRL-Issuer-Chain` |
 * | Root CA CRL (`IntelSGXRootCA.der`, or PCCS `rootcacrl`) | DER, or hex DER | none |
 *
 * Header values are URL-encoded PEM certificate chains. The signed JSON text is
 * cut out of the body verbatim (the signature covers those exact bytes).
 *
 * These functions only reshape and sanity-check: signatures, chains and CRL
 * revocation are checked by the TDX/SGX verifier. Every failure is a
 * {@link CollateralFetchError} (`COLLATERAL_UNAVAILABLE`).
 */
import { z } from 'zod';
import { fromHex } from '../util/bytes.ts';
import type { IntelCollateral } from '../tdx/collateral.ts';
import { CollateralFetchError } from './errors.ts';
import { crlBodyToDer, crlIssuerCommonName, crlTimes, EncodingError, parseIsoSeconds, pemBlocks } from './encoding.ts';
import { RawJsonError, rawTopLevelMembers } from './raw-json.ts';

export type IntelTee = 'tdx' | 'sgx';
export type PckCa = 'processor' | 'platform';

/** Header names PCS (v4 first, then v3) uses for each item's issuer chain. Lookup is case-insensitive. */
export const ISSUER_CHAIN_HEADERS = {
  tcbInfo: ['TCB-Info-Issuer-Chain', 'SGX-TCB-Info-Issuer-Chain'],
  qeIdentity: ['SGX-Enclave-Identity-Issuer-Chain'],
  pckCrl: ['SGX-PCK-CRL-Issuer-Chain'],
} as const;

/** A signed JSON item (TCB Info or QE Identity) from a PCS body. */
export interface SignedJsonItem {
  /** Exact text of the signed object, as served. */
  json: string;
  /** Raw r‖s, 64 bytes. */
  signature: Uint8Array;
  /** DER certificates from the issuer-chain header, signer first. */
  issuerChain: Uint8Array[];
  /** `id` field: `TDX`/`SGX` for TCB Info, `TD_QE`/`QE`/`QVE` for identities. */
  id: string;
  version: number;
  tcbEvaluationDataNumber: number | undefined;
  /** Unix seconds. */
  issueDate: number;
  /** Unix seconds; the item must not be used at or after this time. */
  nextUpdate: number;
}

/** TCB Info adds the FMSPC it is for (lowercase hex). */
export interface TcbInfoItem extends SignedJsonItem {
  fmspc: string;
}

/** A CRL from PCS. */
export interface CrlItem {
  der: Uint8Array;
  /** DER certificates from the issuer-chain header (empty for the Root CA CRL). */
  issuerChain: Uint8Array[];
  /** Issuer commonName, e.g. `Intel SGX PCK Platform CA`. */
  issuerCommonName: string | undefined;
  /** Unix seconds. */
  thisUpdate: number;
  /** Unix seconds; the CRL must not be used at or after this time. */
  nextUpdate: number;
}

/** What a PCS answer looks like to the parsers: body bytes or text plus headers. */
export interface PcsResponseParts {
  body: Uint8Array | string;
  /** Response headers (a `Headers`, a record or pairs). */
  headers?: HeadersInit;
  /** For error messages. */
  url?: string;
}

const TcbInfoShape = z.looseObject({
  id: z.enum(['TDX', 'SGX']),
  version: z.number().int(),
  issueDate: z.string(),
  nextUpdate: z.string(),
  fmspc: z.string().regex(/^[0-9a-fA-F]{12}$/),
  pceId: z.string(),
  tcbEvaluationDataNumber: z.number().int().optional(),
  tcbLevels: z.array(z.unknown()).min(1),
});

const IdentityShape = z.looseObject({
  id: z.enum(['QE', 'QVE', 'TD_QE']),
  version: z.number().int(),
  issueDate: z.string(),
  nextUpdate: z.string(),
  tcbEvaluationDataNumber: z.number().int().optional(),
  tcbLevels: z.array(z.unknown()).min(1),
});

const decoder = new TextDecoder('utf-8', { fatal: true });

function bad(message: string, url: string | undefined, cause?: unknown): CollateralFetchError {
  return new CollateralFetchError('malformed-body', url ? `${message} (${url})` : message, { cause, url });
}

function bodyText(parts: PcsResponseParts): string {
  if (typeof parts.body === 'string') return parts.body;
  try {
    return decoder.decode(parts.body);
  } catch (e) {
    throw bad('PCS body is not UTF-8', parts.url, e);
  }
}

/**
 * Reads and decodes an issuer-chain header (URL-encoded PEM) to DER certificates.
 * Throws `missing-header` / `malformed-header`.
 */
export function issuerChainFromHeaders(
  headers: HeadersInit | undefined,
  names: readonly string[],
  url?: string,
): Uint8Array[] {
  const h = new Headers(headers);
  let value: string | null = null;
  for (const n of names) {
    value = h.get(n);
    if (value !== null) break;
  }
  const where = url ? ` (${url})` : '';
  if (value === null || value.trim() === '') {
    throw new CollateralFetchError('missing-header', `PCS answer has no ${names[0]} header${where}`, { url });
  }
  return decodeIssuerChain(value, names[0]!, url);
}

/** Decodes a URL-encoded PEM chain header value to DER certificates. */
export function decodeIssuerChain(value: string, name = 'issuer chain', url?: string): Uint8Array[] {
  let pem: string;
  try {
    pem = decodeURIComponent(value.trim());
  } catch (e) {
    throw new CollateralFetchError('malformed-header', `${name} header is not URL-encoded`, { cause: e, url });
  }
  try {
    return pemBlocks(pem, 'CERTIFICATE');
  } catch (e) {
    throw new CollateralFetchError('malformed-header', `${name} header is not a PEM certificate chain`, { cause: e, url });
  }
}

function splitSigned(text: string, field: 'tcbInfo' | 'enclaveIdentity', url: string | undefined) {
  let members;
  try {
    members = rawTopLevelMembers(text);
    JSON.parse(text); // full syntax check; the scanner only finds boundaries
  } catch (e) {
    if (e instanceof RawJsonError || e instanceof SyntaxError) throw bad(`PCS ${field} body is not valid JSON: ${e.message}`, url, e);
    throw e;
  }
  const obj = members.get(field);
  const sig = members.get('signature');
  if (!obj || !obj.raw.startsWith('{')) throw bad(`PCS body has no ${field} object`, url);
  if (!sig || !sig.raw.startsWith('"')) throw bad('PCS body has no signature string', url);
  const sigHex = JSON.parse(sig.raw) as string;
  if (!/^[0-9a-fA-F]{128}$/.test(sigHex)) throw bad('PCS body signature is not 64 bytes of hex', url);
  return { json: obj.raw, parsed: JSON.parse(obj.raw) as unknown, signature: fromHex(sigHex) };
}

function times(issueDate: string, nextUpdate: string, url: string | undefined) {
  try {
    const i = parseIsoSeconds(issueDate);
    const n = parseIsoSeconds(nextUpdate);
    if (n <= i) throw new EncodingError('nextUpdate is not after issueDate');
    return { issueDate: i, nextUpdate: n };
  } catch (e) {
    throw bad(`PCS item has bad dates: ${(e as Error).message}`, url, e);
  }
}

/**
 * Parses a `GET /{sgx,tdx}/certification/v4/tcb?fmspc=` answer.
 *
 * @example
 * const res = await fetch(`${pcs}/tdx/certification/v4/tcb?fmspc=90c06f000000`);
 * const tcb = parseTcbInfoResponse({ body: await res.text(), headers: res.headers });
 */
export function parseTcbInfoResponse(parts: PcsResponseParts): TcbInfoItem {
  const { item, data } = parseSignedItem(parts, ISSUER_CHAIN_HEADERS.tcbInfo, 'tcbInfo', TcbInfoShape);
  return { ...item, fmspc: data.fmspc.toLowerCase() };
}

/** Parses a `GET /{sgx,tdx}/certification/v4/qe/identity` answer. */
export function parseQeIdentityResponse(parts: PcsResponseParts): SignedJsonItem {
  return parseSignedItem(parts, ISSUER_CHAIN_HEADERS.qeIdentity, 'enclaveIdentity', IdentityShape).item;
}

/** The fields every signed PCS JSON item has, as the shapes check them. */
interface SignedItemFields {
  id: string;
  version: number;
  issueDate: string;
  nextUpdate: string;
  tcbEvaluationDataNumber?: number | undefined;
}

/**
 * The common part of a TCB Info or QE Identity answer: issuer chain from the
 * headers, signed object and signature from the body, checked against `shape`.
 * Also returns the shape-checked object for item-specific fields.
 */
function parseSignedItem<T extends SignedItemFields>(
  parts: PcsResponseParts,
  headerNames: readonly string[],
  field: 'tcbInfo' | 'enclaveIdentity',
  shape: z.ZodType<T>,
): { item: SignedJsonItem; data: T } {
  const issuerChain = issuerChainFromHeaders(parts.headers, headerNames, parts.url);
  const s = splitSigned(bodyText(parts), field, parts.url);
  const r = shape.safeParse(s.parsed);
  if (!r.success) throw bad(`PCS ${field} is malformed: ${r.error.issues[0]!.path.join('.')}: ${r.error.issues[0]!.message}`, parts.url);
  const item: SignedJsonItem = {
    json: s.json,
    signature: s.signature,
    issuerChain,
    id: r.data.id,
    version: r.data.version,
    tcbEvaluationDataNumber: r.data.tcbEvaluationDataNumber,
    ...times(r.data.issueDate, r.data.nextUpdate, parts.url),
  };
  return { item, data: r.data };
}

function parseCrl(body: Uint8Array | string, issuerChain: Uint8Array[], url: string | undefined): CrlItem {
  const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : body;
  try {
    const der = crlBodyToDer(bytes);
    const { thisUpdate, nextUpdate } = crlTimes(der);
    if (nextUpdate <= thisUpdate) throw new EncodingError('CRL nextUpdate is not after thisUpdate');
    return { der, issuerChain, issuerCommonName: crlIssuerCommonName(der), thisUpdate, nextUpdate };
  } catch (e) {
    if (e instanceof EncodingError) throw bad(`PCS CRL is malformed: ${e.message}`, url, e);
    throw e;
  }
}

/** Parses a `GET /sgx/certification/v4/pckcrl?ca=…` answer (DER, PEM or hex body). */
export function parsePckCrlResponse(parts: PcsResponseParts): CrlItem {
  const issuerChain = issuerChainFromHeaders(parts.headers, ISSUER_CHAIN_HEADERS.pckCrl, parts.url);
  return parseCrl(parts.body, issuerChain, parts.url);
}

/**
 * Parses the Intel SGX Root CA CRL: DER from
 * `https://certificates.trustedservices.intel.com/IntelSGXRootCA.der`, or hex
 * DER from a PCCS `GET /sgx/certification/v4/rootcacrl`. No header is needed.
 */
export function parseRootCaCrlResponse(parts: PcsResponseParts): CrlItem {
  return parseCrl(parts.body, [], parts.url);
}

/** The four parsed PCS items that make up one `IntelCollateral`. */
export interface PcsCollateralItems {
  tcbInfo: TcbInfoItem;
  qeIdentity: SignedJsonItem;
  pckCrl: CrlItem;
  rootCaCrl: CrlItem;
}

/** Earliest `nextUpdate` of the items, unix seconds: the collateral is unusable from then on. */
export function itemsNextUpdate(items: PcsCollateralItems): number {
  return Math.min(items.tcbInfo.nextUpdate, items.qeIdentity.nextUpdate, items.pckCrl.nextUpdate, items.rootCaCrl.nextUpdate);
}

/**
 * Assembles parsed PCS items into the verifier's `IntelCollateral`. Byte
 * arrays are copied so later mutation of either side cannot affect the other.
 */
export function toIntelCollateral(items: PcsCollateralItems): IntelCollateral {
  const chain = (c: Uint8Array[]) => c.map((d) => d.slice());
  return {
    tcbInfoJson: items.tcbInfo.json,
    tcbInfoSignature: items.tcbInfo.signature.slice(),
    tcbInfoIssuerChain: chain(items.tcbInfo.issuerChain),
    qeIdentityJson: items.qeIdentity.json,
    qeIdentitySignature: items.qeIdentity.signature.slice(),
    qeIdentityIssuerChain: chain(items.qeIdentity.issuerChain),
    pckCrl: items.pckCrl.der.slice(),
    pckCrlIssuerChain: chain(items.pckCrl.issuerChain),
    rootCaCrl: items.rootCaCrl.der.slice(),
  };
}

/** Expected `id`s and CRL issuers per TEE / CA, for mismatch checks. */
export const EXPECTED = {
  tcbInfoId: { tdx: 'TDX', sgx: 'SGX' },
  qeIdentityId: { tdx: 'TD_QE', sgx: 'QE' },
  pckCrlIssuer: { platform: 'Intel SGX PCK Platform CA', processor: 'Intel SGX PCK Processor CA' },
  rootCaCrlIssuer: 'Intel SGX Root CA',
} as const;
