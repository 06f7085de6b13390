import { ed25519 } from '@noble/curves/ed25519.js';
import { concatBytes, digest, utf8 } from '../util/bytes.ts';
import { encodeSimulatedBody } from './abi.ts';

/** Measurement a simulated TEE reports: SHA-384 of a fixed label, so it is recognisable. */
export async function simulatedMeasurement(label = 'sealgate-simulated-tee'): Promise<Uint8Array> {
  return digest('SHA-384', utf8(label));
}

/**
 * A development-only TEE: signs quotes with an Ed25519 key generated in memory.
 * It proves nothing about hardware; verifiers refuse it unless policy sets `allowSimulated`.
 *
 * @example
 * const tee = await SimulatedTee.create();
 * const quote = tee.quote(reportData);
 */
export class SimulatedTee {
  readonly publicKey: Uint8Array;
  private constructor(
    private readonly secretKey: Uint8Array,
    readonly measurement: Uint8Array,
    private readonly debug: boolean,
  ) {
    this.publicKey = ed25519.getPublicKey(secretKey);
  }

  static async create(options: { measurementLabel?: string; debug?: boolean } = {}): Promise<SimulatedTee> {
    return new SimulatedTee(
      ed25519.utils.randomSecretKey(),
      await simulatedMeasurement(options.measurementLabel),
      options.debug ?? false,
    );
  }

  /** A signed quote over `reportData` (64 bytes), stamped with `now` (unix seconds). */
  quote(reportData: Uint8Array, now = Math.floor(Date.now() / 1000)): Uint8Array {
    const body = encodeSimulatedBody({
      issuedAt: now,
      debug: this.debug,
      measurement: this.measurement,
      reportData,
      signer: this.publicKey,
    });
    return concatBytes(body, ed25519.sign(body, this.secretKey));
  }
}
