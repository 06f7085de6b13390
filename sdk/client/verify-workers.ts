/**
 * Client-side verification of the workers a gateway lists. The gateway is not
 * trusted: its `verdict` field is ignored, every bundle is verified here
 * against the client's own policy, and the id the gateway gives a worker must
 * be the one its bound keys derive to.
 */
import {
  AttestationError,
  EvidenceExpiredError,
  canonicalJson,
  parseEvidenceBundle,
  parsePolicy,
  verifyBundle,
  workerIdFor,
  type BoundKey,
  type BundleVerifier,
  type EvidenceBundle,
  type Policy,
  type PolicyInput,
  type Verdict,
} from '../../attestation/index.ts';
import { digestHex, decodeKey, isSealError, selectRecipient, type KemName, type Recipient } from '../protocol/index.ts';
import { utf8 } from '../../attestation/util/bytes.ts';
import { MalformedListingError, ModelNotBoundError, ReceiptKeyMissingError, WorkerIdMismatchError, type WorkerRejection } from './errors.ts';

/** One entry of `GET /v1/workers` as the gateway serves it (untrusted). */
export interface WorkerListing {
  id: string;
  models: string[];
  admittedUntil?: number;
  evidence: unknown;
  /** The gateway's own opinion; never used. */
  verdict?: unknown;
}

/** A worker whose evidence this client verified itself. */
export interface VerifiedWorker {
  id: string;
  /** Models the evidence binds (not the gateway's list). */
  models: string[];
  bundle: EvidenceBundle;
  verdict: Verdict;
  /** The HPKE recipient chosen from the bound keys. */
  recipient: Recipient;
  /** Raw Ed25519 receipt key bound by the evidence. */
  receiptKey: Uint8Array;
}

export interface VerifyWorkersResult {
  verified: VerifiedWorker[];
  rejected: WorkerRejection[];
}

export interface WorkerVerifierOptions {
  /** The client's own policy (parsed with `parsePolicy`). */
  policy: Policy | PolicyInput;
  /** Bundle verifier; default: every evidence kind, collateral from the bundle. */
  verify?: BundleVerifier;
  /** Clock, unix seconds. */
  now?: () => number;
  /** KEMs the client accepts, in any order (X-Wing is preferred when offered). */
  allowKems?: readonly KemName[];
  /** How long a refusal is remembered for the same bundle bytes, seconds (default 30). */
  refusalTtlSeconds?: number;
}

interface CacheEntry {
  /** Unix seconds after which the entry is not used. */
  until: number;
  ok?: { bundle: EvidenceBundle; verdict: Verdict; derivedId: string; recipient: Recipient; receiptKey: Uint8Array };
  error?: AttestationError | Error;
}

const MAX_CACHE = 4096;

/**
 * Verifies listed workers and caches verdicts by a digest of the bundle until
 * the verdict expires (refusals for a short while), so a request pays for
 * verification only when a worker re-attests.
 *
 * @example
 * const v = new WorkerVerifier({ policy });
 * const { verified, rejected } = await v.verifyWorkers(listing.data, { model: 'llm' });
 */
export class WorkerVerifier {
  readonly policy: Policy;
  private readonly verify: BundleVerifier;
  private readonly now: () => number;
  private readonly allowKems: readonly KemName[] | undefined;
  private readonly refusalTtl: number;
  private readonly cache = new Map<string, CacheEntry>();
  private readonly inflight = new Map<string, Promise<CacheEntry>>();
  /** Bundle digests by object: a cached worker list is not re-serialized and re-hashed on every request. */
  private readonly digests = new WeakMap<object, string>();

  constructor(opts: WorkerVerifierOptions) {
    this.policy = parsePolicy(opts.policy);
    this.verify = opts.verify ?? verifyBundle;
    this.now = opts.now ?? (() => Math.floor(Date.now() / 1000));
    this.allowKems = opts.allowKems;
    this.refusalTtl = opts.refusalTtlSeconds ?? 30;
  }

  /** Forget every cached verdict. */
  clear(): void {
    this.cache.clear();
  }

  /** Number of cached verdicts (for tests and diagnostics). */
  get size(): number {
    return this.cache.size;
  }

