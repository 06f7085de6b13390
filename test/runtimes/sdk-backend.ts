/**
 * What the SDK scenarios (test/runtimes/sdk-scenarios.ts) call, started from
 * Node: a real gateway (test/stack.ts) and one demo worker under a simulated
 * TEE on loopback, with the scenario config whose policy pins that TEE's
 * signer. For test/sdk-workerd.test.ts and test/sdk-browser.test.ts.
 */
import { toHex } from '../../attestation/util/bytes.ts';
import { DemoBackend, DEMO_MODEL_ID } from '../../enclave-runner/backends/demo/index.ts';
import { SimulatedTeeProvider } from '../../enclave-runner/evidence/simulated.ts';
import { startWorker, type RunningWorker } from '../../enclave-runner/node.ts';
import { startStack, type TestStack } from '../stack.ts';
import type { Served } from './sdk-assertions.ts';
import type { ScenarioConfig } from './sdk-scenarios.ts';

export interface ScenarioBackend {
  stack: TestStack;
  worker: RunningWorker;
  config: ScenarioConfig;
  /** Who must answer the scenarios' calls: the demo worker (registered: its gateway id) and its model. */
  served: Served;
  close(): Promise<void>;
}

export async function startScenarioBackend(): Promise<ScenarioBackend> {
  const stack = await startStack();
  const tee = await SimulatedTeeProvider.create();
  const worker = await startWorker({ gatewayUrl: stack.gateway.url, backend: new DemoBackend(), tee });
  const config: ScenarioConfig = {
    gatewayUrl: stack.gateway.url,
    apiKey: stack.apiKey,
    model: DEMO_MODEL_ID,
    policy: { allowSimulated: true, simulated: { signers: [toHex(tee.tee.publicKey)] } },
  };
  if (worker.worker.id === null) throw new Error('the demo worker did not register with the gateway');
  return {
    stack,
    worker,
    config,
    served: { workerId: worker.worker.id, model: config.model },
    async close() {
      await worker.kill().catch(() => {});
      await stack.close();
    },
  };
}
