import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../test/stack.ts';
import type { RunningWorker } from './node.ts';

/**
 * The worker's Node adapter serves plain completions without Hono
 * (`EnclaveWorker.plain`). The same requests through `app.fetch` and over
 * HTTP must get the same answers, apart from per-request values.
 */

const VOLATILE = new Set(['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding']);

async function shape(res: Response) {
  const headers: Record<string, string> = {};
  res.headers.forEach((v, k) => {
    if (!VOLATILE.has(k)) headers[k] = v;
  });
  const text = (await res.text()).replace(/"id":"[^"]*"/g, '"id":"-"').replace(/"created":\d+/g, '"created":0');
  return { status: res.status, headers, text };
}

describe('worker Node direct path matches the Hono routes', () => {
  let stack: TestStack;
  let w: RunningWorker;
  let token: string;
  beforeAll(async () => {
    stack = await startStack();
    w = await stack.addWorker();
    token = (w.worker as unknown as { token: string }).token;
  });
  afterAll(() => stack.close());

  const chat = (extra: Record<string, unknown> = {}) =>
    JSON.stringify({ model: 'sealgate-demo', messages: [{ role: 'user', content: 'Say hello.' }], max_tokens: 8, ...extra });

  it.each([
    ['a completion', '/v1/chat/completions', chat(), null, 200],
    ['a stream', '/v1/chat/completions', chat({ stream: true, stream_options: { include_usage: true } }), null, 200],
    ['embeddings', '/v1/embeddings', JSON.stringify({ model: 'sealgate-demo', input: 'Hello' }), null, 200],
    ['an invalid field', '/v1/chat/completions', chat({ temperature: 7 }), null, 400],
    ['a body that is not JSON', '/v1/completions', '{"model":', null, 400],
    ['a wrong token', '/v1/chat/completions', chat(), 'Bearer nope', 401],
  ] as const)('%s', async (_label, path, body, auth, status) => {
    const init = () => ({ method: 'POST', headers: { 'content-type': 'application/json', authorization: auth ?? `Bearer ${token}`, 'x-request-id': 'req_test' }, body });
    const hono = await shape(await w.worker.app.fetch(new Request(`http://worker${path}`, init())));
    const direct = await shape(await fetch(w.url + path, init()));
    expect(direct.status).toBe(status);
    expect(direct).toEqual(hono);
  });
});