  /**
   * Verifies one listed worker; resolves with what the client may use, or
   * throws an `AttestationError` (or a `SealError` for an unusable key offer)
   * with a stable code.
   */
  async verifyWorker(listing: WorkerListing, opts: { model?: string } = {}): Promise<VerifiedWorker> {
    if (!listing || typeof listing !== 'object' || typeof listing.id !== 'string') {
      throw new MalformedListingError('worker entry has no id');
    }
    const key = this.digestOf(listing.evidence);
    const now = this.now();
    let entry = this.cache.get(key);
    if (!entry || entry.until <= now) {
      let p = this.inflight.get(key);
      if (!p) {
        p = this.evaluate(listing.evidence, now).finally(() => this.inflight.delete(key));
        this.inflight.set(key, p);
      }
      entry = await p;
      if (this.cache.size >= MAX_CACHE) this.prune(now);
      this.cache.set(key, entry);
    }
    if (entry.error) throw entry.error;
    const ok = entry.ok!;
    if (ok.derivedId !== listing.id) {
      throw new WorkerIdMismatchError(`the gateway labels this worker ${listing.id}, but its bound keys make it ${ok.derivedId}`);
    }
    const models = ok.bundle.binding.models.map((m) => m.id);
    if (opts.model !== undefined && !models.includes(opts.model)) {
      throw new ModelNotBoundError(`worker ${listing.id}'s evidence does not bind model ${opts.model}`);
    }
    return { id: listing.id, models, bundle: ok.bundle, verdict: ok.verdict, recipient: ok.recipient, receiptKey: ok.receiptKey };
  }

  /**
   * Verifies every listed worker that claims `model` (all of them without
   * `model`), in parallel; never throws for a single worker.
   */
  async verifyWorkers(listings: readonly WorkerListing[], opts: { model?: string } = {}): Promise<VerifyWorkersResult> {
    const candidates = opts.model === undefined ? listings : listings.filter((w) => Array.isArray(w?.models) && w.models.includes(opts.model!));
    const results = await Promise.all(
      candidates.map(async (w) => {
        try {
          return { ok: await this.verifyWorker(w, opts) };
        } catch (e) {
          return { err: rejectionOf(w, e) };
        }
      }),
    );
    const verified: VerifiedWorker[] = [];
    const rejected: WorkerRejection[] = [];
    for (const r of results) {
      if (r.ok) verified.push(r.ok);
      else rejected.push(r.err!);
    }
    return { verified, rejected };
  }

  private digestOf(evidence: unknown): string {
    if (evidence === null || typeof evidence !== 'object') return digestHex(utf8(canonicalJson(evidence ?? null)));
    let d = this.digests.get(evidence);
    if (d === undefined) {
      d = digestHex(utf8(canonicalJson(evidence)));
      this.digests.set(evidence, d);
    }
    return d;
  }

  private async evaluate(evidence: unknown, now: number): Promise<CacheEntry> {
    try {
      const bundle = parseEvidenceBundle(evidence);
      // Clients require the bound issue time: without it nothing bounds the evidence's age.
      if (bundle.binding.issuedAt === undefined) {
        throw new EvidenceExpiredError('evidence carries no issue time (binding.issuedAt); the client cannot tell how old it is');
      }
      // The gateway's nonce cannot be checked by a client; freshness comes from issuedAt,
      // which the report data binds and the verifier checks against policy.maxEvidenceAgeSeconds.
      const verdict = await this.verify(bundle, { policy: this.policy, now, expectedNonce: bundle.binding.nonce });
      const keys: BoundKey[] = verdict.binding.keys;
      const derivedId = await workerIdFor(keys);
      const recipient = selectRecipient(keys, this.allowKems ? { allow: this.allowKems } : {});
      const rk = keys.find((k) => k.use === 'receipt' && k.alg === 'Ed25519');
      if (!rk) throw new ReceiptKeyMissingError('evidence binds no Ed25519 receipt key');
      const receiptKey = decodeKey(rk.key);
      if (receiptKey.length !== 32) throw new ReceiptKeyMissingError('receipt key is not 32 bytes');
      return { until: Math.min(verdict.expiresAt, now + this.policy.maxVerdictSeconds), ok: { bundle, verdict, derivedId, recipient, receiptKey } };
    } catch (e) {
      return { until: now + this.refusalTtl, error: e instanceof Error ? e : new Error(String(e)) };
    }
  }

  private prune(now: number) {
    for (const [k, v] of this.cache) if (v.until <= now) this.cache.delete(k);
    if (this.cache.size >= MAX_CACHE) this.cache.clear();
  }
}

function rejectionOf(w: WorkerListing, e: unknown): WorkerRejection {
  const id = typeof w?.id === 'string' ? w.id : '(no id)';
  if (e instanceof AttestationError || isSealError(e)) return { id, code: e.code, message: e.message };
  return { id, code: 'VERIFY_FAILED', message: e instanceof Error ? e.message : String(e) };
}

/**
 * One-shot verification without a cache: the workers of a `GET /v1/workers`
 * answer that verify against `policy`, and the refusals with their codes.
 */
export async function verifyWorkers(
  listings: readonly WorkerListing[],
  opts: WorkerVerifierOptions & { model?: string },
): Promise<VerifyWorkersResult> {
  return new WorkerVerifier(opts).verifyWorkers(listings, opts.model !== undefined ? { model: opts.model } : {});
}
