import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openedShape, sealFor, SEALED_MODEL } from '../test/sealed-wire.ts';
import { startStack, type TestStack } from '../test/stack.ts';
import { DemoBackend } from './backends/demo/index.ts';
import type { RunningWorker } from './node.ts';

/**
 * The worker's Node adapter serves sealed requests (the client's, and the
 * gateway's hop for plain ones) without Hono (`EnclaveWorker.direct`). The same requests through `app.fetch` and
 * over HTTP must get the same answers, apart from per-request values.
 */

const VOLATILE = new Set(['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding']);

describe('worker Node direct path matches the Hono route for sealed requests', () => {
  let stack: TestStack;
  let w: RunningWorker;
  let token: string;
  let directCalls = 0;
  let n = 0;
  beforeAll(async () => {
    stack = await startStack();
    w = await stack.addWorker(new DemoBackend({ tokenDelayMs: 5 }));
    token = (w.worker as unknown as { token: string }).token;
    const sealed = w.worker.direct.get('/v1/sealed')!;
    w.worker.direct.set('/v1/sealed', (req) => (directCalls++, sealed(req)));
  });
  afterAll(() => stack.close());

  const ask = { model: SEALED_MODEL, messages: [{ role: 'user', content: 'The sealed canary sentence is here. Another one follows.' }], max_tokens: 8 };

  /** Sends a fresh sealed request one way; `twice` sends it again and answers the second (a replay), `garbage` sends random bytes. */
  async function send(way: 'hono' | 'direct', body: object | string, o: { headers?: Record<string, string>; twice?: boolean; garbage?: boolean } = {}) {
    const s = await sealFor(w.worker, body);
    const requestId = `req_${way}_${n++}`;
    const init = () => ({
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'x-request-id': requestId, 'x-sealgate-account': 'acct_' + '0'.repeat(32), ...s.headers, ...o.headers },
      body: (o.garbage ? crypto.getRandomValues(new Uint8Array(200)) : s.message) as Uint8Array<ArrayBuffer>,
    });
    const go = () => (way === 'hono' ? w.worker.app.fetch(new Request('http://worker/v1/sealed', init())) : fetch(`${w.url}/v1/sealed`, init()));
    if (o.twice) await (await go()).arrayBuffer();
    const before = directCalls;
    const res = await go();
    expect(directCalls - before).toBe(way === 'direct' ? 1 : 0);
    const headers: Record<string, string> = {};
    res.headers.forEach((v, k) => {
      if (!VOLATILE.has(k)) headers[k] = v;
    });
    const bytes = new Uint8Array(await res.arrayBuffer());
    const sealedAnswer = (res.headers.get('content-type') ?? '').includes('sealed-response');
    return { requestId, status: res.status, headers, body: sealedAnswer ? openedShape(bytes, s.opener, requestId) : JSON.parse(new TextDecoder().decode(bytes)) };
  }

  it.each([
    ['a sealed completion', ask, {}, 200],
    ['a sealed stream', { ...ask, stream: true }, {}, 200],
    ['a sealed stream with usage', { ...ask, stream: true, stream_options: { include_usage: true } }, {}, 200],
    ['a sealed body the backend refuses', { ...ask, logprobs: true }, {}, 200],
    ['a sealed body that is not valid', { ...ask, temperature: 7 }, {}, 200],
    ['a sealed body that is not JSON', '{"model":', {}, 200],
    ['a replayed sealed request', ask, { twice: true }, 400],
    ['bytes that do not open', ask, { garbage: true }, 400],
    ['a sealed model that differs from the routed one', { ...ask, model: 'other-model' }, {}, 400],
    ['clear headers that differ from what was sealed', ask, { headers: { 'x-sealgate-model': 'sealgate-demo-x' } }, 400],
    ['no x-sealgate-endpoint', ask, { headers: { 'x-sealgate-endpoint': '' } }, 400],
    ['a wrong token', ask, { headers: { authorization: 'Bearer nope' } }, 401],
  ] as const)('%s', async (_label, body, o, status) => {
    const hono = await send('hono', body, o);
    const direct = await send('direct', body, o);
    expect(direct.status).toBe(status);
    expect({ ...direct, requestId: null }).toEqual({ ...hono, requestId: null });
    expect(w.worker.requestsInFlight).toBe(0);
    // A sealed answer's receipt is queued for the gateway either way.
    if (direct.body.trailer?.receipt) {
      const stored = async () => {
        await w.worker.flushReceipts();
        return (await stack.gateway.storage.listReceipts(1000)).map((r) => r.requestId);
      };
      await expect.poll(stored).toEqual(expect.arrayContaining([hono.requestId, direct.requestId]));
    }
  });

  it('refuses sealed requests while draining, both ways', async () => {
    const state = w.worker as unknown as { draining: boolean };
    state.draining = true;
    try {
      const hono = await send('hono', ask);
      const direct = await send('direct', ask);
      expect(direct.status).toBe(503);
      expect({ ...direct, requestId: null }).toEqual({ ...hono, requestId: null });
    } finally {
      state.draining = false;
    }
  });

  it.each(['hono', 'direct'] as const)('sends the head and the first event in one write, and a client going away cancels the backend (%s)', async (way) => {
    const s = await sealFor(w.worker, { ...ask, stream: true, max_tokens: 400, messages: [{ role: 'user', content: 'word '.repeat(300) }] });
    const abort = new AbortController();
    const init = { method: 'POST', headers: { authorization: `Bearer ${token}`, 'x-request-id': `req_abort_${way}`, ...s.headers }, body: s.message as Uint8Array<ArrayBuffer>, signal: abort.signal };
    const res = way === 'hono' ? await w.worker.app.fetch(new Request('http://worker/v1/sealed', init)) : await fetch(`${w.url}/v1/sealed`, init);
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(s.opener.push(first.value!).length).toBe(2);
    expect(w.worker.requestsInFlight).toBe(1);
    if (way === 'hono') await reader.cancel();
    else abort.abort();
    await expect.poll(() => w.worker.requestsInFlight).toBe(0);
  });
});
