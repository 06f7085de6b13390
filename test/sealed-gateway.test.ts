/**
 * The sealed path at the protocol level: the gateway carries ciphertext to the
 * worker it is sealed to and back; the worker refuses replays, misrouted and
 * mismatched requests; receipts reach the gateway signed, once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalJson } from '../attestation/binding.ts';
import type { EvidenceBundle } from '../attestation/types.ts';
import { fromBase64, utf8 } from '../attestation/util/bytes.ts';
import { sealRequest, selectRecipient, signReceiptBatch, verifyReceipt } from '../sdk/protocol/index.ts';
import type { RunningWorker } from '../enclave-runner/node.ts';
import { startStack, type TestStack } from './stack.ts';

let stack: TestStack;
let workers: Array<{ id: string; evidence: EvidenceBundle }>;
const running: RunningWorker[] = [];
beforeAll(async () => {
  stack = await startStack();
  running.push(await stack.addWorker());
  running.push(await stack.addWorker());
  workers = ((await (await fetch(`${stack.gateway.url}/v1/workers`)).json()) as { data: typeof workers }).data;
});
afterAll(() => stack.close());

const MODEL = 'sealgate-demo';
const dec = new TextDecoder();

function seal(target: { id: string; evidence: EvidenceBundle }, body: object, aadWorker = target.id, aadModel = MODEL) {
  const aad = utf8(canonicalJson({ endpoint: 'chat.completions', model: aadModel, worker: aadWorker }));
  return sealRequest({ recipient: selectRecipient(target.evidence.binding.keys), body: utf8(JSON.stringify(body)), aad });
}

function post(message: Uint8Array, workerId: string, model = MODEL) {
  return fetch(`${stack.gateway.url}/v1/sealed`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${stack.apiKey}`,
      'content-type': 'application/vnd.sealgate.sealed-request',
      'x-sealgate-worker': workerId,
      'x-sealgate-model': model,
      'x-sealgate-endpoint': 'chat.completions',
    },
    body: message as Uint8Array<ArrayBuffer>,
  });
}

const ask = { model: MODEL, messages: [{ role: 'user', content: 'The sealed canary sentence is here. Another sealed sentence follows.' }] };

describe('sealed path through the gateway', () => {
  it('returns head, body and a receipt signed by the key the evidence binds', async () => {
    const w = workers[0]!;
    const { message, opener } = await seal(w, ask);
    const res = await post(message, w.id);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-sealgate-mode')).toBe('sealed');
    const msgs = opener.push(new Uint8Array(await res.arrayBuffer()));
    opener.end();
    expect(JSON.parse(dec.decode(msgs[0]))).toEqual({ status: 200, contentType: 'application/json' });
    const completion = JSON.parse(dec.decode(msgs[1]));
    expect(completion.choices[0].message.content).toContain('canary');
    const { receipt } = JSON.parse(dec.decode(msgs.at(-1)));
    const key = w.evidence.binding.keys.find((k) => k.use === 'receipt')!.key;
    const r = await verifyReceipt(receipt, fromBase64(key));
    expect(r).toMatchObject({ workerId: w.id, model: MODEL, requestId: res.headers.get('x-request-id'), completionTokens: completion.usage.completion_tokens });
    // The gateway got the same receipt and stored it once.
    await new Promise((ok) => setTimeout(ok, 200));
    const stored = await stack.gateway.storage.listReceipts(50);
    expect(stored.filter((s) => s.requestId === r.requestId)).toHaveLength(1);
  });

  it('refuses a replayed sealed request', async () => {
    const w = workers[0]!;
    const { message } = await seal(w, ask);
    expect((await post(message, w.id)).status).toBe(200);
    const again = await post(message, w.id);
    expect(again.status).toBe(400);
    expect((await again.json()).error.code).toBe('REPLAY');
  });

  it('a request routed to another worker than the one sealed to cannot be opened', async () => {
    const [a, b] = workers as [typeof workers[0], typeof workers[0]];
    const { message } = await seal(a, ask);
    const res = await post(message, b.id);
    expect(res.status).toBe(400);
    expect(['OPEN_FAILED', 'KEY_MISMATCH', 'KEM_FAILED']).toContain((await res.json()).error.code);
  });

  it('refuses a sealed body whose model differs from the routed one', async () => {
    const w = workers[0]!;
    const { message } = await seal(w, { ...ask, model: 'other-model' });
    const res = await post(message, w.id);
    expect(res.status).toBe(400);
    expect((await res.json()).error.code).toBe('MODEL_MISMATCH');
  });

  it('refuses clear metadata that differs from what was sealed', async () => {
    const w = workers[0]!;
    const { message } = await seal(w, ask, w.id, 'sealgate-demo-x');
    const res = await post(message, w.id);
    expect(res.status).toBe(400);
    expect((await res.json()).error.code).toBe('OPEN_FAILED');
  });

  it('answers a retryable 503 for a worker that is not admitted', async () => {
    const res = await post(new Uint8Array(100), 'wk_000000000000000000000000');
    expect(res.status).toBe(503);
    expect(res.headers.get('x-should-retry')).toBe('true');
  });

  it('refuses a receipt batch that is forged, tampered with, or names another worker', async () => {
    const w = stack.gateway.registry.get(workers[0]!.id)!;
    const key = running.find((r) => r.worker.id === w.id)!.worker.keys.receipt.secretKey;
    const receipt = { v: 1 as const, requestId: 'req_x', workerId: w.id, model: MODEL, endpoint: 'chat.completions', promptTokens: 1, completionTokens: 1, requestDigest: '00', responseDigest: '00', time: 1, account: 'acct_' + '0'.repeat(32), price: { prompt: '0', completion: '0' } };
    const post = async (batch: unknown) => {
      const res = await fetch(`${stack.gateway.url}/v1/workers/${w.id}/receipts`, {
        method: 'POST',
        headers: { authorization: `Bearer ${w.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ batch }),
      });
      return { status: res.status, body: (await res.json()) as { error?: { code: string } } };
    };
    const forged = await signReceiptBatch(w.id, [receipt], crypto.getRandomValues(new Uint8Array(32)));
    expect(await post(forged)).toMatchObject({ status: 400, body: { error: { code: 'RECEIPT_INVALID' } } });
    const genuine = await signReceiptBatch(w.id, [receipt], key);
    const tampered = { ...genuine, receipts: [{ ...genuine.receipts[0]!, completionTokens: 1000 }] };
    expect(await post(tampered)).toMatchObject({ status: 400, body: { error: { code: 'RECEIPT_INVALID' } } });
    expect(await post({ ...genuine, receipts: [] })).toMatchObject({ status: 400, body: { error: { code: 'RECEIPT_INVALID' } } });
    const other = await signReceiptBatch('wk_000000000000000000000000', [receipt], key);
    expect(await post(other)).toMatchObject({ status: 400, body: { error: { code: 'RECEIPT_INVALID' } } });
    expect(await post(genuine)).toEqual({ status: 200, body: { stored: 1, duplicates: 0, refused: [] } });
    expect(await post(genuine)).toEqual({ status: 200, body: { stored: 0, duplicates: 1, refused: [] } });
  });
});
