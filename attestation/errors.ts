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

/** An error base class constructed like `AttestationError`: `(code, message, options)`. */
export type CodedErrorBase<E extends Error = Error> = new (code: string, message: string, options?: { cause?: unknown }) => E;

/** A class made by {@link defineErrorCode}: `new X(message, options)`, with the code as static `X.code`. */
export interface ErrorCodeClass<C extends string, E extends Error> {
  new (message: string, options?: { cause?: unknown }): E;
  readonly code: C;
}

/**
 * A base class for one stable error code: subclasses take `(message, options)`
 * and always carry `code`. Extends `AttestationError` unless another base
 * with the same constructor shape is given (e.g. `EvidenceProviderError`).
 *
 * @example
 * export class SnpKeyMismatchError extends defineErrorCode('SNP_KEY_MISMATCH') {}
 * new SnpKeyMismatchError('hwID differs').code; // 'SNP_KEY_MISMATCH', and instanceof AttestationError
 */
export function defineErrorCode<C extends string>(code: C): ErrorCodeClass<C, AttestationError>;
export function defineErrorCode<C extends string, E extends Error>(code: C, base: CodedErrorBase<E>): ErrorCodeClass<C, E>;
export function defineErrorCode(code: string, base: CodedErrorBase = AttestationError): ErrorCodeClass<string, Error> {
  return class extends base {
    static readonly code = code;
    constructor(message: string, options?: { cause?: unknown }) {
      super(code, message, options);
    }
  };
}

/** Evidence kind, version or body type this verifier does not handle. */
export class UnsupportedFormatError extends defineErrorCode('UNSUPPORTED_FORMAT') {}
/** Bytes do not parse as the evidence they claim to be (truncated, bad lengths). */
export class MalformedEvidenceError extends defineErrorCode('MALFORMED_EVIDENCE') {}
/** The quote/report signature by the attestation key does not verify. */
export class QuoteSignatureInvalidError extends defineErrorCode('QUOTE_SIGNATURE_INVALID') {}
/** The QE report signature (by the PCK key) does not verify. */
export class QeReportSignatureInvalidError extends defineErrorCode('QE_REPORT_SIGNATURE_INVALID') {}
/** QE report data does not bind the attestation key. */
export class QeReportDataMismatchError extends defineErrorCode('QE_REPORT_DATA_MISMATCH') {}
/** PCK certificate chain does not lead to the pinned Intel root. */
export class PckChainInvalidError extends defineErrorCode('PCK_CHAIN_INVALID') {}
/** A certificate chain (AMD, NVIDIA, collateral signing) does not verify. */
export class CertChainInvalidError extends defineErrorCode('CERT_CHAIN_INVALID') {}
/** A certificate in a chain is revoked by a CRL. */
export class CertRevokedError extends defineErrorCode('CERT_REVOKED') {}
/** A certificate is expired at the evaluation time. */
export class CertExpiredError extends defineErrorCode('CERT_EXPIRED') {}
/** A certificate is not yet valid at the evaluation time. */
export class CertNotYetValidError extends defineErrorCode('CERT_NOT_YET_VALID') {}
/** Collateral (TCB info, QE identity, CRL) is past its nextUpdate or too old. */
export class CollateralExpiredError extends defineErrorCode('COLLATERAL_EXPIRED') {}
/** Collateral is not yet valid (issued in the future). */
export class CollateralNotYetValidError extends defineErrorCode('COLLATERAL_NOT_YET_VALID') {}
/** Collateral signature or structure is invalid. */
export class CollateralInvalidError extends defineErrorCode('COLLATERAL_INVALID') {}
/** Collateral could not be obtained (source unreachable or unparseable answer). */
export class CollateralUnavailableError extends defineErrorCode('COLLATERAL_UNAVAILABLE') {}
/** No TCB level matches the platform. */
export class TcbNoMatchError extends defineErrorCode('TCB_NO_MATCH') {}
/** The TCB status (or an advisory) is not accepted by policy. */
export class TcbStatusRejectedError extends defineErrorCode('TCB_STATUS_REJECTED') {}
/** The TD or guest is debuggable. */
export class DebugEnabledError extends defineErrorCode('DEBUG_ENABLED') {}
/** TD attributes, XFAM, guest policy or VMPL outside what policy allows. */
export class AttributesRejectedError extends defineErrorCode('ATTRIBUTES_REJECTED') {}
/** Measurements do not match any allowed set. */
export class MeasurementNotAllowedError extends defineErrorCode('MEASUREMENT_NOT_ALLOWED') {}
/** Report data does not commit to the presented keys, nonce and models. */
export class ReportDataMismatchError extends defineErrorCode('REPORT_DATA_MISMATCH') {}
/** Evidence carries a nonce other than the expected one. */
export class NonceMismatchError extends defineErrorCode('NONCE_MISMATCH') {}
/** Nonce was never issued, already used, or expired. */
export class NonceUnknownError extends defineErrorCode('NONCE_UNKNOWN') {}
/** Evidence is older than the policy allows. */
export class EvidenceExpiredError extends defineErrorCode('EVIDENCE_EXPIRED') {}
/** Simulated (development) evidence presented to a policy that forbids it. */
export class SimulatedNotAllowedError extends defineErrorCode('SIMULATED_NOT_ALLOWED') {}
/** Evidence kind is not enabled by the policy. */
export class KindNotAllowedError extends defineErrorCode('KIND_NOT_ALLOWED') {}
/** Policy requires GPU evidence and none (or not enough) was presented. */
export class GpuEvidenceRequiredError extends defineErrorCode('GPU_EVIDENCE_REQUIRED') {}
/** GPU attestation result is negative (NRAS overall result false, bad SPDM report). */
export class GpuAttestationFailedError extends defineErrorCode('GPU_ATTESTATION_FAILED') {}
/** Policy document is invalid. */
export class PolicyInvalidError extends defineErrorCode('POLICY_INVALID') {}
