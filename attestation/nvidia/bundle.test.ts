import { describe, expect, it } from 'vitest';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { readSampleText } from '../../test/testdata.ts';
import { gpuNonceFor, reportDataFor } from '../binding.ts';
import { AttestationError } from '../errors.ts';
import { parsePolicy } from '../policy.ts';
import { SimulatedTee, simulatedVerifier } from '../simulated/index.ts';
import type { BindingClaims } from '../types.ts';
import { digest, toBase64, toHex, utf8 } from '../util/bytes.ts';
import { createBundleVerifier } from '../verify.ts';
import { NRAS_ISSUER, createNrasVerifier, type Jwks } from './index.ts';

/** GPU evidence bound to the same keys and gateway nonce as the TEE evidence, through the bundle verifier. */
describe('nvidia-nras inside an evidence bundle', () => {
  const NOW = 1_800_000_000;

  async function nrasFor(nonceHex: string) {
    const { privateKey, publicKey } = await generateKeyPair('ES384');
    const jwks: Jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: 'k1' } as Record<string, unknown>] };
    const sign = (c: Record<string, unknown>) => new SignJWT(c).setProtectedHeader({ alg: 'ES384', kid: 'k1' }).sign(privateKey);
    const claims = JSON.parse(readSampleText('nvidia/nvtrust/detached_claims_remote.json')) as Record<string, unknown>;
    const gpu = await sign({ ...claims, iss: NRAS_ISSUER, eat_nonce: nonceHex, iat: NOW - 5, nbf: NOW - 5, exp: NOW + 3600 });
    const overall = await sign({
      iss: NRAS_ISSUER,
      'x-nvidia-overall-att-result': true,
      submods: { 'GPU-0': ['DIGEST', ['SHA-256', toHex(await digest('SHA-256', utf8(gpu)))]] },
      eat_nonce: nonceHex,
      iat: NOW - 5,
      nbf: NOW - 5,
      exp: NOW + 1800,
    });
    return { jwks, evidence: [['JWT', overall], { 'GPU-0': gpu }] };
  }

  async function setup() {
    const tee = await SimulatedTee.create();
    const binding: BindingClaims = {
      keys: [{ use: 'hpke', alg: 'X25519', key: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }],
      nonce: 'ab'.repeat(32),
      models: [{ id: 'demo', digest: 'demo:demo' }],
    };
    const reportData = await reportDataFor(binding);
    const gpuNonce = toHex(await gpuNonceFor(reportData));
    return { tee, binding, reportData, gpuNonce };
  }

  it('admits a bundle whose NRAS token carries the derived GPU nonce', async () => {
    const { tee, binding, reportData, gpuNonce } = await setup();
    const { jwks, evidence } = await nrasFor(gpuNonce);
    const verify = createBundleVerifier({ tee: [simulatedVerifier], gpu: [createNrasVerifier()] });
    const policy = parsePolicy({ allowSimulated: true, gpu: { required: true, nras: { jwks } } });
    const bundle = {
      version: 1,
      tee: { kind: 'simulated', evidence: toBase64(tee.quote(reportData, NOW)) },
      gpus: [{ kind: 'nvidia-nras', evidence }],
      binding,
    };
    const verdict = await verify(bundle, { policy, now: NOW, expectedNonce: binding.nonce });
    expect(verdict.gpus).toHaveLength(1);
    expect(verdict.gpus[0]!.kind).toBe('nvidia-nras');
    expect(verdict.expiresAt).toBeLessThanOrEqual(NOW + 1800);
  });

  it('refuses a genuine NRAS token issued for another nonce (GPU evidence not bound to these keys)', async () => {
    const { tee, binding, reportData } = await setup();
    const { jwks, evidence } = await nrasFor('cd'.repeat(32));
    const verify = createBundleVerifier({ tee: [simulatedVerifier], gpu: [createNrasVerifier()] });
    const policy = parsePolicy({ allowSimulated: true, gpu: { required: true, nras: { jwks } } });
    const bundle = {
      version: 1,
      tee: { kind: 'simulated', evidence: toBase64(tee.quote(reportData, NOW)) },
      gpus: [{ kind: 'nvidia-nras', evidence }],
      binding,
    };
    const err = await verify(bundle, { policy, now: NOW, expectedNonce: binding.nonce }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AttestationError);
    expect((err as AttestationError).code).toBe('NONCE_MISMATCH');
  });
});
