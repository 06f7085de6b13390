/**
 * Intel DCAP collateral: the normalized `IntelCollateral` shape every verifier
 * entry point takes, plus converters from dcap-qvl's `QuoteCollateralV3` JSON
 * and from raw Intel PCS v4 response bodies.
 *
 * Collateral is untrusted input: these functions only reshape it. Signatures,
 * chains, CRLs and validity windows are checked in `verify.ts`.
 */
import { CollateralInvalidError, CollateralUnavailableError } from '../errors.ts';
import { utf8 } from '../util/bytes.ts';
import { pemToDerList } from '../x509/pem.ts';

/**
 * Everything needed to check an Intel SGX/TDX DCAP quote besides the quote
 * itself, in normalized form (DER bytes and exact signed JSON text).
 *
 * This shape is stable: PCS fetchers and caches produce it.
 *
 * - `tcbInfoJson` / `qeIdentityJson` are the **exact** text of the `tcbInfo` /
 *   `enclaveIdentity` JSON object as Intel served it (the bytes the signature
 *   covers; never re-serialize). Use {@link splitSignedJsonBody} to cut them
 *   out of a PCS response body.
 * - Signatures are ECDSA P-256/SHA-256, 64 bytes raw `r‖s`.
 * - Issuer chains are DER certificates, signer first, Intel SGX Root CA last
 *   (the order PCS uses in its `*-Issuer-Chain` headers).
 */
export interface IntelCollateral {
  /** Exact signed text of the `tcbInfo` object (TCB Info v3, id `TDX` or `SGX`). */
  tcbInfoJson: string;
  /** Raw r‖s (64 bytes) signature over UTF-8 `tcbInfoJson` by the Intel SGX TCB Signing key. */
  tcbInfoSignature: Uint8Array;
  /** `Tcb-Info-Issuer-Chain`: TCB Signing cert first, root last, DER. */
  tcbInfoIssuerChain: Uint8Array[];
  /** Exact signed text of the `enclaveIdentity` object (id `TD_QE` for TDX, `QE` for SGX). */
  qeIdentityJson: string;
  /** Raw r‖s (64 bytes) signature over UTF-8 `qeIdentityJson`. */
  qeIdentitySignature: Uint8Array;
  /** `Sgx-Enclave-Identity-Issuer-Chain`: TCB Signing cert first, root last, DER. */
  qeIdentityIssuerChain: Uint8Array[];
  /** PCK CRL (DER) from the PCK Platform or Processor CA that issued the quote's PCK cert. */
  pckCrl: Uint8Array;
  /**
   * `Sgx-Pck-Crl-Issuer-Chain`: the PCK CA first, root last, DER. May be empty;
   * the CRL is always checked against the issuer of the quote's PCK leaf.
   */
  pckCrlIssuerChain: Uint8Array[];
  /** Intel SGX Root CA CRL (DER), `https://certificates.trustedservices.intel.com/IntelSGXRootCA.der`. */
  rootCaCrl: Uint8Array;
}

/**
 * dcap-qvl's `QuoteCollateralV3` as JSON: signed JSON as exact text, signatures
 * as raw r‖s hex, CRLs as DER hex, issuer chains as PEM.
 */
export interface QuoteCollateralV3 {
  pck_crl_issuer_chain: string;
  root_ca_crl: string;
  pck_crl: string;
  tcb_info_issuer_chain: string;
  tcb_info: string;
  tcb_info_signature: string;
  qe_identity_issuer_chain: string;
  qe_identity: string;
  qe_identity_signature: string;
}

const V3_FIELDS = [
  'pck_crl_issuer_chain',
  'root_ca_crl',
  'pck_crl',
  'tcb_info_issuer_chain',
  'tcb_info',
  'tcb_info_signature',
  'qe_identity_issuer_chain',
  'qe_identity',
  'qe_identity_signature',
] as const;

const HEX_VALUES = (() => {
  const t = new Int8Array(128).fill(-1);
  for (let i = 0; i < 10; i++) t[48 + i] = i;
  for (let i = 0; i < 6; i++) t[65 + i] = t[97 + i] = 10 + i;
  return t;
})();

function hexField(name: string, value: string): Uint8Array {
  let h = value.trim();
  if (h.startsWith('0x') || h.startsWith('0X')) h = h.slice(2);
  const out = new Uint8Array(h.length >> 1);
  let bad = h.length % 2 !== 0;
  for (let i = 0; i < out.length && !bad; i++) {
    const a = HEX_VALUES[h.charCodeAt(2 * i)] ?? -1;
    const b = HEX_VALUES[h.charCodeAt(2 * i + 1)] ?? -1;
    if (a < 0 || b < 0) bad = true;
    out[i] = (a << 4) | b;
  }
  if (bad) throw new CollateralInvalidError(`collateral ${name} is not hex`);
  return out;
}

