import { describe, expect, it } from 'vitest';
import { readSample, readSampleText } from '../../test/testdata.ts';
import { AttestationError } from '../errors.ts';
import { parsePolicy } from '../policy.ts';
import { toBase64, toHex } from '../util/bytes.ts';
import { createBundleVerifier } from '../verify.ts';
import * as snp from './index.ts';

describe('sev-snp public API', () => {
  it('exports the verifier and the lower-level functions', () => {
    expect(snp.sevSnpVerifier.kind).toBe('sev-snp');
    expect(typeof snp.parseSnpReport).toBe('function');
    expect(typeof snp.verifySnpReport).toBe('function');
    expect(Object.keys(snp.PINNED_AMD_CERTS).sort()).toEqual(['Genoa', 'Milan', 'Turin']);
  });

  it('plugs into createBundleVerifier: a real Genoa report verifies, then fails the binding check', async () => {
    const report = readSample('sev-snp/teep-agpl/report_genoa_v3.bin');
    const verify = createBundleVerifier({ tee: [snp.sevSnpVerifier], gpu: [] });
    const nonce = '00'.repeat(32);
    const bundle = {
      version: 1,
      tee: {
        kind: 'sev-snp',
        evidence: toBase64(report),
        collateral: {
          vcek: toBase64(readSample('sev-snp/teep-agpl/vcek_genoa.der')),
          certChain: readSampleText('sev-snp/go-sev-guest/ask_ark_genoa.pem'),
        },
      },
      binding: { keys: [{ use: 'hpke', alg: 'X25519', key: 'AAAA' }], nonce, models: [{ id: 'm', digest: 'demo:m' }] },
    };
    const policy = parsePolicy({
      sevSnp: { measurements: [{ measurement: toHex(snp.parseSnpReport(report).measurement) }] },
    });
    const now = Date.parse('2026-06-29T02:12:49Z') / 1000;
    const err = await verify(bundle, { policy, now, expectedNonce: nonce }).catch((e: unknown) => e);
    // The report's REPORT_DATA binds Tinfoil's keys, not this bundle's: the TEE verdict passed first.
    expect(err).toBeInstanceOf(AttestationError);
    expect((err as AttestationError).code).toBe('REPORT_DATA_MISMATCH');
    // Without an sevSnp policy section the bundle verifier refuses the kind.
    const err2 = await verify(bundle, { policy: parsePolicy({}), now, expectedNonce: nonce }).catch((e: unknown) => e);
    expect((err2 as AttestationError).code).toBe('KIND_NOT_ALLOWED');
  });

  it('puts JSON-safe details in the verdict', async () => {
    const report = readSample('sev-snp/teep-agpl/report_genoa_v3.bin');
    const { verdict } = await snp.verifySnpReport(report, readSample('sev-snp/teep-agpl/vcek_genoa.der'), {
      now: Date.parse('2026-06-29T02:12:49Z') / 1000,
    });
    const details = JSON.parse(JSON.stringify(verdict.details));
    expect(details).toMatchObject({
      product: 'Genoa',
      productName: 'Genoa',
      signingKey: 'vcek',
      reportVersion: 3,
      vmpl: 0,
      reportedTcb: { bootloader: 10, tee: 0, snp: 23, microcode: 84 },
    });
  });
});
