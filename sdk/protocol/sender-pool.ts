/**
 * A small pool of ready HPKE sender set-ups per verified recipient key, so the
 * client's encapsulation (≈0.3 ms X25519, ≈0.6–0.9 ms X-Wing) runs between
 * requests instead of before each one.
 *
 * Each prepared sender is handed out once: `take` removes it from the pool
 * and `sealRequest` consumes it (a second use is STATE_ERROR), so no two
 * requests ever share an encapsulation. Refills run later (on a 0 ms timer by
 * default), one at a time per recipient: when a `take` empties the pool, or
 * when the caller says it has time (`warm`). Unused ones expire (`maxAgeMs`) so ephemeral
 * secrets do not sit in memory indefinitely. Only feed it recipients taken
 * from verified evidence (DESIGN.md property 2).
 */
import { prepareSender, type PreparedSender, type Recipient } from './request.ts';
import type { AeadName } from '../hpke/hpke.ts';
import { DEFAULT_AEAD } from './request.ts';

export interface SenderPoolOptions {
  /** Prepared senders kept ready per recipient (default 2). */
  size?: number;
  /** Recipients tracked at once; the least recently used is dropped (default 32). */
  maxRecipients?: number;
  /** An unused prepared sender older than this is discarded (default 60 000 ms). */
  maxAgeMs?: number;
  /** Runs a refill later (default: setTimeout 0). */
  schedule?: (run: () => void) => void;
  /** Clock, ms (default Date.now). */
  now?: () => number;
}

interface Entry {
  recipient: Recipient;
  aead: AeadName;
  ready: PreparedSender[];
  filling: boolean;
  scheduled: boolean;
  /** The last refill failed: wait for the next take before trying again. */
  failed: boolean;
}

/** Pool keys by public-key array object: a verified worker's key object is reused for every request. */
const hexCache = new WeakMap<Uint8Array, string>();

function hexOf(b: Uint8Array): string {
  const hit = hexCache.get(b);
  if (hit !== undefined) return hit;
  let s = '';
  for (let i = 0; i < b.length; i++) s += (b[i]! < 16 ? '0' : '') + b[i]!.toString(16);
  hexCache.set(b, s);
  return s;
}

export class SenderPool {
  private readonly size: number;
  private readonly maxRecipients: number;
  private readonly maxAgeMs: number;
  private readonly schedule: (run: () => void) => void;
  private readonly now: () => number;
  private readonly entries = new Map<string, Entry>();
  private readonly running = new Set<Promise<void>>();
  /** Prepared senders made so far (diagnostics and tests). */
  prepared = 0;

  constructor(opts: SenderPoolOptions = {}) {
    this.size = Math.max(1, opts.size ?? 2);
    this.maxRecipients = Math.max(1, opts.maxRecipients ?? 32);
    this.maxAgeMs = opts.maxAgeMs ?? 60_000;
    this.schedule = opts.schedule ?? ((run) => void setTimeout(run, 0));
    this.now = opts.now ?? (() => Date.now());
  }

  private key(recipient: Recipient, aead: AeadName): string {
    return `${recipient.kem}|${aead}|${hexOf(recipient.publicKey)}`;
  }

  private entry(recipient: Recipient, aead: AeadName): Entry {
    const k = this.key(recipient, aead);
    let e = this.entries.get(k);
    if (e) {
      this.entries.delete(k); // re-insert: most recently used last
    } else {
      e = { recipient: { kem: recipient.kem, publicKey: recipient.publicKey.slice() }, aead, ready: [], filling: false, scheduled: false, failed: false };
      if (this.entries.size >= this.maxRecipients) {
        const [oldest, old] = this.entries.entries().next().value as [string, Entry];
        for (const p of old.ready) p.discard();
        this.entries.delete(oldest);
      }
    }
    this.entries.set(k, e);
    return e;
  }

  /** Start keeping senders ready for this recipient (no-op when already full). */
  warm(recipient: Recipient, aead: AeadName = DEFAULT_AEAD): void {
    const e = this.entry(recipient, aead);
    e.failed = false;
    this.refillLater(e);
  }

  /**
   * A ready prepared sender for this recipient, removed from the pool (never
   * handed out twice), or null when none is ready — seal inline then. When
   * this leaves the pool empty a refill is scheduled at once; otherwise call
   * `warm` when the refill will not compete with latency-critical work
   * (`sealedFetch` does once the response's first bytes are out: on a busy
   * machine a refill during the worker's open delays the first token).
   */
  take(recipient: Recipient, aead: AeadName = DEFAULT_AEAD): PreparedSender | null {
    const e = this.entry(recipient, aead);
    e.failed = false;
    const oldest = this.now() - this.maxAgeMs;
    let got: PreparedSender | null = null;
    while (e.ready.length > 0) {
      const p = e.ready.shift()!;
      if (p.spent) continue;
      if (p.createdAt < oldest) {
        p.discard();
        continue;
      }
      got = p;
      break;
    }
    if (e.ready.length === 0) this.refillLater(e);
    return got;
  }

  /** Ready senders for this recipient (tests, diagnostics). */
  readyCount(recipient: Recipient, aead: AeadName = DEFAULT_AEAD): number {
    return this.entries.get(this.key(recipient, aead))?.ready.length ?? 0;
  }

  /** Discard everything (e.g. verdicts were cleared). */
  clear(): void {
    for (const e of this.entries.values()) for (const p of e.ready) p.discard();
    this.entries.clear();
  }

  private refillLater(e: Entry): void {
    if (e.scheduled || e.filling || e.failed || e.ready.length >= this.size) return;
    e.scheduled = true;
    this.schedule(() => {
      e.scheduled = false;
      const p = this.refill(e);
      this.running.add(p);
      void p.finally(() => this.running.delete(p));
    });
  }

  /** Resolves once no refill is running (tests, orderly shutdown). */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.all(this.running);
  }

  /** One at a time per recipient: an X-Wing encapsulation is ≈0.5 ms of JavaScript. */
  private async refill(e: Entry): Promise<void> {
    if (e.filling) return;
    e.filling = true;
    try {
      while (e.ready.length < this.size && this.entries.get(this.key(e.recipient, e.aead)) === e) {
        const p = await prepareSender(e.recipient, e.aead);
        this.prepared++;
        if (this.entries.get(this.key(e.recipient, e.aead)) !== e) {
          p.discard();
          break;
        }
        e.ready.push(p);
      }
    } catch {
      // A bad key fails the same way inline, where the caller sees the typed error.
      e.failed = true;
    } finally {
      e.filling = false;
    }
  }
}
