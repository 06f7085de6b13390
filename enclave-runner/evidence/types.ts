import type { GpuKind, TeeKind } from '../../attestation/types.ts';

/** TEE evidence over 64 bytes of report data, as collected inside the enclave. */
export interface TeeEvidence {
  kind: TeeKind;
  /** Raw quote or report bytes. */
  evidence: Uint8Array;
  /** Kind-specific collateral shipped with the evidence (e.g. certificate chain), if any. */
  collateral?: unknown;
}

/** Produces TEE evidence binding `reportData` (64 bytes). */
export interface TeeEvidenceProvider {
  readonly kind: TeeKind;
  collect(reportData: Uint8Array): Promise<TeeEvidence>;
}

/** Produces GPU evidence binding a 32-byte nonce. */
export interface GpuEvidenceProvider {
  readonly kind: GpuKind;
  collect(nonce: Uint8Array): Promise<{ kind: GpuKind; evidence: unknown }>;
}
