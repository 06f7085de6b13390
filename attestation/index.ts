/**
 * Evidence parsing, verification and policy. Runtime-agnostic: Web Crypto and
 * pure TypeScript only, so the gateway, the SDK, browsers and Workers share it.
 */
export * from './errors.ts';
export * from './types.ts';
export { parsePolicy, PolicySchema, matchesMeasurementSet, type Policy, type PolicyInput } from './policy.ts';
export { reportDataFor, gpuNonceFor, canonicalJson, REPORT_DATA_TAG, GPU_NONCE_TAG } from './binding.ts';
export { parseEvidenceBundle, EvidenceBundleSchema } from './bundle.ts';
export { createBundleVerifier, type BundleVerifier, type BundleVerifyOptions, type VerifierSet } from './verify.ts';
export { SimulatedTee, simulatedVerifier } from './simulated/index.ts';

import { sevSnpVerifier } from './sev-snp/index.ts';
import { simulatedVerifier } from './simulated/index.ts';
import { tdxVerifier } from './tdx/index.ts';
import { createBundleVerifier } from './verify.ts';

export { tdxVerifier, sevSnpVerifier };

/** The verifier with every evidence kind this build supports. */
export const verifyBundle = createBundleVerifier({ tee: [simulatedVerifier, tdxVerifier, sevSnpVerifier], gpu: [] });
