import { z } from 'zod';
import {
  AttestationError,
  NonceUnknownError,
  type BundleVerifier,
  type EvidenceBundle,
  type Policy,
  type Verdict,
} from '../../attestation/index.ts';
import { workerIdFor } from '../../attestation/binding.ts';
import { toBase64Url, toHex, utf8, equalBytes } from '../../attestation/util/bytes.ts';
import { bearerToken } from '../auth/index.ts';
import { ApiError, invalidRequest, notFound, unauthorized } from '../errors/index.ts';
import type { Storage } from '../storage/types.ts';
import { FREE, PriceSchema, rawAddress } from '../billing/index.ts';
import type { Price } from '../../sdk/protocol/receipt.ts';

/** Endpoints a worker can serve for a model. */
export const Endpoint = z.enum(['chat.completions', 'completions', 'embeddings']);
export type Endpoint = z.infer<typeof Endpoint>;

export const RegisterRequestSchema = z.strictObject({
  url: z.url({ protocol: /^https?$/ }).max(2048),
  bundle: z.unknown(),
  models: z
    .array(z.strictObject({ id: z.string().min(1).max(256), endpoints: z.array(Endpoint).min(1) }))
    .min(1)
    .max(64),
  /** Nanoton per token per model; a model without a price is free. Fixed for a worker id. */
  prices: z.record(z.string().max(256), PriceSchema).optional(),
  /** The provider's payment channel (payer: the operator); receipts' charges are paid through it. */
  payoutChannel: z.string().max(100).optional(),
});
export type RegisterRequest = z.infer<typeof RegisterRequestSchema>;

export const HeartbeatSchema = z.strictObject({
  inFlight: z.number().int().min(0).max(1_000_000),
  draining: z.boolean().optional(),
});

/** A worker the gateway currently admits. */
export interface AdmittedWorker {
  id: string;
  url: string;
  /** Shared secret between gateway and worker, in memory only. */
  token: string;
  models: Map<string, Set<Endpoint>>;
  bundle: EvidenceBundle;
  verdict: Verdict;
  admittedAt: number;
  /** ms since epoch. */
  admittedUntil: number;
  lastHeartbeat: number;
  reportedInFlight: number;
  draining: boolean;
  /** Price per served model (FREE when the worker set none). */
  prices: Map<string, Price>;
  /** Raw address of the provider's payout channel, or null. */
  payoutChannel: string | null;
}

export interface RegistryOptions {
  storage: Storage;
  verify: BundleVerifier;
  policy: Policy;
  /** Longest admission, seconds; also capped by the verdict's expiry. */
  admissionSeconds: number;
  /** Lifetime of a registration nonce, seconds. */
  challengeSeconds: number;
  /** Interval at which workers should heartbeat, ms. A worker silent for 3 intervals is not routed to. */
  heartbeatMs: number;
  maxOutstandingChallenges?: number;
  /** Checks a worker's payout channel (billing); throws an ApiError to refuse it. */
  checkPayoutChannel?: (rawAddress: string) => Promise<void>;
  now?: () => number;
}

/**
 * Admitted workers: single-use registration nonces, evidence verification
 * through `attestation/`, heartbeats, re-registration and deregistration.
 */
export class WorkerRegistry {
  private workers = new Map<string, AdmittedWorker>();
  private readonly now: () => number;

