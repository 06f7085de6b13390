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

function errorClass<C extends string>(code: C) {
  return class extends EvidenceProviderError {
    static readonly code: C = code;
    constructor(message: string, options?: { cause?: unknown }) {
      super(code, message, options);
    }
  };
}

/** The caller passed input the provider cannot use (wrong report-data or nonce length). */
export class EvidenceInputError extends errorClass('EVIDENCE_BAD_INPUT') {}

/** configfs-tsm is not available: no `tsm/report` directory (kernel < 6.7, no TEE guest driver, not mounted). */
export class TsmUnavailableError extends errorClass('TSM_UNAVAILABLE') {}
/** The TSM provider name is not one this runner understands. */
export class TsmUnsupportedProviderError extends errorClass('TSM_UNSUPPORTED_PROVIDER') {}
/** The TSM provider is not the TEE kind this provider was configured for. */
export class TsmProviderMismatchError extends errorClass('TSM_PROVIDER_MISMATCH') {}
/** Another writer changed the report entry while we used it (`generation` moved unexpectedly). */
export class TsmGenerationRaceError extends errorClass('TSM_GENERATION_RACE') {}
/** The TSM returned an empty report. */
export class TsmEmptyReportError extends errorClass('TSM_EMPTY_REPORT') {}
/** The report or auxiliary blob is larger than allowed (or the kernel said EFBIG). */
export class TsmReportTooLargeError extends errorClass('TSM_REPORT_TOO_LARGE') {}
/** The SEV-SNP auxiliary blob (certificate table) does not parse. */
export class TsmAuxblobInvalidError extends errorClass('TSM_AUXBLOB_INVALID') {}
/** Any other file-system failure while talking to configfs. */
export class TsmIoError extends errorClass('TSM_IO') {}

/** The GPU evidence command could not be started. */
export class GpuCommandSpawnError extends errorClass('GPU_COMMAND_SPAWN_FAILED') {}
/** The GPU evidence command exited unsuccessfully or was killed by a signal. */
export class GpuCommandFailedError extends errorClass('GPU_COMMAND_FAILED') {}
/** The GPU evidence command did not finish in time (it is killed). */
export class GpuCommandTimeoutError extends errorClass('GPU_COMMAND_TIMEOUT') {}
/** The GPU evidence command wrote more than the configured limit (it is killed). */
export class GpuCommandOutputTooLargeError extends errorClass('GPU_COMMAND_OUTPUT_TOO_LARGE') {}
/** The GPU evidence command's standard output is not the expected JSON. */
export class GpuCommandOutputInvalidError extends errorClass('GPU_COMMAND_OUTPUT_INVALID') {}
