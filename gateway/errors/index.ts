/**
 * OpenAI-shaped HTTP errors. Every error the gateway answers with is an
 * `ApiError`, rendered as `{"error":{"message","type","param","code"}}`.
 */

export type OpenAIErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'requests'
  | 'tokens'
  | 'insufficient_quota'
  | 'server_error';

export interface ErrorEnvelope {
  error: { message: string; type: OpenAIErrorType; param: string | null; code: string | null };
}

/**
 * An error with an HTTP status and an OpenAI envelope.
 *
 * @example
 * throw new ApiError(404, 'invalid_request_error', 'model_not_found', 'The model `x` does not exist', 'model');
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: OpenAIErrorType,
    readonly code: string,
    message: string,
    readonly param: string | null = null,
    /** Seconds after which a retry may succeed (429, 503). */
    readonly retryAfter?: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  /** Whether the same request can succeed if retried. */
  get retryable(): boolean {
    return (this.status === 429 && this.type !== 'insufficient_quota') || this.status >= 500;
  }

  toJSON(): ErrorEnvelope {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }

  /** Headers that go with this error. */
  headers(): Record<string, string> {
    const h: Record<string, string> = { 'x-should-retry': this.retryable ? 'true' : 'false' };
    if (this.retryAfter !== undefined) h['retry-after'] = String(Math.max(1, Math.ceil(this.retryAfter)));
    return h;
  }
}

export const invalidRequest = (message: string, param: string | null = null, code = 'invalid_value') =>
  new ApiError(400, 'invalid_request_error', code, message, param);

export const unauthorized = (message = 'Incorrect or missing API key. Pass it as `Authorization: Bearer <key>`.') =>
  new ApiError(401, 'invalid_request_error', 'invalid_api_key', message);

export const modelNotFound = (model: string) =>
  new ApiError(
    404,
    'invalid_request_error',
    'model_not_found',
    `The model \`${model}\` does not exist or no admitted worker serves it right now.`,
    'model',
  );

export const notFound = (message: string) => new ApiError(404, 'invalid_request_error', 'not_found', message);

export const tooLarge = (limit: number) =>
  new ApiError(413, 'invalid_request_error', 'request_too_large', `Request body exceeds the limit of ${limit} bytes.`);

export const rateLimited = (kind: 'requests' | 'tokens', retryAfter: number, limit: number) =>
  new ApiError(
    429,
    kind,
    'rate_limit_exceeded',
    `Rate limit reached: ${limit} ${kind} per minute for this API key. Retry after ${Math.ceil(retryAfter)}s.`,
    null,
    retryAfter,
  );

export const noWorker = (model: string, retryAfter = 5) =>
  new ApiError(
    503,
    'server_error',
    'no_worker_available',
    `No admitted worker can serve \`${model}\` right now.`,
    'model',
    retryAfter,
  );

/** Workers serve the model, but none at or under the client's `x-sealgate-max-price`. */
export const overPriceCap = (model: string) =>
  new ApiError(
    503,
    'server_error',
    'no_worker_within_price',
    `No admitted worker serves \`${model}\` at or under your x-sealgate-max-price right now.`,
    'x-sealgate-max-price',
    30,
  );

/** The key's balance does not cover more usage; a deposit (or a voucher) fixes it, a retry does not. */
export const insufficientQuota = (message: string) => new ApiError(429, 'insufficient_quota', 'insufficient_quota', message);

export const internalError = () =>
  new ApiError(500, 'server_error', 'internal_error', 'The gateway failed to handle the request.');

/** True when `body` looks like an OpenAI error envelope. */
export function isErrorEnvelope(body: unknown): body is ErrorEnvelope {
  return (
    typeof body === 'object' &&
    body !== null &&
    typeof (body as { error?: unknown }).error === 'object' &&
    (body as { error: unknown }).error !== null &&
    typeof (body as { error: { message?: unknown } }).error.message === 'string'
  );
}
