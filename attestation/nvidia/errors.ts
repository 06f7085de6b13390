/**
 * NVIDIA-specific attestation failures. Each is an `AttestationError` with a
 * stable `code`, like the shared ones in `../errors.ts`.
 */
import { AttestationError } from '../errors.ts';

/** An NRAS token's signature does not verify, its `kid` is not in the JWKS, or its algorithm is not ES384. */
export class NrasSignatureInvalidError extends AttestationError {
  static readonly code = 'NRAS_SIGNATURE_INVALID';
  constructor(message: string, options?: { cause?: unknown }) {
    super(NrasSignatureInvalidError.code, message, options);
  }
}

/**
 * An NRAS token is well formed and signed, but its claims are not acceptable
 * for structural reasons: wrong issuer, submodule digest that does not match
 * the detached GPU token, a GPU token without a submodule entry, missing claims.
 */
export class NrasClaimsInvalidError extends AttestationError {
  static readonly code = 'NRAS_CLAIMS_INVALID';
  constructor(message: string, options?: { cause?: unknown }) {
    super(NrasClaimsInvalidError.code, message, options);
  }
}

/** Evidence (an NRAS token) is not valid yet at the evaluation time (`nbf`/`iat` in the future). */
export class EvidenceNotYetValidError extends AttestationError {
  static readonly code = 'EVIDENCE_NOT_YET_VALID';
  constructor(message: string, options?: { cause?: unknown }) {
    super(EvidenceNotYetValidError.code, message, options);
  }
}

/** The SPDM measurement response signature does not verify with the device leaf key. */
export class SpdmSignatureInvalidError extends AttestationError {
  static readonly code = 'SPDM_SIGNATURE_INVALID';
  constructor(message: string, options?: { cause?: unknown }) {
    super(SpdmSignatureInvalidError.code, message, options);
  }
}

/** The FWID in the SPDM opaque data does not match the FWID in the device leaf certificate. */
export class FwidMismatchError extends AttestationError {
  static readonly code = 'FWID_MISMATCH';
  constructor(message: string, options?: { cause?: unknown }) {
    super(FwidMismatchError.code, message, options);
  }
}
