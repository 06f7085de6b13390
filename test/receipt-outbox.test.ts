/**
 * Property 6 at the worker: a receipt the gateway has not acknowledged is kept
 * and delivered once the gateway is back (restarted on the same storage), and
 * stored exactly once.
 */
import { afterEach, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { generateApiKey } from '../gateway/auth/index.ts';
import { canonicalJson } from '../attestation/binding.ts';
import { parsePolicy } from '../attestation/index.ts';
import { utf8 } from '../attestation/util/bytes.ts';
import { startGateway, type RunningGateway } from '../gateway/node.ts';
import { DemoBackend } from '../enclave-runner/backends/demo/index.ts';
import { SimulatedTeeProvider } from '../enclave-runner/evidence/simulated.ts';
import { startWorker, type RunningWorker } from '../enclave-runner/node.ts';
import { boundKeys } from '../enclave-runner/keys.ts';
import { sealRequest, selectRecipient, signReceiptBatch } from '../sdk/protocol/index.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let gateway: RunningGateway | undefined;
let worker: RunningWorker | undefined;
let dir: string | undefined;
afterEach(async () => {
  await worker?.kill().catch(() => {});
  await gateway?.close().catch(() => {});
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const policy = parsePolicy({ allowSimulated: true });

describe('receipt outbox', () => {
  it('keeps a receipt while the gateway is down and delivers it, once, after the gateway restarts', async () => {
    dir = mkdtempSync(join(tmpdir(), 'sealgate-outbox-'));
    const dbPath = join(dir, 'g.db');
    gateway = await startGateway({ port: 0, dbPath, policy, heartbeatMs: 100 });
    const port = Number(new URL(gateway.url).port);
    worker = await startWorker({ gatewayUrl: gateway.url, backend: new DemoBackend(), tee: await SimulatedTeeProvider.create() });
    const w = worker.worker;
    const token = (w as unknown as { token: string }).token;
    await gateway.close();

    // The gateway is down; a sealed request reaches the worker directly (as a relay would deliver it).
    const aad = utf8(canonicalJson({ endpoint: 'chat.completions', model: 'sealgate-demo', worker: w.id }));
    const { message, opener } = await sealRequest({
      recipient: selectRecipient(boundKeys(w.keys)),
      body: utf8(JSON.stringify({ model: 'sealgate-demo', messages: [{ role: 'user', content: 'Outbox test sentence one. Outbox test sentence two.' }] })),
      aad,
    });
    const res = await fetch(`${worker.url}/v1/sealed`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'x-request-id': 'req_outbox_1',
        'x-sealgate-account': 'acct_' + 'a'.repeat(32),
        'x-sealgate-endpoint': 'chat.completions',
        'x-sealgate-model': 'sealgate-demo',
        'content-type': 'application/vnd.sealgate.sealed-request',
      },
      body: message as Uint8Array<ArrayBuffer>,
    });
    opener.push(new Uint8Array(await res.arrayBuffer()));
    opener.end();
    await new Promise((r) => setTimeout(r, 200));
    expect(w.pendingReceipts).toBe(1);

    // The gateway comes back on the same port and storage; the worker re-registers and delivers.
    gateway = await startGateway({ port, dbPath, policy, heartbeatMs: 100 });
    for (let i = 0; i < 100 && w.pendingReceipts > 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(w.pendingReceipts).toBe(0);
    const stored = (await gateway.storage.listReceipts(10)).filter((r) => r.requestId === 'req_outbox_1');
    expect(stored).toHaveLength(1);
    expect(stored[0]!.workerId).toBe(w.id);
    expect(stored[0]!.account).toBe('acct_' + 'a'.repeat(32));
    const { charge: _charge, payoutChannel: _payout, batchId: _batch, sig, ...receipt } = stored[0]!;
    // Delivering the same receipt again does not count it twice.
    const again = await fetch(`${gateway.url}/v1/workers/${w.id}/receipts`, {
      method: 'POST',
      headers: { authorization: `Bearer ${(w as unknown as { token: string }).token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ batch: await signReceiptBatch(w.id!, [{ v: 1, ...receipt, sig }], w.keys.receipt.secretKey) }),
    });
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual({ stored: 0, duplicates: 1, refused: [] });
    expect((await gateway.storage.listReceipts(10)).filter((r) => r.requestId === 'req_outbox_1')).toHaveLength(1);
  });
});

describe('receipt delivery', () => {
  it('gathers receipts into few signed batches, stores each once, and keeps heartbeats going meanwhile', async () => {
    dir = mkdtempSync(join(tmpdir(), 'sealgate-outbox-'));
    gateway = await startGateway({ port: 0, dbPath: join(dir, 'g.db'), policy, heartbeatMs: 100 });
    const { key, record } = await generateApiKey('batch');
    await gateway.storage.createApiKey(record);
    const calls: string[] = [];
    const counting = (url: string, init: RequestInit) => {
      calls.push(new URL(url).pathname);
      return fetch(url, init);
    };
    worker = await startWorker({ gatewayUrl: gateway.url, backend: new DemoBackend(), tee: await SimulatedTeeProvider.create(), fetch: counting });
    const openai = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: key, maxRetries: 0 });
    const N = 60;
    const answered = await Promise.all(
      Array.from({ length: N }, (_, i) =>
        openai.chat.completions.create({ model: 'sealgate-demo', messages: [{ role: 'user', content: `Batch test ${i}. A second sentence.` }] }).withResponse(),
      ),
    );
    for (let i = 0; i < 50 && worker.worker.pendingReceipts > 0; i++) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 250));
    expect(worker.worker.pendingReceipts).toBe(0);
    const stored = await gateway.storage.listReceipts(1000);
    expect(stored.map((r) => r.requestId).sort()).toEqual(answered.map((a) => a.request_id).sort());
    expect(stored.every((r) => r.sig === '' && r.batchId)).toBe(true); // plain receipts: signed by their batch only
    const deliveries = calls.filter((p) => p.endsWith('/receipts')).length;
    expect(deliveries).toBeGreaterThan(0);
    expect(deliveries).toBeLessThanOrEqual(N / 4);
    expect(calls.filter((p) => p.endsWith('/heartbeat')).length).toBeGreaterThan(0);
  });
});