function pemField(name: string, value: string): Uint8Array[] {
  try {
    return pemToDerList(value);
  } catch (e) {
    throw new CollateralInvalidError(`collateral ${name} is not a PEM certificate chain`, { cause: e });
  }
}

/** True when `value` looks like dcap-qvl's `QuoteCollateralV3` (has a string `tcb_info`). */
export function isQuoteCollateralV3(value: unknown): value is QuoteCollateralV3 {
  return typeof value === 'object' && value !== null && typeof (value as { tcb_info?: unknown }).tcb_info === 'string';
}

/** Recently converted `QuoteCollateralV3` values, keyed by their exact field text (conversion is pure). */
const v3Cache = new Map<string, IntelCollateral>();
const V3_CACHE_MAX = 32;

/**
 * Converts dcap-qvl `QuoteCollateralV3` JSON into {@link IntelCollateral}.
 * Throws `CollateralInvalidError` on a missing or malformed field. The result
 * is shared between calls with identical input; treat it as read-only.
 */
export function fromQuoteCollateralV3(value: unknown): IntelCollateral {
  if (typeof value !== 'object' || value === null) throw new CollateralInvalidError('collateral is not an object');
  const v = value as Record<string, unknown>;
  for (const f of V3_FIELDS) {
    if (typeof v[f] !== 'string') throw new CollateralInvalidError(`collateral field ${f} is missing or not a string`);
  }
  const c = v as unknown as QuoteCollateralV3;
  const key = V3_FIELDS.map((f) => c[f]).join('\u0000');
  const hit = v3Cache.get(key);
  if (hit) return hit;
  const out = convertV3(c);
  v3Cache.set(key, out);
  if (v3Cache.size > V3_CACHE_MAX) v3Cache.delete(v3Cache.keys().next().value!);
  return out;
}

function convertV3(c: QuoteCollateralV3): IntelCollateral {
  return {
    tcbInfoJson: c.tcb_info,
    tcbInfoSignature: hexField('tcb_info_signature', c.tcb_info_signature),
    tcbInfoIssuerChain: pemField('tcb_info_issuer_chain', c.tcb_info_issuer_chain),
    qeIdentityJson: c.qe_identity,
    qeIdentitySignature: hexField('qe_identity_signature', c.qe_identity_signature),
    qeIdentityIssuerChain: pemField('qe_identity_issuer_chain', c.qe_identity_issuer_chain),
    pckCrl: hexField('pck_crl', c.pck_crl),
    pckCrlIssuerChain: pemField('pck_crl_issuer_chain', c.pck_crl_issuer_chain),
    rootCaCrl: hexField('root_ca_crl', c.root_ca_crl),
  };
}

function isBytes(x: unknown): x is Uint8Array {
  return x instanceof Uint8Array;
}

/** True when `value` has the shape of {@link IntelCollateral}. */
export function isIntelCollateral(value: unknown): value is IntelCollateral {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  const chain = (x: unknown) => Array.isArray(x) && x.every(isBytes);
  return (
    typeof v.tcbInfoJson === 'string' &&
    isBytes(v.tcbInfoSignature) &&
    chain(v.tcbInfoIssuerChain) &&
    typeof v.qeIdentityJson === 'string' &&
    isBytes(v.qeIdentitySignature) &&
    chain(v.qeIdentityIssuerChain) &&
    isBytes(v.pckCrl) &&
    chain(v.pckCrlIssuerChain) &&
    isBytes(v.rootCaCrl)
  );
}

/**
 * Accepts `IntelCollateral` or `QuoteCollateralV3` JSON and returns `IntelCollateral`.
 * `undefined`/`null` => `CollateralUnavailableError` (fail closed); any other
 * shape => `CollateralInvalidError`.
 */
export function normalizeCollateral(value: unknown): IntelCollateral {
  if (value === undefined || value === null) {
    throw new CollateralUnavailableError('no Intel collateral was provided for the quote');
  }
  if (isIntelCollateral(value)) return value;
  if (isQuoteCollateralV3(value)) return fromQuoteCollateralV3(value);
  throw new CollateralInvalidError('collateral is neither IntelCollateral nor QuoteCollateralV3');
}

