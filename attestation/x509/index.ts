/**
 * Shared X.509 helpers (runtime-agnostic: Web Crypto + pure TS).
 *
 * - parse: {@link parseCertificate}, {@link parseCrl}, {@link pemToDerList}
 * - verify: {@link verifyChain} (links, signatures, pinned root, validity, CRLs),
 *   {@link verifyCrl}; the crypto-only and time-only halves are exported too, for caching.
 *
 * Errors are `AttestationError`s: `CERT_CHAIN_INVALID` (or the caller's
 * `onInvalid`), `CERT_EXPIRED`, `CERT_NOT_YET_VALID`, `CERT_REVOKED`,
 * `COLLATERAL_INVALID` / `COLLATERAL_EXPIRED` / `COLLATERAL_NOT_YET_VALID` for CRLs.
 */
export { parseCertificate, parseCrl, type Certificate, type Crl, type X509Extension } from './cert.ts';
export { pemToDerList, derToPem } from './pem.ts';
export {
  verifyChain,
  verifyChainSignatures,
  checkCertTime,
  checkChainTime,
  assertNotRevoked,
  verifyCrl,
  verifyCrlSignature,
  checkCrlTime,
  type ChainOptions,
  type ChainErrorFactory,
  type VerifiedChain,
} from './chain.ts';
export {
  verifyX509Signature,
  signatureSchemeOf,
  ecdsaDerToRaw,
  importP256RawKey,
  verifyP256Raw,
  certificateKey,
  type SignatureScheme,
} from './sig.ts';
export { X509ParseError } from './errors.ts';
export { DerError, readTlv, readWhole, children, decodeOid, decodeTime, TAG, type Tlv } from './der.ts';
