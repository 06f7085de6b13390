import { describe, expect, it } from 'vitest';
import { reportDataFor } from '../binding.ts';
import { AttestationError } from '../errors.ts';
import { parsePolicy } from '../policy.ts';
import { toHex } from '../util/bytes.ts';
import { SimulatedTee, simulatedVerifier } from './index.ts';

const now = Math.floor(Date.now() / 1000);
const policy = parsePolicy({ allowSimulated: true });

describe('simulated TEE', () => {
  it('verifies its own quote and returns the report data', async () => {
    const tee = await SimulatedTee.create();
    const rd = crypto.getRandomValues(new Uint8Array(64));
    const v = await simulatedVerifier.verify(tee.quote(rd, now), undefined, { policy, now });
    expect(toHex(v.reportData)).toBe(toHex(rd));
    expect(v.details?.insecure).toBe(true);
  });

  it('rejects every single-byte change anywhere in the quote, without crashing', async () => {
    const tee = await SimulatedTee.create();
    const quote = tee.quote(new Uint8Array(64), now);
    const policyPinned = parsePolicy({ allowSimulated: true, simulated: { signers: [toHex(tee.publicKey)] } });
    for (let i = 0; i < quote.length; i++) {
      const q = quote.slice();
      q[i]! ^= 0x01;
      const err = await simulatedVerifier.verify(q, undefined, { policy: policyPinned, now }).catch((e) => e);
      expect(err, `byte ${i}`).toBeInstanceOf(AttestationError);
    }
  });

  it('rejects truncated and extended quotes with typed errors', async () => {
    const tee = await SimulatedTee.create();
    const quote = tee.quote(new Uint8Array(64), now);
    for (const q of [quote.slice(0, 0), quote.slice(0, 8), quote.slice(0, 227), new Uint8Array([...quote, 0])]) {
      const err = await simulatedVerifier.verify(q, undefined, { policy, now }).catch((e) => e);
      expect(err).toBeInstanceOf(AttestationError);
      expect(['UNSUPPORTED_FORMAT', 'MALFORMED_EVIDENCE']).toContain(err.code);
    }
  });

  it('is refused outright when the policy does not allow simulated evidence', async () => {
    const tee = await SimulatedTee.create();
    const err = await simulatedVerifier
      .verify(tee.quote(new Uint8Array(64), now), undefined, { policy: parsePolicy({}), now })
      .catch((e) => e);
    expect(err.code).toBe('SIMULATED_NOT_ALLOWED');
  });
});

describe('report data binding', () => {
  it('changes when any key, the nonce or a model changes, and not with object key order', async () => {
    const base = {
      keys: [{ use: 'hpke' as const, alg: 'X25519', key: 'AAAA' }],
      nonce: 'ab'.repeat(32),
      models: [{ id: 'm', digest: 'd' }],
    };
    const rd = toHex(await reportDataFor(base));
    expect(toHex(await reportDataFor({ ...base, nonce: 'ac'.repeat(32) }))).not.toBe(rd);
    expect(toHex(await reportDataFor({ ...base, keys: [{ ...base.keys[0]!, key: 'AAAB' }] }))).not.toBe(rd);
    expect(toHex(await reportDataFor({ ...base, models: [{ id: 'm', digest: 'e' }] }))).not.toBe(rd);
    expect(toHex(await reportDataFor({ models: base.models, nonce: base.nonce, keys: [{ key: 'AAAA', alg: 'X25519', use: 'hpke' }] }))).toBe(rd);
  });
});

describe('policy', () => {
  it('rejects an empty GPU measurement set, which would match anything', () => {
    expect(() => parsePolicy({ gpu: { spdm: { measurements: [{}] } } })).toThrow(/at least one index/);
  });

  it('rejects unknown fields and defaults allowSimulated to false', () => {
    expect(() => parsePolicy({ allowSimulatd: true })).toThrow(/policy/);
    expect(parsePolicy({}).allowSimulated).toBe(false);
  });
});
