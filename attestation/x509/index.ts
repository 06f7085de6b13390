/**
 * Shared X.509 helpers (runtime-agnostic: Web Crypto + pure TS).
 *
 * - parse: {@link parseCertificate}, {@link parseCrl}, {@link pemToDerList}
 * - verify: {@link verifyChain} (links, signatures, pinned root, validity, CRLs),
 *   {@link verifyCrl}; the crypto-only and time-only halves are exported too, for caching.
 * - vendor chains (AMD, NVIDIA) with their own rules: {@link verifyIssuedBy} (one link),
 *   {@link checkIssuerConstraints}, {@link checkCertTime}, {@link hasSignatureAlgorithm} with
 *   {@link rsaPssAlgorithmIdentifiers}, {@link verifyEcdsaRaw}, {@link extensionValue}, {@link nameAttribute}
 *
 * Errors are `AttestationError`s: `CERT_CHAIN_INVALID` (or the caller's
 * `onInvalid`), `CERT_EXPIRED`, `CERT_NOT_YET_VALID`, `CERT_REVOKED`,
 * `COLLATERAL_INVALID` / `COLLATERAL_EXPIRED` / `COLLATERAL_NOT_YET_VALID` for CRLs.
 */
export {
  parseCertificate,
  parseCrl,
  extensionValue,
  nameAttribute,
  type Certificate,
  type Crl,
  type X509Extension,
} from './cert.ts';
export { pemToDerList, derToPem } from './pem.ts';
export {
  verifyChain,
  verifyChainSignatures,
  verifyIssuedBy,
  checkIssuerConstraints,
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
  verifyCertificateSignature,
  verifyEcdsaRaw,
  ecCurveOf,
  hasSignatureAlgorithm,
  rsaPssAlgorithmIdentifiers,
  signatureSchemeOf,
  ecdsaDerToRaw,
  importP256RawKey,
  verifyP256Raw,
  certificateKey,
  type SignatureScheme,
  type Hash,
} from './sig.ts';
export { X509ParseError } from './errors.ts';
export {
  DerError,
  readTlv,
  readWhole,
  children,
  expectTag,
  decodeOid,
  decodeTime,
  decodeSmallUint,
  integerMagnitude,
  TAG,
  type Tlv,
} from './der.ts';
