import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../test/stack.ts';

/**
 * The Node adapter serves plain completions without Hono (`Gateway.plain`).
 * Each request here goes both ways — through `app.fetch` (Hono, middleware
 * included) and over HTTP to the Node server (direct path) — and the answers
 * must match: status, headers and body, apart from per-request values.
 */

const VOLATILE_HEADERS = new Set(['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding', 'x-request-id']);

function headersOf(res: Response): Record<string, string> {
  const out: Record<string, string> = {};
  res.headers.forEach((v, k) => {
    if (!VOLATILE_HEADERS.has(k)) out[k] = v;
  });
  return out;
}

async function bodyOf(res: Response): Promise<unknown> {
  const text = await res.text();
  if ((res.headers.get('content-type') ?? '').includes('text/event-stream')) {
    // Streams: the events without their per-request ids and times.
    return text.replace(/"id":"[^"]*"/g, '"id":"-"').replace(/"created":\d+/g, '"created":0');
  }
  const json = JSON.parse(text) as Record<string, unknown>;
  delete json.id;
  delete json.created;
  return json;
}

async function both(stack: TestStack, path: string, init: { headers?: Record<string, string>; body: string }) {
  const reqInit = { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${stack.apiKey}`, ...init.headers }, body: init.body };
  const viaHono = await stack.gateway.app.fetch(new Request(`http://gateway${path}`, reqInit));
  const direct = await fetch(stack.gateway.url + path, reqInit);
  expect(direct.headers.get('x-request-id')).toMatch(/^req_/);
  expect(viaHono.headers.get('x-request-id')).toMatch(/^req_/);
  return {
    hono: { status: viaHono.status, headers: headersOf(viaHono), body: await bodyOf(viaHono) },
    direct: { status: direct.status, headers: headersOf(direct), body: await bodyOf(direct) },
  };
}

const chat = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ model: 'sealgate-demo', messages: [{ role: 'user', content: 'Say hello.' }], max_tokens: 8, ...extra });

describe.each([
  ['default CORS (*)', undefined],
  ['CORS origin list', ['https://app.example']],
] as const)('Node direct path matches the Hono routes (%s)', (_name, corsOrigins) => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startStack({ gateway: { maxBodyBytes: 4096, ...(corsOrigins ? { corsOrigins: [...corsOrigins] } : {}) } });
    await stack.addWorker();
  });
  afterAll(() => stack.close());

  const cases: Array<[string, string, { headers?: Record<string, string>; body: string }, number]> = [
    ['a completion', '/v1/chat/completions', { body: chat() }, 200],
    ['a stream', '/v1/chat/completions', { body: chat({ stream: true }) }, 200],
    ['a stream with usage', '/v1/chat/completions', { body: chat({ stream: true, stream_options: { include_usage: true } }) }, 200],
    ['a text completion', '/v1/completions', { body: JSON.stringify({ model: 'sealgate-demo', prompt: 'Hello', max_tokens: 4 }) }, 200],
    ['embeddings', '/v1/embeddings', { body: JSON.stringify({ model: 'sealgate-demo', input: 'Hello' }) }, 200],
    ['an invalid field', '/v1/chat/completions', { body: chat({ temperature: 7 }) }, 400],
    ['a body that is not JSON', '/v1/chat/completions', { body: '{"model":' }, 400],
    ['a body over the limit', '/v1/chat/completions', { body: chat({ user: 'x'.repeat(5000) }) }, 413],
    ['an unknown model', '/v1/chat/completions', { body: chat({ model: 'nope' }) }, 404],
    ['a wrong key', '/v1/chat/completions', { headers: { authorization: 'Bearer sk-sg-wrong' }, body: chat() }, 401],
    ['no key', '/v1/embeddings', { headers: { authorization: '' }, body: chat() }, 401],
    ['a malformed price cap', '/v1/chat/completions', { headers: { 'x-sealgate-max-price': '0' }, body: chat() }, 400],
  ];

  it.each(cases)('%s', async (_label, path, init, status) => {
    const { hono, direct } = await both(stack, path, init);
    expect(direct.status).toBe(status);
    expect(direct).toEqual(hono);
  });
});

describe('Node direct path: clients that go away', () => {
  it('releases the worker when the client drops a stream half way', async () => {
    const { DemoBackend } = await import('../enclave-runner/backends/demo/index.ts');
    const events: Array<{ event: string; outcome?: string }> = [];
    const stack = await startStack({ gateway: { logger: (e) => events.push(e) } });
    try {
      const w = await stack.addWorker(new DemoBackend({ tokenDelayMs: 20 }));
      const abort = new AbortController();
      const res = await fetch(`${stack.gateway.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${stack.apiKey}` },
        body: chat({ stream: true, max_tokens: 400, messages: [{ role: 'user', content: 'word '.repeat(300) }] }),
        signal: abort.signal,
      });
      expect(res.status).toBe(200);
      const reader = res.body!.getReader();
      expect((await reader.read()).done).toBe(false);
      expect(stack.gateway.router.inFlight(w.worker.id!)).toBe(1);
      abort.abort();
      await expect.poll(() => stack.gateway.router.inFlight(w.worker.id!)).toBe(0);
      await expect.poll(() => w.worker.requestsInFlight).toBe(0);
      await expect.poll(() => events.find((e) => e.event === 'request')?.outcome).toBe('cancelled');
    } finally {
      await stack.close();
    }
  });
});
