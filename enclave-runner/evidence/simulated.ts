import { SimulatedTee } from '../../attestation/simulated/index.ts';
import type { TeeEvidence, TeeEvidenceProvider } from './types.ts';

/**
 * Development-only evidence: quotes signed by an in-memory key. Gateways
 * refuse it unless their policy sets `allowSimulated`.
 */
export class SimulatedTeeProvider implements TeeEvidenceProvider {
  readonly kind = 'simulated' as const;
  private constructor(readonly tee: SimulatedTee) {}

  static async create(options?: { measurementLabel?: string; debug?: boolean }): Promise<SimulatedTeeProvider> {
    return new SimulatedTeeProvider(await SimulatedTee.create(options));
  }

  async collect(reportData: Uint8Array): Promise<TeeEvidence> {
    return { kind: 'simulated', evidence: this.tee.quote(reportData) };
  }
}
