import { Hono } from 'hono';
import { reportDataFor, gpuNonceFor } from '../attestation/binding.ts';
import type { BindingClaims, EvidenceBundle } from '../attestation/types.ts';
import { equalBytes, toBase64, utf8 } from '../attestation/util/bytes.ts';
import { errorResponse, type Backend, type Endpoint } from './backends/types.ts';
import type { GpuEvidenceProvider, TeeEvidenceProvider } from './evidence/types.ts';
import { boundKeys, generateWorkerKeys, warmWorkerKeys, type WorkerKeys } from './keys.ts';
import { serveSealed } from './sealed.ts';
import { bearerToken } from '../gateway/auth/index.ts';
import { isSealError, MAX_BATCH_RECEIPTS, ReplayGuard, SessionReceiver, signReceiptBatch, type Price, type UnsignedReceipt } from '../sdk/protocol/index.ts';
import { canonicalJson } from '../attestation/binding.ts';
import { sha256 } from '@noble/hashes/sha2.js';
import { toHex } from '../attestation/util/bytes.ts';
import type { Usage } from '../gateway/forward/sse.ts';

export type WorkerEvent =
  | { event: 'registered'; workerId: string; admittedUntil: number; kind: string }
  | { event: 'registration_failed'; status: number; code: string | null; message: string }
  | { event: 'heartbeat_failed'; message: string }
  | { event: 'receipt_failed'; requestId: string; message: string }
  | { event: 'receipt_dropped'; requestId: string; message: string }
  | { event: 'deregistered'; workerId: string };

export interface EnclaveWorkerOptions {
  gatewayUrl: string;
  backend: Backend;
  tee: TeeEvidenceProvider;
  gpus?: GpuEvidenceProvider[];
  fetch?: (url: string, init: RequestInit) => Promise<Response>;
  /** Re-register when less than this fraction of the admission remains. */
  reattestFraction?: number;
  /** Price per model, nanoton per token (a model without one is free); signed into every receipt. */
  prices?: Record<string, Price>;
  /** The provider's payment channel (payer: the gateway operator), where receipts are paid. */
  payoutChannel?: string;
  onEvent?: (e: WorkerEvent) => void;
}

/** A registration the gateway refused. */
export class RegistrationError extends Error {
  constructor(
    readonly status: number,
    readonly code: string | null,
    message: string,
  ) {
    super(message);
    this.name = 'RegistrationError';
  }
}

/**
 * What the request handlers read of a request: a `Request` satisfies it, and the
 * Node adapter passes one without building a `Request` (`EnclaveWorker.direct`).
 */
export interface RequestLike {
  headers: { get(name: string): string | null };
  arrayBuffer(): Promise<ArrayBuffer | Uint8Array>;
  signal: AbortSignal;
}

/** Bound on undelivered receipts kept in memory. */
const MAX_OUTBOX = 100_000;

/** How long a queued receipt waits for others to share its delivery. */
const RECEIPT_BATCH_DELAY_MS = 20;

/**
 * What runs inside the TEE VM: holds the keys, attests to the gateway, serves
 * forwarded requests from its backend, heartbeats and re-attests, and drains
 * before deregistering. `app` is a runtime-agnostic Hono app; `enclave-runner/node.ts` serves it.
 */
export class EnclaveWorker {
  readonly keys: WorkerKeys = generateWorkerKeys();
  readonly app = new Hono();
  /** The completion routes and `/v1/sealed` (POST path -> handler), for the Node adapter's direct path; the same handler as `app`'s. */
  readonly direct = new Map<string, (req: RequestLike) => Promise<Response>>();
  id: string | null = null;
  private token: string | null = null;
  private admittedAt = 0;
  private admittedUntil = 0;
  private heartbeatMs = 5_000;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private inFlight = 0;
  private idle: Array<() => void> = [];
  private draining = false;
  /** Sealed requests already opened, refused if seen again while evidence for these keys can be valid. */
  private readonly replay = new ReplayGuard({ ttlMs: 24 * 3600 * 1000 });
  /** The gateway's sessions for its plain path's hop (docs/PROTOCOL.md §14); they die with `keys`. */
  readonly sessions = new SessionReceiver({ keys: this.keys.hpke, replayGuard: this.replay });
  /** Receipts the gateway has not acknowledged yet, by request id; retried until it does. */
  private readonly outbox = new Map<string, UnsignedReceipt & { sig?: string }>();
  private delivering: Promise<void> | null = null;
  private flushTimer: ReturnType<typeof setTimeout> | null = null;
  private url = '';
  private readonly fetcher: (url: string, init: RequestInit) => Promise<Response>;
  private readonly gateway: string;

