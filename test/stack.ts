import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import OpenAI from 'openai';
import { parsePolicy, type PolicyInput } from '../attestation/index.ts';
import { generateApiKey } from '../gateway/auth/index.ts';
import { startGateway, type NodeGatewayOptions, type RunningGateway } from '../gateway/node.ts';
import { DemoBackend } from '../enclave-runner/backends/demo/index.ts';
import type { Backend } from '../enclave-runner/backends/types.ts';
import { SimulatedTeeProvider } from '../enclave-runner/evidence/simulated.ts';
import { startWorker, type RunningWorker } from '../enclave-runner/node.ts';

/** A gateway on loopback with a temp SQLite file and a fresh API key. */
export interface TestStack {
  gateway: RunningGateway;
  dir: string;
  dbPath: string;
  apiKey: string;
  client(opts?: { apiKey?: string; maxRetries?: number }): OpenAI;
  addWorker(backend?: Backend): Promise<RunningWorker>;
  close(): Promise<void>;
}

export async function startStack(
  opts: { policy?: PolicyInput; gateway?: Partial<NodeGatewayOptions>; key?: { rpm?: number; tpm?: number } } = {},
): Promise<TestStack> {
  const dir = mkdtempSync(join(tmpdir(), 'sealgate-test-'));
  const dbPath = join(dir, 'sealgate.db');
  const gateway = await startGateway({
    port: 0,
    dbPath,
    policy: parsePolicy(opts.policy ?? { allowSimulated: true }),
    ...opts.gateway,
  });
  const { key, record } = await generateApiKey('test', opts.key ?? {});
  await gateway.storage.createApiKey(record);
  const workers: RunningWorker[] = [];
  return {
    gateway,
    dir,
    dbPath,
    apiKey: key,
    client: (o = {}) =>
      new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: o.apiKey ?? key, maxRetries: o.maxRetries ?? 0 }),
    async addWorker(backend = new DemoBackend()) {
      const w = await startWorker({ gatewayUrl: gateway.url, backend, tee: await SimulatedTeeProvider.create() });
      workers.push(w);
      return w;
    },
    async close() {
      await Promise.all(workers.map((w) => w.kill().catch(() => {})));
      await gateway.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A TCP port free on loopback right now. */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
