/**
 * Typed errors of the chain access layer. Every failure that `contracts/chain` reports is a
 * `ChainError` with a stable `code`; callers branch on the code, never on the message.
 */

export type ChainErrorCode =
  /** The endpoint could not be reached, answered 5xx/429, or the node behind it is down. Retryable. */
  | 'CHAIN_UNAVAILABLE'
  /** A request, or the wait for a wallet's seqno / a channel's state to move, ran out of time. */
  | 'CHAIN_TIMEOUT'
  /** The endpoint refused the API key (401/403). */
  | 'CHAIN_UNAUTHORIZED'
  /** The node refused the external message (the wallet did not accept it, bad BOC, ...). */
  | 'CHAIN_REJECTED'
  /** The endpoint answered something that is not a toncenter v2 reply. */
  | 'CHAIN_BAD_RESPONSE'
  /** The account is active but is not a payment channel (its get methods fail or do not parse). */
  | 'NOT_A_CHANNEL'
  /** The channel is not in a state that accepts this message (closed, or closing for a deposit). */
  | 'CHANNEL_NOT_OPEN'
  /** The wallet derived from the key is not the channel's payer / payee. */
  | 'WALLET_MISMATCH'
  /** The wallet does not hold the value it is asked to send. */
  | 'INSUFFICIENT_BALANCE'
  /** The voucher is not signed by the channel's payer for this channel. */
  | 'INVALID_VOUCHER'
  /** The voucher's seq or cumulative amount is not above what the channel already paid. */
  | 'STALE_VOUCHER'
  /** The voucher asks for more than the channel can still pay (`available`). */
  | 'INSUFFICIENT_CHANNEL_FUNDS';

/**
 * @example
 * try { await chain.readChannel(addr); }
 * catch (e) { if (e instanceof ChainError && e.code === 'CHAIN_UNAVAILABLE') retryLater(); else throw e; }
 */
export class ChainError extends Error {
  constructor(
    readonly code: ChainErrorCode,
    message: string,
    options?: { cause?: unknown; status?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ChainError';
    if (options?.status !== undefined) this.status = options.status;
  }

  /** HTTP status of the endpoint's answer, when there was one. */
  readonly status?: number;

  /** Whether the same call may succeed later without any change by the caller. */
  get retryable(): boolean {
    return this.code === 'CHAIN_UNAVAILABLE' || this.code === 'CHAIN_TIMEOUT';
  }
}

interface AxiosLikeError {
  isAxiosError: true;
  code?: string;
  message: string;
  response?: { status: number; data?: unknown };
}

function isAxiosError(e: unknown): e is AxiosLikeError {
  return typeof e === 'object' && e !== null && (e as { isAxiosError?: unknown }).isAxiosError === true;
}

function describeBody(data: unknown): string {
  if (data && typeof data === 'object' && typeof (data as { error?: unknown }).error === 'string') {
    return (data as { error: string }).error;
  }
  const s = typeof data === 'string' ? data : JSON.stringify(data ?? null);
  return s.length > 300 ? `${s.slice(0, 300)}...` : s;
}

/**
 * Maps what `TonClient` (axios + zod underneath) throws to a `ChainError`, or returns null when the
 * error did not come from the transport (e.g. a get method's non-zero exit code or a stack that does
 * not parse), which the caller interprets itself.
 *
 * `sending` marks a `sendBoc` call: the node's 4xx/500 answers to it mean the message was refused.
 */
export function transportError(e: unknown, what: string, sending = false): ChainError | null {
  if (e instanceof ChainError) return e;
  if (isAxiosError(e)) {
    const res = e.response;
    if (!res) {
      if (e.code === 'ECONNABORTED' || e.code === 'ETIMEDOUT') {
        return new ChainError('CHAIN_TIMEOUT', `${what}: request timed out (${e.message})`, { cause: e });
      }
      return new ChainError('CHAIN_UNAVAILABLE', `${what}: endpoint unreachable (${e.code ?? e.message})`, { cause: e });
    }
    const detail = `${what}: HTTP ${res.status}: ${describeBody(res.data)}`;
    const opts = { cause: e, status: res.status };
    if (res.status === 401 || res.status === 403) return new ChainError('CHAIN_UNAUTHORIZED', detail, opts);
    if (res.status === 429 || res.status === 502 || res.status === 503) return new ChainError('CHAIN_UNAVAILABLE', detail, opts);
    if (res.status === 504) return new ChainError('CHAIN_TIMEOUT', detail, opts);
    if (sending && (res.status === 400 || res.status === 422 || res.status === 500)) return new ChainError('CHAIN_REJECTED', detail, opts);
    if (res.status >= 500) return new ChainError('CHAIN_UNAVAILABLE', detail, opts);
    return new ChainError('CHAIN_BAD_RESPONSE', detail, opts);
  }
  if (e instanceof Error && /^(Received error|Malformed response)/.test(e.message)) {
    return new ChainError('CHAIN_BAD_RESPONSE', `${what}: ${e.message}`, { cause: e });
  }
  return null;
}
