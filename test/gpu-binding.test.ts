/**
 * GPU evidence travels with the TEE evidence and must carry the nonce derived
 * from the TEE report data (keys + gateway nonce + models): recorded real
 * evidence, bound to another nonce, is refused, and a policy that requires
 * GPUs refuses a worker without them.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DemoBackend } from '../enclave-runner/backends/demo/index.ts';
import { NvidiaCommandProvider } from '../enclave-runner/evidence/nvidia-command.ts';
import { SimulatedTeeProvider } from '../enclave-runner/evidence/simulated.ts';
import { startWorker } from '../enclave-runner/node.ts';
import { startStack, type TestStack } from './stack.ts';
import { ATTESTATION_TESTDATA } from './testdata.ts';

let stack: TestStack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

const sample = join(ATTESTATION_TESTDATA, 'nvidia/attestation-sdk/hopper_evidence.json');

async function register(gpuCommand: boolean) {
  const gpus = gpuCommand
    ? [new NvidiaCommandProvider({ argv: [process.execPath, '-e', `process.stdout.write(require('fs').readFileSync(${JSON.stringify(sample)}))`] })]
    : [];
  return startWorker({ gatewayUrl: stack!.gateway.url, backend: new DemoBackend(), tee: await SimulatedTeeProvider.create(), gpus }).catch((e) => e);
}

describe('GPU evidence binding', () => {
  it('refuses real GPU evidence that carries another nonce than the one derived from the report data', async () => {
    stack = await startStack({ policy: { allowSimulated: true, gpu: { required: true, spdm: {} } } });
    const err = await register(true);
    expect(err.code).toBe('NONCE_MISMATCH');
  });

  it('refuses a worker without GPU evidence when the policy requires it', async () => {
    stack = await startStack({ policy: { allowSimulated: true, gpu: { required: true, spdm: {} } } });
    const err = await register(false);
    expect(err.code).toBe('GPU_EVIDENCE_REQUIRED');
  });

  it('refuses SPDM evidence when the policy does not accept that kind', async () => {
    stack = await startStack({ policy: { allowSimulated: true } });
    const err = await register(true);
    expect(err.code).toBe('KIND_NOT_ALLOWED');
  });
});
