import type { Policy } from './policy.ts';

/** Evidence kinds for the TEE that holds the worker's keys. */
export type TeeKind = 'simulated' | 'tdx' | 'sev-snp';
/** Evidence kinds for confidential-computing GPUs. */
export type GpuKind = 'nvidia-nras' | 'nvidia-spdm';

/** A public key the enclave holds, as published in its evidence bundle. */
export interface BoundKey {
  /** What the key is for: sealing requests to the enclave, or signing receipts. */
  use: 'hpke' | 'receipt';
  /** Algorithm or HPKE suite name, e.g. `X25519`, `X-Wing`, `Ed25519`. */
  alg: string;
  /** Raw public key, base64url without padding. */
  key: string;
}

/** A model the worker serves, with the digest of its weights (or `demo:<name>`). */
export interface BoundModel {
  id: string;
  digest: string;
}

/** What the TEE's 64-byte report data commits to (see `binding.ts`). */
export interface BindingClaims {
  keys: BoundKey[];
  /** Gateway nonce, hex. */
  nonce: string;
  models: BoundModel[];
  /**
   * When the enclave collected this evidence, unix seconds. Bound by the report
   * data, so a relay cannot refresh an old bundle; verifiers refuse it when
   * older than `policy.maxEvidenceAgeSeconds`. Clients (the SDK) require it.
   */
  issuedAt?: number;
}

/** A worker's complete evidence, as it registers it and as the gateway serves it to clients. */
export interface EvidenceBundle {
  version: 1;
  tee: {
    kind: TeeKind;
    /** Raw quote or report, base64. */
    evidence: string;
    /** Kind-specific collateral (e.g. a QuoteCollateralV3 object, or a VCEK chain). */
    collateral?: unknown;
  };
  gpus?: Array<{ kind: GpuKind; evidence: unknown }>;
  binding: BindingClaims;
}

/** Everything a verifier needs besides the evidence. */
export interface VerifyContext {
  policy: Policy;
  /** Evaluation time, unix seconds. */
  now: number;
}

/** Verified, policy-checked claims from TEE evidence. */
export interface TeeVerdict {
  kind: TeeKind;
  /** The 64 bytes of report data the evidence signs. */
  reportData: Uint8Array;
  /** Measurement registers by lowercase name, hex values (e.g. `mrtd`, `rtmr0`, `measurement`). */
  measurements: Record<string, string>;
  tcbStatus: string;
  advisoryIds: string[];
  /** Unix seconds after which this verdict must not be used. */
  expiresAt: number;
  /** Free-form extra facts for display (FMSPC, chip id, signer key...). */
  details?: Record<string, unknown>;
}

/** One kind's TEE verifier: parse, verify signatures and chains, validate against policy. */
export interface TeeVerifier {
  readonly kind: TeeKind;
  verify(evidence: Uint8Array, collateral: unknown, ctx: VerifyContext): Promise<TeeVerdict>;
}

/** Verified claims from GPU evidence. */
export interface GpuVerdict {
  kind: GpuKind;
  /** The nonce the evidence carries; equal to the expected one when returned. */
  nonce: Uint8Array;
  gpus: Array<{ id?: string; model?: string; measurements?: Record<string, string> }>;
  expiresAt: number;
}

/** One kind's GPU verifier. `expectedNonce` must match the evidence's nonce in full. */
export interface GpuVerifier {
  readonly kind: GpuKind;
  verify(evidence: unknown, expectedNonce: Uint8Array, ctx: VerifyContext): Promise<GpuVerdict>;
}

/** The overall outcome of verifying an evidence bundle. */
export interface Verdict {
  tee: TeeVerdict;
  gpus: GpuVerdict[];
  binding: BindingClaims;
  /** Evaluation time, unix seconds. */
  evaluatedAt: number;
  /** Earliest expiry of every part and the policy's maximum, unix seconds. */
  expiresAt: number;
}
