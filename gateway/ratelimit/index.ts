import { rateLimited } from '../errors/index.ts';

export interface RateLimits {
  /** Requests per minute. */
  rpm: number;
  /** Tokens (prompt + completion) per minute. */
  tpm: number;
}

interface Window {
  /** Start of the current one-minute window (ms). */
  start: number;
  requests: number;
  tokens: number;
  prevRequests: number;
  prevTokens: number;
}

const MINUTE = 60_000;

/**
 * Per-key limits over a sliding minute (current window plus the weighted
 * remainder of the previous one), in memory per gateway instance.
 *
 * @example
 * limiter.admit(keyId, { rpm: 60, tpm: 100_000 }); // throws 429 ApiError when over
 * limiter.addTokens(keyId, usage.total_tokens);
 */
export class RateLimiter {
  private windows = new Map<string, Window>();

  private window(key: string, now: number): Window {
    let w = this.windows.get(key);
    const start = now - (now % MINUTE);
    if (!w) {
      w = { start, requests: 0, tokens: 0, prevRequests: 0, prevTokens: 0 };
      this.windows.set(key, w);
    } else if (w.start !== start) {
      const adjacent = start - w.start === MINUTE;
      w.prevRequests = adjacent ? w.requests : 0;
      w.prevTokens = adjacent ? w.tokens : 0;
      w.requests = 0;
      w.tokens = 0;
      w.start = start;
    }
    return w;
  }

  /** Counts one request, or throws a 429 `ApiError` with `retry-after`. */
  admit(key: string, limits: RateLimits, now = Date.now()): void {
    const w = this.window(key, now);
    const weight = 1 - (now - w.start) / MINUTE;
    const retryAfter = (w.start + MINUTE - now) / 1000;
    if (w.requests + w.prevRequests * weight + 1 > limits.rpm) throw rateLimited('requests', retryAfter, limits.rpm);
    if (w.tokens + w.prevTokens * weight >= limits.tpm) throw rateLimited('tokens', retryAfter, limits.tpm);
    w.requests++;
  }

  /** Charges tokens used by a finished request. */
  addTokens(key: string, tokens: number, now = Date.now()): void {
    if (tokens > 0) this.window(key, now).tokens += tokens;
  }
}
