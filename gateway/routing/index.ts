/** Per-worker routing state kept by one gateway instance. */
interface WorkerState {
  inFlight: number;
  /** Exponentially weighted recent latency to first byte, ms. */
  latencyMs: number;
  consecutiveFailures: number;
  /** Breaker open until this time (ms); 0 when closed. */
  openUntil: number;
  cooldownMs: number;
  /** A half-open trial request is under way. */
  probing: boolean;
}

export interface RouterOptions {
  /** Consecutive failures that open a worker's circuit. */
  failureThreshold?: number;
  /** First cooldown, ms; doubles on each failed probe up to `maxCooldownMs`. */
  cooldownMs?: number;
  maxCooldownMs?: number;
  now?: () => number;
}

/** A routing decision: call `done` exactly once with the outcome. */
export interface Lease {
  workerId: string;
  done(outcome: { ok: boolean; latencyMs?: number }): void;
}

/**
 * Least-in-flight routing with latency tie-breaks and a circuit breaker per
 * worker. A worker whose circuit is open is skipped until its cooldown ends;
 * then one trial request probes it back (half-open).
 *
 * @example
 * for (const w of router.order(candidates)) { const lease = router.acquire(w.id); ... lease.done({ ok }) }
 */
export class Router {
  private state = new Map<string, WorkerState>();
  private readonly threshold: number;
  private readonly baseCooldown: number;
  private readonly maxCooldown: number;
  private readonly now: () => number;

  constructor(opts: RouterOptions = {}) {
    this.threshold = opts.failureThreshold ?? 3;
    this.baseCooldown = opts.cooldownMs ?? 5_000;
    this.maxCooldown = opts.maxCooldownMs ?? 120_000;
    this.now = opts.now ?? Date.now;
  }

  private get(id: string): WorkerState {
    let s = this.state.get(id);
    if (!s) {
      s = { inFlight: 0, latencyMs: 0, consecutiveFailures: 0, openUntil: 0, cooldownMs: this.baseCooldown, probing: false };
      this.state.set(id, s);
    }
    return s;
  }

  /** Whether the worker may be tried now (closed circuit, or cooldown over and no probe running). */
  available(id: string): boolean {
    const s = this.get(id);
    if (s.openUntil === 0) return true;
    return this.now() >= s.openUntil && !s.probing;
  }

  /** Candidates in the order to try them: available ones only, fewest in flight first, then lower latency. */
  order<T extends { id: string }>(candidates: T[]): T[] {
    return candidates
      .filter((c) => this.available(c.id))
      .sort((a, b) => {
        const sa = this.get(a.id);
        const sb = this.get(b.id);
        return sa.inFlight - sb.inFlight || sa.latencyMs - sb.latencyMs;
      });
  }

  /** Marks a request in flight on `id`. */
  acquire(id: string): Lease {
    const s = this.get(id);
    s.inFlight++;
    const trial = s.openUntil !== 0;
    if (trial) s.probing = true;
    let finished = false;
    return {
      workerId: id,
      done: ({ ok, latencyMs }) => {
        if (finished) return;
        finished = true;
        s.inFlight--;
        if (trial) s.probing = false;
        if (ok) {
          s.consecutiveFailures = 0;
          s.openUntil = 0;
          s.cooldownMs = this.baseCooldown;
          if (latencyMs !== undefined) s.latencyMs = s.latencyMs === 0 ? latencyMs : s.latencyMs * 0.8 + latencyMs * 0.2;
        } else {
          s.consecutiveFailures++;
          if (trial) {
            s.cooldownMs = Math.min(s.cooldownMs * 2, this.maxCooldown);
            s.openUntil = this.now() + s.cooldownMs;
          } else if (s.consecutiveFailures >= this.threshold) {
            s.openUntil = this.now() + s.cooldownMs;
          }
        }
      },
    };
  }

  /** In-flight count for `id` (for heartbeats and metrics). */
  inFlight(id: string): number {
    return this.state.get(id)?.inFlight ?? 0;
  }

  /** Forgets a worker (after deregistration). */
  forget(id: string): void {
    this.state.delete(id);
  }
}
