import { describe, expect, it } from 'vitest';
import { ApiError } from '../errors/index.ts';
import { RateLimiter } from './index.ts';

describe('RateLimiter', () => {
  it('allows rpm requests per minute, then 429 with retry-after', () => {
    const l = new RateLimiter();
    const t0 = 1_000_000 * 60_000;
    for (let i = 0; i < 5; i++) l.admit('k', { rpm: 5, tpm: 1e9 }, t0 + i);
    let err: unknown;
    try {
      l.admit('k', { rpm: 5, tpm: 1e9 }, t0 + 10);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(429);
    expect(Number((err as ApiError).headers()['retry-after'])).toBeGreaterThan(0);
    // Other keys are independent.
    l.admit('other', { rpm: 5, tpm: 1e9 }, t0 + 10);
  });

  it('slides: the previous minute weighs less as the current one goes on', () => {
    const l = new RateLimiter();
    const t0 = 2_000_000 * 60_000;
    for (let i = 0; i < 10; i++) l.admit('k', { rpm: 10, tpm: 1e9 }, t0);
    expect(() => l.admit('k', { rpm: 10, tpm: 1e9 }, t0 + 60_000 + 1_000)).toThrow(ApiError);
    l.admit('k', { rpm: 10, tpm: 1e9 }, t0 + 60_000 + 45_000);
  });

  it('refuses new requests once the minute’s tokens are spent', () => {
    const l = new RateLimiter();
    const t0 = 3_000_000 * 60_000;
    l.admit('k', { rpm: 100, tpm: 50 }, t0);
    l.addTokens('k', 60, t0);
    expect(() => l.admit('k', { rpm: 100, tpm: 50 }, t0 + 1)).toThrow(/tokens per minute/);
    l.admit('k', { rpm: 100, tpm: 50 }, t0 + 120_000);
  });
});
