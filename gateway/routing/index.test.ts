import { describe, expect, it } from 'vitest';
import { Router } from './index.ts';

const W = [{ id: 'a' }, { id: 'b' }, { id: 'c' }];

describe('Router', () => {
  it('orders by fewest in flight, then lower latency', () => {
    const r = new Router();
    const slow = r.acquire('a');
    slow.done({ ok: true, latencyMs: 50 });
    const fast = r.acquire('b');
    fast.done({ ok: true, latencyMs: 5 });
    const busy = r.acquire('c');
    expect(r.order(W).map((w) => w.id)).toEqual(['b', 'a', 'c']);
    busy.done({ ok: true });
  });

  it('opens the circuit after consecutive failures, probes once after cooldown, closes on success', () => {
    let now = 0;
    const r = new Router({ failureThreshold: 3, cooldownMs: 1000, now: () => now });
    for (let i = 0; i < 3; i++) r.acquire('a').done({ ok: false });
    expect(r.order(W).map((w) => w.id)).not.toContain('a');
    now = 1000;
    expect(r.order(W).map((w) => w.id)).toContain('a');
    const probe = r.acquire('a');
    // Only one probe at a time.
    expect(r.order(W).map((w) => w.id)).not.toContain('a');
    probe.done({ ok: true, latencyMs: 1 });
    expect(r.order(W).map((w) => w.id)).toContain('a');
  });

  it('doubles the cooldown when a probe fails', () => {
    let now = 0;
    const r = new Router({ failureThreshold: 1, cooldownMs: 1000, now: () => now });
    r.acquire('a').done({ ok: false });
    now = 1000;
    r.acquire('a').done({ ok: false });
    now = 2500;
    expect(r.available('a')).toBe(false);
    now = 3000;
    expect(r.available('a')).toBe(true);
  });

  it('counts a lease once however often it is finished', () => {
    const r = new Router();
    const l = r.acquire('a');
    l.done({ ok: true });
    l.done({ ok: true });
    expect(r.inFlight('a')).toBe(0);
  });
});
