/**
 * Evidence parsing, verification and policy. Runtime-agnostic: Web Crypto and
 * pure TypeScript only, so the gateway, the SDK, browsers and Workers share it.
 */
export * from './errors.ts';
export * from './types.ts';
export { parsePolicy, PolicySchema, matchesMeasurementSet, type Policy, type PolicyInput } from './policy.ts';
export { reportDataFor, gpuNonceFor, canonicalJson, workerIdFor, REPORT_DATA_TAG, GPU_NONCE_TAG } from './binding.ts';
export { parseEvidenceBundle, EvidenceBundleSchema } from './bundle.ts';
export {
  createBundleVerifier,
  type BundleVerifier,
  type BundleVerifyOptions,
  type CollateralResolver,
  type VerifierSet,
} from './verify.ts';
export { SimulatedTee, simulatedVerifier } from './simulated/index.ts';

import { nvidiaNrasVerifier, nvidiaSpdmVerifier } from './nvidia/index.ts';
import { sevSnpVerifier } from './sev-snp/index.ts';
import { simulatedVerifier } from './simulated/index.ts';
import { tdxVerifier } from './tdx/index.ts';
import { createBundleVerifier, type BundleVerifier } from './verify.ts';
import { createPcsCollateralSource, intelCollateralResolver } from './collateral/index.ts';

export { tdxVerifier, sevSnpVerifier, nvidiaNrasVerifier, nvidiaSpdmVerifier };

/**
 * The bundle verifier with every evidence kind this build supports. With
 * `pccsUrl`, Intel collateral comes from that PCS/PCCS (cached until its
 * nextUpdate) instead of from the worker's bundle.
 *
 * @example
 * const verify = createVerifier({ pccsUrl: 'https://api.trustedservices.intel.com' });
 */
export function createVerifier(
  options: { pccsUrl?: string; fetch?: typeof fetch; /** Clock for collateral freshness, unix seconds. */ now?: () => number } = {},
): BundleVerifier {
  return createBundleVerifier({
    tee: [simulatedVerifier, tdxVerifier, sevSnpVerifier],
    gpu: [nvidiaNrasVerifier, nvidiaSpdmVerifier],
    ...(options.pccsUrl
      ? { collateral: intelCollateralResolver(createPcsCollateralSource({
            baseUrl: options.pccsUrl,
            ...(options.fetch ? { fetch: options.fetch } : {}),
            ...(options.now ? { now: options.now } : {}),
          }),) }
      : {}),
  });
}

/** The default verifier: every kind, collateral from the bundle. */
export const verifyBundle: BundleVerifier = createVerifier();
