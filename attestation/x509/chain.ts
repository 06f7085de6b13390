/**
 * Certificate chain and CRL checks against pinned trust anchors at a given
 * evaluation time. Crypto checks (`verifyChainSignatures`, `verifyCrlSignature`)
 * are separate from time checks (`checkCertTime`, `checkCrlTime`) so callers
 * can cache the former and redo only the latter.
 */
import {
  AttestationError,
  CertChainInvalidError,
  CertExpiredError,
  CertNotYetValidError,
  CertRevokedError,
  CollateralExpiredError,
  CollateralInvalidError,
  CollateralNotYetValidError,
} from '../errors.ts';
import { equalBytes } from '../util/bytes.ts';
import type { Certificate, Crl } from './cert.ts';
import { verifyCertificateSignature, verifyX509Signature } from './sig.ts';

/** Builds the error thrown when a chain link fails (default `CertChainInvalidError`). */
export type ChainErrorFactory = (message: string, cause?: unknown) => AttestationError;

const defaultInvalid: ChainErrorFactory = (m, cause) => new CertChainInvalidError(m, { cause });

/** Options for {@link verifyChain}. */
export interface ChainOptions {
  /** Pinned trust anchors. The chain must end in one of them (byte-identical), or be issued by one. */
  roots: readonly Certificate[];
  /** Evaluation time, unix seconds. */
  now: number;
  /** CRLs to check every certificate against (each must already be verified, see `verifyCrl`). */
  crls?: readonly Crl[];
  /** Error for a broken link, e.g. `PckChainInvalidError`. */
  onInvalid?: ChainErrorFactory;
}

/** A chain that verified: the full path (leaf first, pinned root last) and its validity intersection. */
export interface VerifiedChain {
  path: readonly Certificate[];
  /** Latest notBefore on the path. */
  notBefore: number;
  /** Earliest notAfter on the path. */
  notAfter: number;
}

const KNOWN_CRITICAL = new Set(['2.5.29.15', '2.5.29.19', '2.5.29.37', '2.5.29.32', '2.5.29.17']);

/**
 * Checks links and signatures only (no time): each certificate's issuer name
 * equals the next one's subject, the next one is a CA allowed to sign
 * certificates, its key verifies the signature, and the chain ends at a pinned
 * root (appended if the chain stops just below it). Pure function of its
 * inputs, so the result may be cached by the chain's bytes.
 */
export async function verifyChainSignatures(
  chain: readonly Certificate[],
  roots: readonly Certificate[],
  onInvalid: ChainErrorFactory = defaultInvalid,
): Promise<VerifiedChain> {
  if (chain.length === 0) throw onInvalid('empty certificate chain');
  if (roots.length === 0) throw onInvalid('no trust anchor configured');
  const path = [...chain];
  const last = path[path.length - 1]!;
  let anchor = roots.find((r) => equalBytes(r.der, last.der));
  if (!anchor) {
    const issuerRoot = roots.find((r) => equalBytes(r.subjectDer, last.issuerDer));
    if (!issuerRoot || equalBytes(last.subjectDer, last.issuerDer)) {
      throw onInvalid(`certificate chain does not end at a pinned root (last: ${last.subject})`);
    }
    anchor = issuerRoot;
    path.push(issuerRoot);
  }
  for (let i = 0; i < path.length; i++) {
    const cert = path[i]!;
    for (const [oid, ext] of cert.extensions) {
      if (ext.critical && !KNOWN_CRITICAL.has(oid)) throw onInvalid(`unsupported critical extension ${oid} in ${cert.subject}`);
    }
    if (i === path.length - 1) break; // pinned anchor: trusted by identity
    // pathLen: `issuer` may have at most pathLenConstraint intermediate CAs below it (path[1..i]).
    await verifyIssuedBy(cert, path[i + 1]!, { caBelow: i, onInvalid });
  }
  return {
    path,
    notBefore: Math.max(...path.map((c) => c.notBefore)),
    notAfter: Math.min(...path.map((c) => c.notAfter)),
  };
}

/**
 * Throws via `onInvalid` unless `issuer` may issue CA or leaf certificates
 * with `caBelow` intermediate CAs under it: basicConstraints cA is set, a
 * keyUsage (if present) allows keyCertSign, and pathLenConstraint (if any) is
 * at least `caBelow`.
 */
export function checkIssuerConstraints(issuer: Certificate, caBelow: number, onInvalid: ChainErrorFactory = defaultInvalid): void {
  if (!issuer.isCa) throw onInvalid(`${issuer.subject} is not a CA`);
  if (issuer.keyUsage && !issuer.keyUsage.includes('keyCertSign')) {
    throw onInvalid(`${issuer.subject} may not sign certificates`);
  }
  if (issuer.pathLenConstraint !== undefined && caBelow > issuer.pathLenConstraint) {
    throw onInvalid(`${issuer.subject} path length constraint exceeded`);
  }
}

