import { defineErrorCode } from '../../attestation/errors.ts';

/**
 * Typed failures of evidence collection inside the enclave. Every error is an
 * `EvidenceProviderError` with a stable `code`; branch on `code`, never on
 * the message.
 */
export class EvidenceProviderError extends Error {
  /** Stable machine-readable reason. */
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** The caller passed input the provider cannot use (wrong report-data or nonce length). */
export class EvidenceInputError extends defineErrorCode('EVIDENCE_BAD_INPUT', EvidenceProviderError) {}

/** configfs-tsm is not available: no `tsm/report` directory (kernel < 6.7, no TEE guest driver, not mounted). */
export class TsmUnavailableError extends defineErrorCode('TSM_UNAVAILABLE', EvidenceProviderError) {}
/** The TSM provider name is not one this runner understands. */
export class TsmUnsupportedProviderError extends defineErrorCode('TSM_UNSUPPORTED_PROVIDER', EvidenceProviderError) {}
/** The TSM provider is not the TEE kind this provider was configured for. */
export class TsmProviderMismatchError extends defineErrorCode('TSM_PROVIDER_MISMATCH', EvidenceProviderError) {}
/** Another writer changed the report entry while we used it (`generation` moved unexpectedly). */
export class TsmGenerationRaceError extends defineErrorCode('TSM_GENERATION_RACE', EvidenceProviderError) {}
/** The TSM returned an empty report. */
export class TsmEmptyReportError extends defineErrorCode('TSM_EMPTY_REPORT', EvidenceProviderError) {}
/** The report or auxiliary blob is larger than allowed (or the kernel said EFBIG). */
export class TsmReportTooLargeError extends defineErrorCode('TSM_REPORT_TOO_LARGE', EvidenceProviderError) {}
/** The SEV-SNP auxiliary blob (certificate table) does not parse. */
export class TsmAuxblobInvalidError extends defineErrorCode('TSM_AUXBLOB_INVALID', EvidenceProviderError) {}
/** Any other file-system failure while talking to configfs. */
export class TsmIoError extends defineErrorCode('TSM_IO', EvidenceProviderError) {}

/** The GPU evidence command could not be started. */
export class GpuCommandSpawnError extends defineErrorCode('GPU_COMMAND_SPAWN_FAILED', EvidenceProviderError) {}
/** The GPU evidence command exited unsuccessfully or was killed by a signal. */
export class GpuCommandFailedError extends defineErrorCode('GPU_COMMAND_FAILED', EvidenceProviderError) {}
/** The GPU evidence command did not finish in time (it is killed). */
export class GpuCommandTimeoutError extends defineErrorCode('GPU_COMMAND_TIMEOUT', EvidenceProviderError) {}
/** The GPU evidence command wrote more than the configured limit (it is killed). */
export class GpuCommandOutputTooLargeError extends defineErrorCode('GPU_COMMAND_OUTPUT_TOO_LARGE', EvidenceProviderError) {}
/** The GPU evidence command's standard output is not the expected JSON. */
export class GpuCommandOutputInvalidError extends defineErrorCode('GPU_COMMAND_OUTPUT_INVALID', EvidenceProviderError) {}
