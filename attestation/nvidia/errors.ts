/**
 * NVIDIA-specific attestation failures. Each is an `AttestationError` with a
 * stable `code`, like the shared ones in `../errors.ts`.
 */
import { defineErrorCode } from '../errors.ts';

/** An NRAS token's signature does not verify, its `kid` is not in the JWKS, or its algorithm is not ES384. */
export class NrasSignatureInvalidError extends defineErrorCode('NRAS_SIGNATURE_INVALID') {}

/**
 * An NRAS token is well formed and signed, but its claims are not acceptable
 * for structural reasons: wrong issuer, submodule digest that does not match
 * the detached GPU token, a GPU token without a submodule entry, missing claims.
 */
export class NrasClaimsInvalidError extends defineErrorCode('NRAS_CLAIMS_INVALID') {}

/** Evidence (an NRAS token) is not valid yet at the evaluation time (`nbf`/`iat` in the future). */
export class EvidenceNotYetValidError extends defineErrorCode('EVIDENCE_NOT_YET_VALID') {}

/** The SPDM measurement response signature does not verify with the device leaf key. */
export class SpdmSignatureInvalidError extends defineErrorCode('SPDM_SIGNATURE_INVALID') {}

/** The FWID in the SPDM opaque data does not match the FWID in the device leaf certificate. */
export class FwidMismatchError extends defineErrorCode('FWID_MISMATCH') {}
