/**
 * NVIDIA device identity and RIM certificate chains on top of the shared
 * X.509 code in `../x509/`: ECDSA-only chain checks to a pinned root (validity
 * at the evaluation time, CA constraints, the root's own signature), the TCG
 * DICE FWID extension, and PEM splitting, with NVIDIA's error codes.
 */
import { CertChainInvalidError, MalformedEvidenceError } from '../errors.ts';
import { equalBytes, toHex } from '../util/bytes.ts';
import {
  certificateKey,
  checkCertTime,
  checkIssuerConstraints,
  children,
  decodeOid,
  ecCurveOf,
  extensionValue,
  parseCertificate,
  pemToDerList,
  readWhole,
  signatureSchemeOf,
  TAG,
  verifyIssuedBy,
  type Certificate,
  type Tlv,
} from '../x509/index.ts';

/** TCG DICE TcbInfo extension, which carries the firmware digests (FWIDs). */
export const OID_DICE_TCB_INFO = '2.23.133.5.4.1';
const MAX_CHAIN = 8;

/** Splits PEM text into DER certificates (in order). Throws `MalformedEvidenceError` when there are none or one is not base64. */
export function pemToDer(pem: string): Uint8Array[] {
  try {
    return pemToDerList(pem);
  } catch (e) {
    throw new MalformedEvidenceError(`certificate PEM: ${(e as Error).message}`, { cause: e });
  }
}

/** Parses one DER certificate. Throws `MalformedEvidenceError`. */
export function parseCert(der: Uint8Array): Certificate {
  try {
    return parseCertificate(der);
  } catch (e) {
    throw new MalformedEvidenceError('certificate does not parse', { cause: e });
  }
}

/**
 * The curve of `c`'s EC public key, once Web Crypto has imported it (the key
 * stays cached on `c` for `verifyEcdsaRaw`). Throws `CertChainInvalidError`
 * for other keys and curves, or a key that does not import.
 */
export async function ecdsaKeyCurve(c: Certificate): Promise<{ name: string; size: number }> {
  const curve = ecCurveOf(c);
  if (!curve) throw new CertChainInvalidError('certificate key is not an EC public key on a supported curve');
  if (!(await certificateKey(c, { kind: 'ecdsa', hash: 'SHA-384' }))) {
    throw new CertChainInvalidError('certificate public key does not import');
  }
  return curve;
}

/** Common name (or a placeholder) for messages. */
export function subjectCommonName(c: Certificate): string {
  return c.subjectCommonName ?? '(no CN)';
}

/**
 * Verifies `chain` (leaf first) up to the pinned `root` (DER) at `now` (unix
 * seconds). The chain may or may not include the root itself (only as its
 * last element). Every certificate, root included, must be valid at `now`
 * and ECDSA-signed by the next one (the root by itself); every issuer must be
 * a CA. Returns the parsed chain (leaf first, ending at the root).
 */
export async function verifyChainToRoot(chain: Uint8Array[], root: Uint8Array, now: number): Promise<Certificate[]> {
  if (chain.length === 0) throw new CertChainInvalidError('empty certificate chain');
  if (chain.length > MAX_CHAIN) throw new CertChainInvalidError(`certificate chain longer than ${MAX_CHAIN}`);
  const rootCert = parseCert(root);
  const certs = chain.map(parseCert);
  const rootAt = certs.findIndex((c) => equalBytes(c.der, root));
  if (rootAt >= 0 && rootAt !== certs.length - 1) {
    throw new CertChainInvalidError('certificates follow the root in the chain');
  }
  const path = rootAt >= 0 ? certs : [...certs, rootCert];
  for (let i = 0; i < path.length; i++) {
    const c = path[i]!;
    checkCertTime(c, now, `certificate "${subjectCommonName(c)}"`);
    if (i > 0) checkIssuerConstraints(c, i - 1);
    const issuer = i + 1 < path.length ? path[i + 1]! : c; // the root signs itself
    if (signatureSchemeOf(c.signatureAlgorithm)?.kind !== 'ecdsa') {
      throw new CertChainInvalidError(`certificate "${subjectCommonName(c)}" is not ECDSA-signed`);
    }
    await verifyIssuedBy(c, issuer);
  }
  return path;
}

const HASH_OIDS = new Set([
  '2.16.840.1.101.3.4.2.1', // SHA-256
  '2.16.840.1.101.3.4.2.2', // SHA-384
  '2.16.840.1.101.3.4.2.3', // SHA-512
]);

/**
 * FWID digests (hex) from the leaf's TCG DICE extension (2.23.133.5.4.1), or
 * `undefined` when the certificate has none. Collects every
 * `SEQUENCE { hashAlg OID, digest OCTET STRING }` inside the extension: NVIDIA
 * GH100 leaves carry one such FWID (SHA-384) after the device key. Throws
 * `MalformedEvidenceError` when the extension is not DER.
 */
export function diceFwids(c: Certificate): string[] | undefined {
  const ext = extensionValue(c, OID_DICE_TCB_INFO);
  if (!ext) return undefined;
  const out: string[] = [];
  const walk = (node: Tlv, depth: number): void => {
    if ((node.tag & 0x20) === 0 || depth > 6) return;
    const kids = children(node);
    const [a, b] = kids;
    if (
      node.tag === TAG.SEQUENCE &&
      kids.length === 2 &&
      a?.tag === TAG.OID &&
      b?.tag === TAG.OCTET_STRING &&
      HASH_OIDS.has(decodeOid(a.value))
    ) {
      out.push(toHex(b.value));
      return;
    }
    for (const k of kids) walk(k, depth + 1);
  };
  try {
    walk(readWhole(ext), 0);
  } catch (e) {
    throw new MalformedEvidenceError('DICE TcbInfo extension does not parse', { cause: e });
  }
  return out;
}