  constructor(private readonly opts: EnclaveWorkerOptions) {
    this.fetcher = opts.fetch ?? ((u, i) => fetch(u, i));
    // Best effort: a failure here just means the first request does the work.
    warmWorkerKeys(this.keys).catch(() => {});
    this.gateway = opts.gatewayUrl.replace(/\/+$/, '');
    this.app.get('/healthz', (c) => c.json({ status: this.draining ? 'draining' : 'ok', inFlight: this.inFlight }));
    this.app.post('/v1/sealed', (c) => this.sealed(c.req.raw));
    this.direct.set('/v1/sealed', (req) => this.sealed(req));
    this.app.post('/v1/sessions', (c) => this.openSession(c.req.raw));
    this.direct.set('/v1/sessions', (req) => this.openSession(req));
  }

  private priceOf(model: string): Price {
    const p = this.opts.prices?.[model];
    return p ? { prompt: p.prompt, completion: p.completion } : { prompt: '0', completion: '0' };
  }

  /**
   * Queues a plain request's receipt (digests of the request and response
   * bytes). It is signed with the others of its delivery batch: nobody but the
   * gateway receives it, so one signature per batch does.
   */
  private plainReceipt(req: RequestLike, endpoint: Endpoint, model: string, usage: Usage | null, requestDigest: string, responseDigest: string) {
    if (!this.id) return;
    this.queueReceipt({
          v: 1,
          requestId: req.headers.get('x-request-id') ?? 'unknown',
          workerId: this.id,
          model,
          endpoint,
          promptTokens: usage?.prompt_tokens ?? 0,
          completionTokens: usage?.completion_tokens ?? 0,
          requestDigest,
          responseDigest,
          time: Date.now(),
          account: req.headers.get('x-sealgate-account') ?? '',
          price: this.priceOf(model),
    });
  }