/**
 * Checks one link: `cert`'s issuer name is `issuer`'s subject (byte-exact),
 * then, when `caBelow` is given, {@link checkIssuerConstraints}, then that
 * `issuer`'s key verifies `cert`'s signature. Throws via `onInvalid`
 * (default `CertChainInvalidError`). A self-signed certificate may be its own `issuer`.
 */
export async function verifyIssuedBy(
  cert: Certificate,
  issuer: Certificate,
  { caBelow, onInvalid = defaultInvalid }: { caBelow?: number; onInvalid?: ChainErrorFactory } = {},
): Promise<void> {
  if (!equalBytes(cert.issuerDer, issuer.subjectDer)) {
    throw onInvalid(`issuer of ${cert.subject} is ${cert.issuer}, but the next certificate is ${issuer.subject}`);
  }
  if (caBelow !== undefined) checkIssuerConstraints(issuer, caBelow, onInvalid);
  if (!(await verifyCertificateSignature(cert, issuer))) {
    throw onInvalid(`signature of ${cert.subject} by ${issuer.subject} does not verify`);
  }
}

/**
 * Throws `CertNotYetValidError` / `CertExpiredError` unless notBefore <= now <= notAfter.
 * A non-finite `now` fails closed (not yet valid). `label` names the
 * certificate in the message (default: its subject).
 */
export function checkCertTime(cert: Certificate, now: number, label: string = cert.subject): void {
  if (!(now >= cert.notBefore)) {
    throw new CertNotYetValidError(`${label} is not valid before ${new Date(cert.notBefore * 1000).toISOString()}`);
  }
  if (!(now <= cert.notAfter)) {
    throw new CertExpiredError(`${label} expired at ${new Date(cert.notAfter * 1000).toISOString()}`);
  }
}

/** Checks the validity window of every certificate on `path`. */
export function checkChainTime(path: readonly Certificate[], now: number): void {
  for (const c of path) checkCertTime(c, now);
}

/** Throws `CertRevokedError` if `crl` (issued by `cert`'s issuer) lists `cert`. Ignores CRLs of other issuers. */
export function assertNotRevoked(cert: Certificate, crl: Crl): void {
  if (!equalBytes(cert.issuerDer, crl.issuerDer)) return;
  if (crl.revokedSerials.has(cert.serialNumber)) {
    throw new CertRevokedError(`${cert.subject} (serial ${cert.serialNumber}) is revoked by ${crl.issuer}`);
  }
}

/**
 * Full chain check at `now`: links, signatures, pinned root, every validity
 * window, and revocation against `crls`.
 *
 * @example
 * const chain = pemToDerList(pem).map(parseCertificate);
 * const v = await verifyChain(chain, { roots: [intelRoot], now });
 */
export async function verifyChain(chain: readonly Certificate[], options: ChainOptions): Promise<VerifiedChain> {
  const v = await verifyChainSignatures(chain, options.roots, options.onInvalid);
  checkChainTime(v.path, options.now);
  for (const crl of options.crls ?? []) for (const c of v.path) assertNotRevoked(c, crl);
  return v;
}

/**
 * Verifies that `crl` is issued and signed by `issuer` (names match, the
 * issuer may sign CRLs, signature verifies). Throws `CollateralInvalidError`.
 */
export async function verifyCrlSignature(crl: Crl, issuer: Certificate): Promise<void> {
  if (!equalBytes(crl.issuerDer, issuer.subjectDer)) {
    throw new CollateralInvalidError(`CRL issuer ${crl.issuer} is not ${issuer.subject}`);
  }
  if (issuer.keyUsage && !issuer.keyUsage.includes('crlSign')) {
    throw new CollateralInvalidError(`${issuer.subject} may not sign CRLs`);
  }
  const ok = await verifyX509Signature(crl.tbs, crl.signatureAlgorithm, crl.signatureParams, crl.signature, issuer);
  if (!ok) throw new CollateralInvalidError(`CRL signature by ${issuer.subject} does not verify`);
}

/**
 * Throws `CollateralNotYetValidError` if `now < thisUpdate`, and
 * `CollateralExpiredError` if `now > nextUpdate` or the CRL has no nextUpdate.
 */
export function checkCrlTime(crl: Crl, now: number): void {
  if (!(now >= crl.thisUpdate)) {
    throw new CollateralNotYetValidError(`CRL of ${crl.issuer} is not valid before ${new Date(crl.thisUpdate * 1000).toISOString()}`);
  }
  if (crl.nextUpdate === undefined) throw new CollateralExpiredError(`CRL of ${crl.issuer} has no nextUpdate`);
  if (!(now <= crl.nextUpdate)) {
    throw new CollateralExpiredError(`CRL of ${crl.issuer} is stale since ${new Date(crl.nextUpdate * 1000).toISOString()}`);
  }
}

/** Signature and time check of a CRL. */
export async function verifyCrl(crl: Crl, issuer: Certificate, now: number): Promise<void> {
  await verifyCrlSignature(crl, issuer);
  checkCrlTime(crl, now);
}
