import { gpuNonceFor, reportDataFor } from './binding.ts';
import { parseEvidenceBundle } from './bundle.ts';
import {
  EvidenceExpiredError,
  GpuEvidenceRequiredError,
  KindNotAllowedError,
  MalformedEvidenceError,
  NonceMismatchError,
  ReportDataMismatchError,
  UnsupportedFormatError,
} from './errors.ts';
import type { GpuKind, GpuVerdict, GpuVerifier, TeeKind, TeeVerifier, Verdict, VerifyContext } from './types.ts';
import { equalBytes, fromBase64 } from './util/bytes.ts';

/** Tolerated clock skew between an enclave and a verifier, seconds. */
const MAX_SKEW_SECONDS = 60;

/**
 * Fetches collateral for TEE evidence (e.g. Intel PCS/PCCS for DCAP quotes).
 * When it is given, its answer is used instead of collateral a worker shipped
 * in its bundle, and a failure rejects (fail closed). Returns `undefined` for
 * kinds it does not serve, which keeps the bundle's own collateral.
 */
export type CollateralResolver = (kind: TeeKind, evidence: Uint8Array) => Promise<unknown | undefined>;

/** Which verifiers a bundle verifier dispatches to. */
export interface VerifierSet {
  tee: ReadonlyArray<TeeVerifier>;
  gpu: ReadonlyArray<GpuVerifier>;
  collateral?: CollateralResolver;
}

/** Options for one bundle verification. */
export interface BundleVerifyOptions extends VerifyContext {
  /** The nonce the caller issued (hex). The bundle's binding must carry exactly this one. */
  expectedNonce: string;
}

/** Verifies a whole evidence bundle; see `createBundleVerifier`. */
export type BundleVerifier = (bundle: unknown, options: BundleVerifyOptions) => Promise<Verdict>;

/**
 * Builds the one verification entry point used by the gateway (admission) and
 * the SDK (client-side checks): validates the bundle's shape, checks the nonce,
 * verifies TEE evidence with its kind's verifier, checks that report data binds
 * the keys, nonce and models, verifies GPU evidence against the derived GPU
 * nonce, and computes the verdict's expiry.
 *
 * @example
 * const verify = createBundleVerifier({ tee: [simulatedVerifier], gpu: [] });
 * const verdict = await verify(bundle, { policy, now, expectedNonce });
 */
export function createBundleVerifier(set: VerifierSet): BundleVerifier {
  const tee = new Map<TeeKind, TeeVerifier>(set.tee.map((v) => [v.kind, v]));
  const gpu = new Map<GpuKind, GpuVerifier>(set.gpu.map((v) => [v.kind, v]));
  return async (input, options) => {
    const bundle = parseEvidenceBundle(input);
    const { policy, now } = options;
    if (bundle.binding.nonce !== options.expectedNonce.toLowerCase()) {
      throw new NonceMismatchError('evidence bundle is bound to a different nonce');
    }
    const issuedAt = bundle.binding.issuedAt;
    if (issuedAt !== undefined) {
      if (issuedAt > now + MAX_SKEW_SECONDS) throw new EvidenceExpiredError(`evidence issued in the future (${issuedAt} > ${now})`);
      if (now - issuedAt > policy.maxEvidenceAgeSeconds) {
        throw new EvidenceExpiredError(`evidence is ${now - issuedAt}s old; policy allows ${policy.maxEvidenceAgeSeconds}s`);
      }
    }
    const teeVerifier = tee.get(bundle.tee.kind);
    if (!teeVerifier) throw new UnsupportedFormatError(`no verifier for TEE evidence kind ${bundle.tee.kind}`);
    if (bundle.tee.kind !== 'simulated' && !policyAllowsKind(options, bundle.tee.kind)) {
      throw new KindNotAllowedError(`policy has no ${bundle.tee.kind} section`);
    }
    let evidence: Uint8Array;
    try {
      evidence = fromBase64(bundle.tee.evidence);
    } catch {
      throw new MalformedEvidenceError('TEE evidence is not base64');
    }
    const fetched = set.collateral ? await set.collateral(bundle.tee.kind, evidence) : undefined;
    const teeVerdict = await teeVerifier.verify(evidence, fetched ?? bundle.tee.collateral, options);
    const expected = await reportDataFor(bundle.binding);
    if (!equalBytes(teeVerdict.reportData, expected)) {
      throw new ReportDataMismatchError('report data does not commit to the presented keys, nonce and models');
    }

    const gpuNonce = await gpuNonceFor(expected);
    const gpus: GpuVerdict[] = [];
    for (const g of bundle.gpus ?? []) {
      const v = gpu.get(g.kind);
      if (!v) throw new UnsupportedFormatError(`no verifier for GPU evidence kind ${g.kind}`);
      gpus.push(await v.verify(g.evidence, gpuNonce, options));
    }
    const gpuCount = gpus.reduce((n, g) => n + g.gpus.length, 0);
    if (policy.gpu.required && gpuCount < policy.gpu.minCount) {
      throw new GpuEvidenceRequiredError(`policy requires ${policy.gpu.minCount} attested GPU(s), got ${gpuCount}`);
    }
    const expiresAt = Math.min(
      teeVerdict.expiresAt,
      ...(issuedAt !== undefined ? [issuedAt + policy.maxEvidenceAgeSeconds] : []),
      ...gpus.map((g) => g.expiresAt),
      now + policy.maxVerdictSeconds,
    );
    return { tee: teeVerdict, gpus, binding: bundle.binding, evaluatedAt: now, expiresAt };
  };
}

function policyAllowsKind(ctx: VerifyContext, kind: Exclude<TeeKind, 'simulated'>): boolean {
  return kind === 'tdx' ? ctx.policy.tdx !== undefined : ctx.policy.sevSnp !== undefined;
}
