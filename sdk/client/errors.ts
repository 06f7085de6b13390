/**
 * Typed errors of the sealed client. Per-worker attestation refusals are
 * `AttestationError`s (stable codes from `attestation/`, plus the two
 * client-only checks below); a request the client refuses or cannot complete
 * is a `SealedFetchError` with a stable `code`. Messages never carry prompt
 * or completion text.
 */
import { defineErrorCode } from '../../attestation/errors.ts';

/** The gateway labelled a worker with an id its evidence's keys do not derive to (`workerIdFor`). */
export class WorkerIdMismatchError extends defineErrorCode('WORKER_ID_MISMATCH') {}
/** The gateway lists a worker for a model that its evidence does not bind. */
export class ModelNotBoundError extends defineErrorCode('MODEL_NOT_BOUND') {}
/** The evidence binds no Ed25519 receipt key, so receipts could not be checked. */
export class ReceiptKeyMissingError extends defineErrorCode('RECEIPT_KEY_MISSING') {}
/** A worker entry in `GET /v1/workers` is not shaped as the HTTP binding says. */
export class MalformedListingError extends defineErrorCode('MALFORMED_LISTING') {}

export type SealedFetchErrorCode =
  /** Workers serve the model, but none of their evidence verifies against the client's policy. Nothing sealed was sent. */
  | 'NO_VERIFIED_WORKER'
  /** `GET /v1/workers` failed or answered something that is not a worker list. Nothing sealed was sent. */
  | 'WORKERS_UNAVAILABLE'
  /** Every attempt was refused by the receiving worker as unopenable (misrouted or tampered in transit). */
  | 'SEALED_REQUEST_REJECTED'
  /** Every attempt failed at the network level. */
  | 'GATEWAY_UNREACHABLE'
  /** The sealed response was rejected: tampered, truncated, reordered, duplicated, replayed, or its receipt does not match. */
  | 'RESPONSE_REJECTED'
  /** The worker's backend failed after the response had started (a sealed trailer `{error}`). */
  | 'UPSTREAM_ERROR'
  /** The gateway answered the sealed request with something the HTTP binding does not allow (e.g. a clear 200). */
  | 'PROTOCOL_ERROR'
  /** The runtime has no Web Crypto (`crypto.subtle`): browsers only offer it on https:// and localhost pages. Nothing was sent. */
  | 'INSECURE_CONTEXT';

/** One worker that was not used, and why (the attestation or protocol error code). */
export interface WorkerRejection {
  id: string;
  code: string;
  message: string;
}

/** One try at sending the sealed request. */
export interface AttemptRecord {
  workerId: string;
  /** `network`, an HTTP status, or a sealed-stream error code. */
  outcome: string;
  code?: string;
}

/**
 * A sealed request the client refused to send, or whose answer it refused.
 *
 * @example
 * try { await openai.chat.completions.create(...) } catch (e) {
 *   const cause = (e as { cause?: unknown }).cause;
 *   if (cause instanceof SealedFetchError && cause.code === 'NO_VERIFIED_WORKER') console.log(cause.workers);
 * }
 */
export class SealedFetchError extends Error {
  readonly code: SealedFetchErrorCode;
  /** For NO_VERIFIED_WORKER: each candidate and its refusal code. */
  readonly workers: WorkerRejection[];
  /** Attempts made before giving up (empty when nothing was sent). */
  readonly attempts: AttemptRecord[];
  /** For RESPONSE_REJECTED: the underlying `SealError` code (TRUNCATED, OPEN_FAILED, RECEIPT_INVALID, ...). */
  readonly sealCode: string | undefined;

  constructor(
    code: SealedFetchErrorCode,
    message: string,
    details: { workers?: WorkerRejection[]; attempts?: AttemptRecord[]; sealCode?: string; cause?: unknown } = {},
  ) {
    super(message, details.cause !== undefined ? { cause: details.cause } : undefined);
    this.name = 'SealedFetchError';
    this.code = code;
    this.workers = details.workers ?? [];
    this.attempts = details.attempts ?? [];
    this.sealCode = details.sealCode;
  }

  /** The OpenAI error object the proxy answers with (and an SSE stream carries). */
  toOpenAIError(): { message: string; type: string; param: null; code: string } {
    return { message: this.message, type: 'server_error', param: null, code: this.sealCode ?? this.code };
  }
}

export function isSealedFetchError(e: unknown): e is SealedFetchError {
  return e instanceof SealedFetchError;
}
