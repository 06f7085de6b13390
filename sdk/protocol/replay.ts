/**
 * ReplayGuard: the set of replay ids (SHA-256 of the request's enc) a worker
 * has accepted, each remembered for `ttlMs` — set it to at least the remaining
 * validity of the worker's evidence, since the HPKE key (and so any old
 * request) stays usable for that long. Memory is bounded by `maxEntries`;
 * when the guard is full of unexpired ids it refuses new requests
 * (REPLAY_GUARD_FULL) rather than forget an id and let a replay through.
 */
import { SealError } from '../hpke/errors.ts';

export interface ReplayGuardOptions {
  /** How long an id is remembered, in milliseconds. */
  ttlMs: number;
  /** Upper bound on remembered ids (default 1,000,000 ≈ 100 MB worst case). */
  maxEntries?: number;
  /** Clock in milliseconds (default Date.now); injectable for tests. */
  now?: () => number;
}

function key(id: Uint8Array): string {
  let s = '';
  for (let i = 0; i < id.length; i++) s += id[i]!.toString(16).padStart(2, '0');
  return s;
}

export class ReplayGuard {
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  /** id -> expiry; insertion order == expiry order because ttl is constant and time is made monotonic. */
  private readonly seen = new Map<string, number>();
  private lastNow = -Infinity;

  constructor(opts: ReplayGuardOptions) {
    if (!(opts.ttlMs > 0)) throw new SealError('INVALID_ARGUMENT', 'ttlMs must be positive');
    this.ttlMs = opts.ttlMs;
    this.maxEntries = opts.maxEntries ?? 1_000_000;
    if (!(this.maxEntries > 0)) throw new SealError('INVALID_ARGUMENT', 'maxEntries must be positive');
    this.now = opts.now ?? (() => Date.now());
  }

  private tick(): number {
    const t = Math.max(this.now(), this.lastNow);
    this.lastNow = t;
    return t;
  }

  private prune(t: number): void {
    for (const [k, exp] of this.seen) {
      if (exp > t) break;
      this.seen.delete(k);
    }
  }

  /** Number of ids currently remembered (after dropping expired ones). */
  get size(): number {
    this.prune(this.tick());
    return this.seen.size;
  }

  /** True if `id` was accepted and has not expired. */
  has(id: Uint8Array): boolean {
    const t = this.tick();
    this.prune(t);
    return this.seen.has(key(id));
  }

  /** Throws REPLAY if `id` was seen; otherwise remembers it. Throws REPLAY_GUARD_FULL when at capacity. */
  checkAndRemember(id: Uint8Array): void {
    if (!(id instanceof Uint8Array) || id.length === 0) throw new SealError('INVALID_ARGUMENT', 'bad replay id');
    const t = this.tick();
    this.prune(t);
    const k = key(id);
    if (this.seen.has(k)) throw new SealError('REPLAY', 'request replayed');
    if (this.seen.size >= this.maxEntries) {
      throw new SealError('REPLAY_GUARD_FULL', 'replay guard full; refusing request');
    }
    this.seen.set(k, t + this.ttlMs);
  }

  /** Forget everything (e.g. after rotating the HPKE key: old requests can no longer be opened). */
  clear(): void {
    this.seen.clear();
  }
}