  /** Queues a receipt for the gateway; deliveries gather what arrives within a few milliseconds. */
  private queueReceipt(receipt: UnsignedReceipt & { sig?: string }): void {
    this.outbox.set(receipt.requestId, receipt);
    if (this.outbox.size > MAX_OUTBOX) {
      const [oldest] = this.outbox.keys();
      this.outbox.delete(oldest!);
      this.emit({ event: 'receipt_dropped', requestId: oldest!, message: `more than ${MAX_OUTBOX} receipts undelivered` });
    }
    if (this.flushTimer === null && !this.delivering) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = null;
        void this.flushReceipts();
      }, RECEIPT_BATCH_DELAY_MS);
    }
  }

  /**
   * Delivers queued receipts in clear, in batches signed once with the receipt
   * key (the gateway verifies the batch and commits it before answering). A
   * receipt stays queued until the gateway acknowledges it, across gateway
   * restarts and re-registrations; one the gateway refuses as invalid is
   * dropped, since it can never succeed. Each call sends what was queued when
   * it started, so a steady stream of new receipts cannot keep it running.
   */
  flushReceipts(): Promise<void> {
    if (this.delivering) return this.delivering;
    this.delivering = (async () => {
      const queued = [...this.outbox.values()];
      for (let i = 0; i < queued.length; i += MAX_BATCH_RECEIPTS) {
        if (!this.id || !this.token) return;
        const part = queued.slice(i, i + MAX_BATCH_RECEIPTS);
        try {
          const batch = await signReceiptBatch(this.id, part, this.keys.receipt.secretKey);
          const res = await this.call('POST', `/v1/workers/${this.id}/receipts`, { batch });
          const { refused = [] } = (await res.json()) as { refused?: Array<{ requestId: string; message: string }> };
          for (const r of part) this.outbox.delete(r.requestId);
          for (const r of refused) this.emit({ event: 'receipt_dropped', requestId: r.requestId, message: r.message });
        } catch (e) {
          if (e instanceof RegistrationError && e.status === 400) {
            for (const r of part) {
              this.outbox.delete(r.requestId);
              this.emit({ event: 'receipt_dropped', requestId: r.requestId, message: e.message });
            }
            continue;
          }
          this.emit({ event: 'receipt_failed', requestId: part[0]!.requestId, message: e instanceof Error ? e.message : String(e) });
          return; // the gateway is unreachable or does not know us: retry after the next heartbeat
        }
      }
    })().finally(() => {
      this.delivering = null;
      // Receipts queued while this delivery ran go in the next one.
      if (this.outbox.size > 0 && this.flushTimer === null && this.id && this.token) {
        this.flushTimer = setTimeout(() => {
          this.flushTimer = null;
          void this.flushReceipts();
        }, RECEIPT_BATCH_DELAY_MS);
      }
    });
    return this.delivering;
  }

  /** Receipts not yet acknowledged by the gateway. */
  get pendingReceipts(): number {
    return this.outbox.size;
  }

  private emit(e: WorkerEvent) {
    this.opts.onEvent?.(e);
  }

  private authorized(req: RequestLike): boolean {
    const token = bearerToken(req.headers.get('authorization'));
    return !!token && !!this.token && equalBytes(utf8(token), utf8(this.token));
  }

  /** A session open from the gateway (docs/PROTOCOL.md §14): 204, or 400 with the SealError code. */
  private async openSession(req: RequestLike): Promise<Response> {
    if (!this.authorized(req) || !this.id) {
      return errorResponse(401, 'Requests must come from the gateway this worker registered with.', null, 'invalid_worker_token');
    }
    try {
      await this.sessions.accept(new Uint8Array(await req.arrayBuffer()), utf8(canonicalJson({ worker: this.id })));
    } catch (e) {
      if (isSealError(e)) return errorResponse(400, `Session open refused: ${e.code}.`, null, e.code);
      throw e;
    }
    return new Response(null, { status: 204 });
  }

  /** A sealed request (docs/PROTOCOL.md §12, or §14 under a session), counted in flight until its answer is sent. */
  private async sealed(req: RequestLike): Promise<Response> {
    if (!this.authorized(req) || !this.id) {
      return errorResponse(401, 'Requests must come from the gateway this worker registered with.', null, 'invalid_worker_token');
    }
    if (this.draining) return errorResponse(503, 'This worker is draining.', null, 'worker_draining');
    this.inFlight++;
    return serveSealed(
      req,
      {
        workerId: this.id,
        keys: this.keys,
        backend: this.opts.backend,
        replay: this.replay,
        priceOf: (model) => this.priceOf(model),
        sessions: this.sessions,
        onReceipt: (receipt) => this.queueReceipt(receipt),
        onPlainReceipt: ({ endpoint, model, usage, request, responseHash }) => {
          // Digests off the answer's critical path; counted in flight until queued, as in `serve`.
          this.inFlight++;
          setTimeout(() => {
            try {
              this.plainReceipt(req, endpoint, model, usage(), toHex(sha256(request)), toHex(responseHash.digest()));
            } finally {
              this.release();
            }
          }, 0);
        },
      },
      () => this.release(),
    );
  }

  private release() {
    this.inFlight--;
    if (this.inFlight === 0) for (const f of this.idle.splice(0)) f();
  }

  /** Gets a nonce, collects evidence bound to it, and registers `url` with the gateway. */
  async register(url = this.url): Promise<void> {
    this.url = url;
    const ch = await this.call('POST', '/v1/workers/challenge', {});
    const { nonce } = (await ch.json()) as { nonce: string };
    const models = this.opts.backend.models();
    const binding: BindingClaims = {
      keys: boundKeys(this.keys),
      nonce,
      models: models.map((m) => ({ id: m.id, digest: m.digest })),
      issuedAt: Math.floor(Date.now() / 1000),
    };
    const reportData = await reportDataFor(binding);
    const tee = await this.opts.tee.collect(reportData);
    const gpuNonce = await gpuNonceFor(reportData);
    const gpus = await Promise.all((this.opts.gpus ?? []).map((g) => g.collect(gpuNonce)));
    const bundle: EvidenceBundle = {
      version: 1,
      tee: { kind: tee.kind, evidence: toBase64(tee.evidence), ...(tee.collateral !== undefined ? { collateral: tee.collateral } : {}) },
      ...(gpus.length ? { gpus } : {}),
      binding,
    };
    const res = await this.call('POST', '/v1/workers', {
      url,
      bundle,
      models: models.map((m) => ({ id: m.id, endpoints: m.endpoints })),
      ...(this.opts.prices ? { prices: this.opts.prices } : {}),
      ...(this.opts.payoutChannel ? { payoutChannel: this.opts.payoutChannel } : {}),
    });
    const body = (await res.json()) as { id: string; token: string; admittedUntil: number; heartbeatMs: number };
    this.id = body.id;
    this.token = body.token;
    this.admittedAt = Date.now();
    this.admittedUntil = body.admittedUntil;
    this.heartbeatMs = body.heartbeatMs;
    this.emit({ event: 'registered', workerId: body.id, admittedUntil: body.admittedUntil, kind: tee.kind });
  }

  private async call(method: string, path: string, body: unknown): Promise<Response> {
    const res = await this.fetcher(this.gateway + path, {
      method,
      headers: {
        'content-type': 'application/json',
        ...(this.token && this.id ? { authorization: `Bearer ${this.token}` } : {}),
      },
      body: method === 'DELETE' ? undefined : JSON.stringify(body),
    });
    if (!res.ok) {
      const env = (await res.json().catch(() => null)) as { error?: { message?: string; code?: string } } | null;
      const err = new RegistrationError(res.status, env?.error?.code ?? null, env?.error?.message ?? `gateway answered ${res.status}`);
      if (path.startsWith('/v1/workers') && method === 'POST' && path.endsWith('/v1/workers')) {
        this.emit({ event: 'registration_failed', status: err.status, code: err.code, message: err.message });
      }
      throw err;
    }
    return res;
  }

  /** Heartbeats on the gateway's interval; re-registers before admission runs out or when the gateway forgot us. */
  startHeartbeats(): void {
    const tick = async () => {
      try {
        const remaining = this.admittedUntil - Date.now();
        const span = this.admittedUntil - this.admittedAt;
        if (remaining < Math.max(3 * this.heartbeatMs, span * (this.opts.reattestFraction ?? 1 / 3))) {
          await this.register();
        } else {
          await this.call('POST', `/v1/workers/${this.id}/heartbeat`, { inFlight: this.inFlight, draining: this.draining });
        }
      } catch (e) {
        if (e instanceof RegistrationError && (e.status === 404 || e.status === 401)) {
          await this.register().catch(() => {});
        } else {
          this.emit({ event: 'heartbeat_failed', message: e instanceof Error ? e.message : String(e) });
        }
      }
      if (this.outbox.size > 0) void this.flushReceipts();
      if (this.timer !== null) this.schedule(tick);
    };
    this.schedule(tick);
  }

  private schedule(tick: () => Promise<void>) {
    this.timer = setTimeout(() => void tick(), this.heartbeatMs);
    (this.timer as { unref?: () => void }).unref?.();
  }

  /** Stops heartbeats without telling the gateway (a crash looks like this). */
  stopHeartbeats(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /**
   * Leaves cleanly: stops taking requests and tells the gateway (a draining
   * heartbeat), waits for in-flight requests (up to `timeoutMs`) and their
   * receipts to reach the gateway, then deregisters.
   */
  async drain(timeoutMs = 30_000): Promise<void> {
    this.draining = true;
    this.stopHeartbeats();
    const registered = this.id && this.token;
    if (registered) {
      await this.call('POST', `/v1/workers/${this.id}/heartbeat`, { inFlight: this.inFlight, draining: true }).catch(() => {});
    }
    if (this.inFlight > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, timeoutMs);
        this.idle.push(() => (clearTimeout(t), resolve()));
      });
    }
    // Everything queued goes out before leaving, as long as the gateway keeps taking it.
    for (let before = Infinity; this.outbox.size > 0 && this.outbox.size < before; ) {
      before = this.outbox.size;
      await this.flushReceipts();
    }
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    if (registered) {
      await this.call('DELETE', `/v1/workers/${this.id}`, null).catch(() => {});
      this.emit({ event: 'deregistered', workerId: this.id! });
    }
  }

  get requestsInFlight(): number {
    return this.inFlight;
  }
}