  constructor(private readonly opts: RegistryOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Issues a fresh single-use nonce (32 bytes, hex). */
  async challenge(): Promise<{ nonce: string; expiresAt: number }> {
    const now = this.now();
    const outstanding = await this.opts.storage.pruneChallenges(Math.floor(now / 1000));
    if (outstanding >= (this.opts.maxOutstandingChallenges ?? 10_000)) {
      throw new ApiError(429, 'requests', 'too_many_challenges', 'Too many outstanding registration challenges.', null, 10);
    }
    const nonce = toHex(crypto.getRandomValues(new Uint8Array(32)));
    const expiresAt = Math.floor(now / 1000) + this.opts.challengeSeconds;
    await this.opts.storage.putChallenge(nonce, expiresAt);
    return { nonce, expiresAt };
  }

  /**
   * Verifies a registration and admits the worker. Throws a 403 `ApiError`
   * whose code is the attestation error's stable code when evidence is refused.
   */
  async register(input: unknown): Promise<{ worker: AdmittedWorker; verdict: Verdict }> {
    const parsed = RegisterRequestSchema.safeParse(input);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw invalidRequest(`registration ${issue.path.join('.')}: ${issue.message}`, issue.path.join('.') || null);
    }
    const req = parsed.data;
    const nowMs = this.now();
    const now = Math.floor(nowMs / 1000);
    const nonce = (req.bundle as { binding?: { nonce?: unknown } } | null)?.binding?.nonce;
    let verdict: Verdict;
    try {
      if (typeof nonce !== 'string' || !(await this.opts.storage.takeChallenge(nonce.toLowerCase(), now))) {
        throw new NonceUnknownError('registration nonce was not issued by this gateway, was already used, or expired');
      }
      verdict = await this.opts.verify(req.bundle, { policy: this.opts.policy, now, expectedNonce: nonce });
    } catch (e) {
      if (e instanceof AttestationError) {
        throw new ApiError(403, 'permission_error', e.code, `worker evidence refused: ${e.code}: ${e.message}`, 'bundle');
      }
      throw e;
    }
    const bound = new Set(verdict.binding.models.map((m) => m.id));
    for (const m of req.models) {
      if (!bound.has(m.id)) {
        throw invalidRequest(`model ${m.id} is not among the models the evidence binds`, 'models');
      }
    }
    const id = await workerIdFor(verdict.binding.keys);
    const existing = this.workers.get(id);
    const prices = new Map(req.models.map((m) => [m.id, req.prices?.[m.id] ?? FREE]));
    for (const m of Object.keys(req.prices ?? {})) {
      if (!prices.has(m)) throw invalidRequest(`prices name model ${m}, which the worker does not serve`, 'prices');
    }
    const payoutChannel = req.payoutChannel === undefined ? null : rawAddress(req.payoutChannel, 'payoutChannel');
    // Receipts carry the price the worker signs; keeping it fixed per worker id means a
    // price the client accepted at routing time is the price it is charged.
    const before = await this.opts.storage.getWorker(id);
    if (before && before.deregisteredAt === null) {
      const samePrices = [...prices].every(([m, p]) => {
        const q = before.prices[m];
        return !q || (q.prompt === p.prompt && q.completion === p.completion);
      });
      if (!samePrices || (before.payoutChannel ?? null) !== payoutChannel) {
        throw new ApiError(409, 'invalid_request_error', 'worker_terms_changed', 'A worker keeps its prices and payout channel for its keys; restart it with new keys to change them.', 'prices');
      }
    }
    if (payoutChannel !== null) await this.opts.checkPayoutChannel?.(payoutChannel);
    const admittedUntil = Math.min(verdict.expiresAt * 1000, nowMs + this.opts.admissionSeconds * 1000);
    const worker: AdmittedWorker = {
      id,
      url: req.url.replace(/\/+$/, ''),
      token: existing?.token ?? toBase64Url(crypto.getRandomValues(new Uint8Array(32))),
      models: new Map(req.models.map((m) => [m.id, new Set(m.endpoints)])),
      bundle: req.bundle as EvidenceBundle,
      verdict,
      admittedAt: nowMs,
      admittedUntil,
      lastHeartbeat: nowMs,
      reportedInFlight: 0,
      draining: false,
      prices,
      payoutChannel,
    };
    this.workers.set(id, worker);
    await this.opts.storage.upsertWorker({
      id,
      url: worker.url,
      models: [...worker.models.keys()],
      evidence: req.bundle,
      verdict: verdictSummary(verdict),
      admittedAt: nowMs,
      admittedUntil,
      deregisteredAt: null,
      prices: Object.fromEntries(prices),
      payoutChannel,
    });
    return { worker, verdict };
  }

  /** Authenticates a worker's own call by its token. */
  authenticate(id: string, authorization: string | undefined): AdmittedWorker {
    const w = this.workers.get(id);
    if (!w) throw notFound(`worker ${id} is not registered; register again`);
    const token = bearerToken(authorization) ?? '';
    if (!equalBytes(utf8(token), utf8(w.token))) throw unauthorized('Incorrect worker token.');
    return w;
  }

  heartbeat(id: string, authorization: string | undefined, body: unknown): AdmittedWorker {
    const w = this.authenticate(id, authorization);
    const hb = HeartbeatSchema.safeParse(body);
    if (!hb.success) throw invalidRequest(`heartbeat: ${hb.error.issues[0]!.message}`);
    w.lastHeartbeat = this.now();
    w.reportedInFlight = hb.data.inFlight;
    w.draining = hb.data.draining ?? false;
    return w;
  }

  async deregister(id: string, authorization: string | undefined): Promise<void> {
    this.authenticate(id, authorization);
    this.workers.delete(id);
    await this.opts.storage.markWorkerDeregistered(id, this.now());
  }

  /** Whether `w` may receive requests now. */
  isRoutable(w: AdmittedWorker, now = this.now()): boolean {
    return !w.draining && w.admittedUntil > now && now - w.lastHeartbeat <= 3 * this.opts.heartbeatMs;
  }

  /** Routable workers serving `model` on `endpoint` (and accepted by `accept`, e.g. a price cap). */
  candidates(model: string, endpoint: Endpoint, accept?: (w: AdmittedWorker) => boolean): AdmittedWorker[] {
    const now = this.now();
    const out: AdmittedWorker[] = [];
    for (const w of this.workers.values()) {
      if (w.models.get(model)?.has(endpoint) && this.isRoutable(w, now) && (!accept || accept(w))) out.push(w);
    }
    return out;
  }

  /** Every routable worker. */
  routable(): AdmittedWorker[] {
    const now = this.now();
    return [...this.workers.values()].filter((w) => this.isRoutable(w, now));
  }

  /** Models served by at least one routable worker, with the earliest admission time. */
  models(): Map<string, number> {
    const out = new Map<string, number>();
    for (const w of this.routable()) {
      for (const m of w.models.keys()) out.set(m, Math.min(out.get(m) ?? Infinity, w.admittedAt));
    }
    return out;
  }

  get(id: string): AdmittedWorker | undefined {
    return this.workers.get(id);
  }
}

/** What of a verdict is stored and shown (no secrets; report data as hex). */
export function verdictSummary(v: Verdict): Record<string, unknown> {
  return {
    kind: v.tee.kind,
    measurements: v.tee.measurements,
    tcbStatus: v.tee.tcbStatus,
    advisoryIds: v.tee.advisoryIds,
    gpus: v.gpus.map((g) => ({ kind: g.kind, count: g.gpus.length })),
    evaluatedAt: v.evaluatedAt,
    expiresAt: v.expiresAt,
    insecure: v.tee.kind === 'simulated',
  };
}
