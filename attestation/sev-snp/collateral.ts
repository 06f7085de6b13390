import { CollateralInvalidError, CollateralUnavailableError } from '../errors.ts';
import { fromBase64 } from '../util/bytes.ts';
import { pemCertificates } from './cert.ts';

/** A certificate as DER bytes, base64 DER, or PEM (PEM may hold several). */
export type SnpCertInput = Uint8Array | string;

/**
 * Collateral for an SEV-SNP report. The leaf (VCEK, or VLEK when the report's
 * SIGNING_KEY says so) is required; the chain is optional, and when absent
 * the pinned AMD ASK/ASVK and ARK for the product are used.
 *
 * Also accepted by `normalizeSnpCollateral`:
 * - a bare `Uint8Array` (VCEK DER) or string (PEM with the leaf, optionally
 *   followed by ASK and ARK; or base64 DER of the leaf);
 * - snake_case and go-sev-guest-style names (`vcek_cert`, `vcekCert`,
 *   `ask_cert`, `arkCert`, `cert_chain`, ...), and `chain` as an array.
 *
 * @example
 * const collateral: SnpCollateral = { vcek: vcekDer, certChain: askArkPem };
 */
export interface SnpCollateral {
  /** VCEK certificate (DER, base64 DER or PEM). */
  vcek?: SnpCertInput;
  /** VLEK certificate (DER, base64 DER or PEM). */
  vlek?: SnpCertInput;
  /** AMD KDS `cert_chain` PEM: ASK (or ASVK) then ARK. */
  certChain?: string | SnpCertInput[];
  /** ASK (VCEK issuer) or ASVK (VLEK issuer), if not in `certChain`. */
  ask?: SnpCertInput;
  asvk?: SnpCertInput;
  /** ARK; must be the pinned AMD root for the product. */
  ark?: SnpCertInput;
}

/** Certificates sorted by role; `chain` is empty when the collateral brings no chain. */
export interface NormalizedSnpCollateral {
  /** Leaf candidates, DER (certificates given in a leaf field). */
  leaves: Uint8Array[];
  /** Chain certificates (ASK/ASVK/ARK), DER. */
  chain: Uint8Array[];
}

const LEAF_FIELDS = ['vcek', 'vlek', 'vcekCert', 'vlekCert', 'vcek_cert', 'vlek_cert', 'VCEK', 'VLEK'];
const CHAIN_FIELDS = [
  'certChain',
  'cert_chain',
  'chain',
  'ask',
  'asvk',
  'ark',
  'askCert',
  'asvkCert',
  'arkCert',
  'ask_cert',
  'asvk_cert',
  'ark_cert',
  'ASK',
  'ASVK',
  'ARK',
];

/** Upper bounds on what collateral may carry (a KDS chain is 2 certificates of ~1.6 KB). */
const MAX_CERTS = 8;
const MAX_CERT_BYTES = 16 * 1024;

/** Decodes one collateral field (DER bytes, base64 DER, PEM, or an array of those) into DER certificates. */
export function snpCertsOf(input: unknown, field = 'certificate'): Uint8Array[] {
  const out = certsOf(input, field);
  if (out.length > MAX_CERTS) throw new CollateralInvalidError(`SEV-SNP collateral ${field}: too many certificates`);
  if (out.some((c) => c.length > MAX_CERT_BYTES)) {
    throw new CollateralInvalidError(`SEV-SNP collateral ${field}: certificate too large`);
  }
  return out;
}

function certsOf(input: unknown, field: string): Uint8Array[] {
  if (input === undefined || input === null) return [];
  if (input instanceof Uint8Array) return input.length ? [input] : [];
  if (Array.isArray(input)) return input.flatMap((x) => certsOf(x, field));
  if (typeof input === 'string') {
    const s = input.trim();
    if (s === '') return [];
    if (s.includes('-----BEGIN')) return pemCertificates(s, `SEV-SNP collateral ${field}`);
    try {
      return [fromBase64(s)];
    } catch (e) {
      throw new CollateralInvalidError(`SEV-SNP collateral ${field} is neither PEM nor base64`, { cause: e });
    }
  }
  throw new CollateralInvalidError(`SEV-SNP collateral ${field} has an unsupported type`);
}

/**
 * Sorts collateral into leaf and chain certificates. A PEM in a leaf field
 * may carry the chain after the leaf (KDS-style bundle): its first
 * certificate is the leaf, the rest are chain. Throws
 * `CollateralUnavailableError` when there is no leaf at all (fail closed),
 * `CollateralInvalidError` when a field is not a certificate encoding.
 */
export function normalizeSnpCollateral(collateral: unknown): NormalizedSnpCollateral {
  const leaves: Uint8Array[] = [];
  const chain: Uint8Array[] = [];
  if (collateral === undefined || collateral === null) {
    throw new CollateralUnavailableError('SEV-SNP verification needs the VCEK/VLEK certificate; no collateral given');
  }
  if (collateral instanceof Uint8Array || typeof collateral === 'string' || Array.isArray(collateral)) {
    const all = certsOf(collateral, 'collateral');
    if (all[0]) leaves.push(all[0]);
    chain.push(...all.slice(1));
  } else if (typeof collateral === 'object') {
    const o = collateral as Record<string, unknown>;
    for (const f of LEAF_FIELDS) {
      const all = certsOf(o[f], f);
      if (all[0]) leaves.push(all[0]);
      chain.push(...all.slice(1));
    }
    for (const f of CHAIN_FIELDS) chain.push(...certsOf(o[f], f));
  } else {
    throw new CollateralInvalidError('SEV-SNP collateral has an unsupported type');
  }
  if (leaves.length + chain.length > MAX_CERTS || [...leaves, ...chain].some((c) => c.length > MAX_CERT_BYTES)) {
    throw new CollateralInvalidError('SEV-SNP collateral carries too many or too large certificates');
  }
  if (!leaves.length) {
    throw new CollateralUnavailableError('SEV-SNP collateral has no VCEK/VLEK certificate');
  }
  return { leaves, chain };
}
