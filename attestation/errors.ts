/**
 * Typed attestation failures. Every rejection is an `AttestationError` with a
 * stable `code`; callers branch on `code`, never on the message.
 *
 * @example
 * try { await verifyBundle(bundle, ctx) } catch (e) {
 *   if (e instanceof AttestationError && e.code === 'DEBUG_ENABLED') ...
 * }
 */
export class AttestationError extends Error {
  /** Stable machine-readable reason. */
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

function errorClass<C extends string>(code: C) {
  return class extends AttestationError {
    static readonly code: C = code;
    constructor(message: string, options?: { cause?: unknown }) {
      super(code, message, options);
    }
  };
}

/** Evidence kind, version or body type this verifier does not handle. */
export class UnsupportedFormatError extends errorClass('UNSUPPORTED_FORMAT') {}
/** Bytes do not parse as the evidence they claim to be (truncated, bad lengths). */
export class MalformedEvidenceError extends errorClass('MALFORMED_EVIDENCE') {}
/** The quote/report signature by the attestation key does not verify. */
export class QuoteSignatureInvalidError extends errorClass('QUOTE_SIGNATURE_INVALID') {}
/** The QE report signature (by the PCK key) does not verify. */
export class QeReportSignatureInvalidError extends errorClass('QE_REPORT_SIGNATURE_INVALID') {}
/** QE report data does not bind the attestation key. */
export class QeReportDataMismatchError extends errorClass('QE_REPORT_DATA_MISMATCH') {}
/** PCK certificate chain does not lead to the pinned Intel root. */
export class PckChainInvalidError extends errorClass('PCK_CHAIN_INVALID') {}
/** A certificate chain (AMD, NVIDIA, collateral signing) does not verify. */
export class CertChainInvalidError extends errorClass('CERT_CHAIN_INVALID') {}
/** A certificate in a chain is revoked by a CRL. */
export class CertRevokedError extends errorClass('CERT_REVOKED') {}
/** A certificate is expired at the evaluation time. */
export class CertExpiredError extends errorClass('CERT_EXPIRED') {}
/** A certificate is not yet valid at the evaluation time. */
export class CertNotYetValidError extends errorClass('CERT_NOT_YET_VALID') {}
/** Collateral (TCB info, QE identity, CRL) is past its nextUpdate or too old. */
export class CollateralExpiredError extends errorClass('COLLATERAL_EXPIRED') {}
/** Collateral is not yet valid (issued in the future). */
export class CollateralNotYetValidError extends errorClass('COLLATERAL_NOT_YET_VALID') {}
/** Collateral signature or structure is invalid. */
export class CollateralInvalidError extends errorClass('COLLATERAL_INVALID') {}
/** Collateral could not be obtained (source unreachable or unparseable answer). */
export class CollateralUnavailableError extends errorClass('COLLATERAL_UNAVAILABLE') {}
/** No TCB level matches the platform. */
export class TcbNoMatchError extends errorClass('TCB_NO_MATCH') {}
/** The TCB status (or an advisory) is not accepted by policy. */
export class TcbStatusRejectedError extends errorClass('TCB_STATUS_REJECTED') {}
/** The TD or guest is debuggable. */
export class DebugEnabledError extends errorClass('DEBUG_ENABLED') {}
/** TD attributes, XFAM, guest policy or VMPL outside what policy allows. */
export class AttributesRejectedError extends errorClass('ATTRIBUTES_REJECTED') {}
/** Measurements do not match any allowed set. */
export class MeasurementNotAllowedError extends errorClass('MEASUREMENT_NOT_ALLOWED') {}
/** Report data does not commit to the presented keys, nonce and models. */
export class ReportDataMismatchError extends errorClass('REPORT_DATA_MISMATCH') {}
/** Evidence carries a nonce other than the expected one. */
export class NonceMismatchError extends errorClass('NONCE_MISMATCH') {}
/** Nonce was never issued, already used, or expired. */
export class NonceUnknownError extends errorClass('NONCE_UNKNOWN') {}
/** Evidence is older than the policy allows. */
export class EvidenceExpiredError extends errorClass('EVIDENCE_EXPIRED') {}
/** Simulated (development) evidence presented to a policy that forbids it. */
export class SimulatedNotAllowedError extends errorClass('SIMULATED_NOT_ALLOWED') {}
/** Evidence kind is not enabled by the policy. */
export class KindNotAllowedError extends errorClass('KIND_NOT_ALLOWED') {}
/** Policy requires GPU evidence and none (or not enough) was presented. */
export class GpuEvidenceRequiredError extends errorClass('GPU_EVIDENCE_REQUIRED') {}
/** GPU attestation result is negative (NRAS overall result false, bad SPDM report). */
export class GpuAttestationFailedError extends errorClass('GPU_ATTESTATION_FAILED') {}
/** Policy document is invalid. */
export class PolicyInvalidError extends errorClass('POLICY_INVALID') {}