/**
 * Cuts a PCS v4 signed body such as `{"tcbInfo":{…},"signature":"…"}` or
 * `{"enclaveIdentity":{…},"signature":"…"}` into the exact signed object text
 * and the raw signature bytes, without re-serializing anything.
 *
 * @example
 * const { json, signature } = splitSignedJsonBody(bodyText, 'tcbInfo');
 */
export function splitSignedJsonBody(
  body: string,
  field: 'tcbInfo' | 'enclaveIdentity',
): { json: string; signature: Uint8Array } {
  const spans = topLevelSpans(body);
  const obj = spans.get(field);
  const sig = spans.get('signature');
  if (!obj || body[obj[0]] !== '{') throw new CollateralInvalidError(`PCS body has no ${field} object`);
  if (!sig || body[sig[0]] !== '"') throw new CollateralInvalidError('PCS body has no signature string');
  let sigText: unknown;
  try {
    sigText = JSON.parse(body.slice(sig[0], sig[1]));
  } catch {
    throw new CollateralInvalidError('PCS body signature is not a JSON string');
  }
  return { json: body.slice(obj[0], obj[1]), signature: hexField('signature', String(sigText)) };
}

/** Maps each top-level key of a JSON object text to the [start, end) span of its raw value. */
function topLevelSpans(text: string): Map<string, [number, number]> {
  const out = new Map<string, [number, number]>();
  let i = 0;
  const n = text.length;
  const ws = () => {
    while (i < n && ' \t\r\n'.includes(text[i]!)) i++;
  };
  const bad = (): never => {
    throw new CollateralInvalidError('PCS body is not a JSON object');
  };
  const skipString = () => {
    if (text[i] !== '"') bad();
    i++;
    while (i < n && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    if (i >= n) bad();
    i++;
  };
  const skipValue = () => {
    ws();
    const c = text[i];
    if (c === '"') return skipString();
    if (c === '{' || c === '[') {
      let depth = 0;
      while (i < n) {
        const d = text[i]!;
        if (d === '"') {
          skipString();
          continue;
        }
        if (d === '{' || d === '[') depth++;
        else if (d === '}' || d === ']') {
          depth--;
          if (depth === 0) {
            i++;
            return;
          }
        }
        i++;
      }
      return bad();
    }
    const start = i;
    while (i < n && !',}] \t\r\n'.includes(text[i]!)) i++;
    if (i === start) bad();
  };
  ws();
  if (text[i] !== '{') bad();
  i++;
  ws();
  if (text[i] === '}') return out;
  for (;;) {
    ws();
    const ks = i;
    skipString();
    let key: string;
    try {
      key = JSON.parse(text.slice(ks, i)) as string;
    } catch {
      return bad();
    }
    ws();
    if (text[i] !== ':') bad();
    i++;
    ws();
    const vs = i;
    skipValue();
    out.set(key, [vs, i]);
    ws();
    if (text[i] === ',') {
      i++;
      continue;
    }
    if (text[i] === '}') return out;
    bad();
  }
}

/**
 * Builds {@link IntelCollateral} from raw PCS v4 bodies (strings) and DER
 * pieces, e.g. files saved from `GET /tdx/certification/v4/tcb`.
 */
export function intelCollateralFromPcs(parts: {
  tcbInfoBody: string;
  tcbInfoIssuerChain: Uint8Array[];
  qeIdentityBody: string;
  qeIdentityIssuerChain: Uint8Array[];
  pckCrl: Uint8Array;
  pckCrlIssuerChain?: Uint8Array[];
  rootCaCrl: Uint8Array;
}): IntelCollateral {
  const tcb = splitSignedJsonBody(parts.tcbInfoBody, 'tcbInfo');
  const qe = splitSignedJsonBody(parts.qeIdentityBody, 'enclaveIdentity');
  return {
    tcbInfoJson: tcb.json,
    tcbInfoSignature: tcb.signature,
    tcbInfoIssuerChain: parts.tcbInfoIssuerChain,
    qeIdentityJson: qe.json,
    qeIdentitySignature: qe.signature,
    qeIdentityIssuerChain: parts.qeIdentityIssuerChain,
    pckCrl: parts.pckCrl,
    pckCrlIssuerChain: parts.pckCrlIssuerChain ?? [],
    rootCaCrl: parts.rootCaCrl,
  };
}

/** UTF-8 bytes a collateral JSON signature covers. */
export function signedJsonBytes(json: string): Uint8Array {
  return utf8(json);
}
