import { ed25519 } from '@noble/curves/ed25519.js';
import {
  DebugEnabledError,
  EvidenceExpiredError,
  MeasurementNotAllowedError,
  QuoteSignatureInvalidError,
  SimulatedNotAllowedError,
} from '../errors.ts';
import { matchesMeasurementSet } from '../policy.ts';
import type { TeeVerdict, TeeVerifier, VerifyContext } from '../types.ts';
import { toHex } from '../util/bytes.ts';
import { parseSimulatedQuote } from './abi.ts';

/** Tolerated clock skew between the simulated TEE and the verifier. */
const MAX_SKEW_SECONDS = 60;

/**
 * Verifies a simulated quote. Refused outright unless `policy.allowSimulated`.
 */
export const simulatedVerifier: TeeVerifier = {
  kind: 'simulated',
  async verify(evidence: Uint8Array, _collateral: unknown, ctx: VerifyContext): Promise<TeeVerdict> {
    const { policy, now } = ctx;
    if (!policy.allowSimulated) {
      throw new SimulatedNotAllowedError('simulated TEE evidence is refused: policy does not set allowSimulated');
    }
    const q = parseSimulatedQuote(evidence);
    let ok = false;
    try {
      ok = ed25519.verify(q.signature, q.signed, q.signer);
    } catch {
      ok = false;
    }
    if (!ok) throw new QuoteSignatureInvalidError('simulated quote signature does not verify');
    const signer = toHex(q.signer);
    const pinned = policy.simulated?.signers;
    if (pinned && !pinned.includes(signer)) {
      throw new QuoteSignatureInvalidError(`simulated quote signer ${signer} is not pinned by policy`);
    }
    if (q.debug) throw new DebugEnabledError('simulated TEE reports debug mode');
    if (q.issuedAt > now + MAX_SKEW_SECONDS) {
      throw new EvidenceExpiredError(`simulated quote issued in the future (${q.issuedAt} > ${now})`);
    }
    const expiresAt = q.issuedAt + policy.maxEvidenceAgeSeconds;
    if (now > expiresAt) {
      throw new EvidenceExpiredError(`simulated quote is older than ${policy.maxEvidenceAgeSeconds}s`);
    }
    const measurements = { measurement: toHex(q.measurement) };
    const allowed = policy.simulated?.measurements;
    if (allowed && !matchesMeasurementSet(measurements, allowed)) {
      throw new MeasurementNotAllowedError(`simulated measurement ${measurements.measurement} is not allowed`);
    }
    return {
      kind: 'simulated',
      reportData: q.reportData,
      measurements,
      tcbStatus: 'Simulated',
      advisoryIds: [],
      expiresAt,
      details: { insecure: true, signer, issuedAt: q.issuedAt },
    };
  },
};
