import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DemoBackend } from '../enclave-runner/backends/demo/index.ts';
import type { Backend } from '../enclave-runner/backends/types.ts';
import type { RunningWorker } from '../enclave-runner/node.ts';
import { openedShape, sealFor, SEALED_MODEL } from '../test/sealed-wire.ts';
import { startStack, type TestStack } from '../test/stack.ts';
import type { ResponseOpener } from '../sdk/protocol/index.ts';

/**
 * The Node adapter serves completions and sealed requests without Hono
 * (`Gateway.direct`). Each request here goes both ways — through Hono
 * (`app.fetch`, or an `Origin` header over HTTP; middleware included) and over
 * HTTP to the Node server (direct path) — and the answers must match: status,
 * headers and body, apart from per-request values.
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
  let w: RunningWorker;
  let directCalls = 0;
  beforeAll(async () => {
    stack = await startStack({ gateway: { maxBodyBytes: 4096, ...(corsOrigins ? { corsOrigins: [...corsOrigins] } : {}) } });
    w = await stack.addWorker();
    const sealed = stack.gateway.direct.get('/v1/sealed')!;
    stack.gateway.direct.set('/v1/sealed', (req) => (directCalls++, sealed(req)));
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

  /** A sealed request, fresh for each way (a sealed message opens once), with what opens its answer. */
  type Sealed = { headers: Record<string, string>; body: Uint8Array; opener?: ResponseOpener };
  const sealed = (body: object, o: { model?: string; headers?: Record<string, string> } = {}) => async (): Promise<Sealed> => {
    const s = await sealFor(w.worker, body, o);
    return { headers: { ...s.headers, ...o.headers }, body: s.message, opener: s.opener };
  };
  const raw = (bytes: number, headers: Record<string, string> = {}) => async (): Promise<Sealed> => {
    const s = await sealFor(w.worker, ask);
    return { headers: { ...s.headers, ...headers }, body: crypto.getRandomValues(new Uint8Array(bytes)) };
  };
  const ask = { model: SEALED_MODEL, messages: [{ role: 'user', content: 'The sealed canary sentence is here. Another one follows.' }], max_tokens: 8 };

  const sealedCases: Array<[string, () => Promise<Sealed>, number, { replay?: boolean }?]> = [
    ['a sealed completion', sealed(ask), 200],
    ['a sealed stream', sealed({ ...ask, stream: true }), 200],
    ['a sealed stream with usage', sealed({ ...ask, stream: true, stream_options: { include_usage: true } }), 200],
    ['a sealed body the worker refuses inside the seal', sealed({ ...ask, temperature: 7 }), 200],
    ['a replayed sealed request', sealed(ask), 400, { replay: true }],
    ['a sealed model that differs from the routed one', sealed({ ...ask, model: 'other-model' }), 400],
    ['bytes that do not open', raw(200), 400],
    ['no x-sealgate-endpoint', sealed(ask, { headers: { 'x-sealgate-endpoint': '' } }), 400],
    ['a malformed x-sealgate-worker', sealed(ask, { headers: { 'x-sealgate-worker': 'wk_nope' } }), 400],
    ['no x-sealgate-model', sealed(ask, { headers: { 'x-sealgate-model': '' } }), 400],
    ['a worker that is not admitted', sealed(ask, { headers: { 'x-sealgate-worker': 'wk_000000000000000000000000' } }), 503],
    ['a model the worker does not serve', sealed(ask, { model: 'nope' }), 400],
    ['a body over the limit', raw(5000), 413],
    ['a wrong key', sealed(ask, { headers: { authorization: 'Bearer sk-sg-wrong' } }), 401],
    ['a malformed price cap', sealed(ask, { headers: { 'x-sealgate-max-price': '0' } }), 400],
  ];

  it.each(sealedCases)('%s (sealed)', async (_label, make, status, o = {}) => {
    const send = async (way: 'hono' | 'direct') => {
      const { headers, body, opener } = await make();
      const init = { method: 'POST', headers: { authorization: `Bearer ${stack.apiKey}`, ...headers }, body: body as Uint8Array<ArrayBuffer> };
      const go = () => (way === 'hono' ? stack.gateway.app.fetch(new Request(`http://gateway/v1/sealed`, init)) : fetch(`${stack.gateway.url}/v1/sealed`, init));
      if (o.replay) expect((await (await go()).arrayBuffer()).byteLength).toBeGreaterThan(0);
      const before = directCalls;
      const res = await go();
      expect(directCalls - before).toBe(way === 'direct' ? 1 : 0);
      const bytes = new Uint8Array(await res.arrayBuffer());
      const requestId = res.headers.get('x-request-id');
      expect(requestId).toMatch(/^req_/);
      // A receipt names the request id the gateway bills under (openedShape checks it).
      const opened = res.status === 200 ? openedShape(bytes, opener!, requestId) : JSON.parse(new TextDecoder().decode(bytes));
      return { status: res.status, headers: headersOf(res), body: opened };
    };
    const hono = await send('hono');
    const direct = await send('direct');
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

/** Serves the demo model's list but never answers: a worker stuck before its first byte. */
class HeldBackend implements Backend {
  readonly name = 'held';
  private readonly demo = new DemoBackend();
  called: Promise<void>;
  private onCall!: () => void;
  constructor() {
    this.called = new Promise((r) => (this.onCall = r));
  }
  models() {
    return this.demo.models();
  }
  handle(): Promise<Response> {
    this.onCall();
    return new Promise(() => {});
  }
}

/** An endless SSE stream of 64 KiB events, produced only as fast as it is read. */
class EndlessBackend implements Backend {
  readonly name = 'endless';
  private readonly demo = new DemoBackend();
  pulled = 0;
  cancelled = false;
  models() {
    return this.demo.models();
  }
  async handle(): Promise<Response> {
    const event = new TextEncoder().encode(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'x'.repeat(64 * 1024) } }] })}\n\n`);
    return new Response(
      new ReadableStream({
        pull: (c) => {
          this.pulled++;
          c.enqueue(event);
        },
        cancel: () => {
          this.cancelled = true;
        },
      }),
      { headers: { 'content-type': 'text/event-stream' } },
    );
  }
}

/** Sends a sealed request over HTTP: with an `Origin` header it goes through Hono, without one the direct path. */
async function postSealed(stack: TestStack, worker: RunningWorker, body: object, way: 'hono' | 'direct', signal?: AbortSignal) {
  const s = await sealFor(worker.worker, body);
  const res = await fetch(`${stack.gateway.url}/v1/sealed`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.apiKey}`, ...s.headers, ...(way === 'hono' ? { origin: 'https://app.example' } : {}) },
    body: s.message as Uint8Array<ArrayBuffer>,
    signal,
  });
  return { res, opener: s.opener };
}

const long = { model: SEALED_MODEL, stream: true, max_tokens: 400, messages: [{ role: 'user', content: 'word '.repeat(300) }] };

describe('Node direct path: sealed streams and failures, the same both ways', () => {
  let stack: TestStack;
  const events: Array<{ event: string; requestId?: string; outcome?: string; status?: number }> = [];
  beforeAll(async () => {
    stack = await startStack({ gateway: { logger: (e) => events.push(e) } });
  });
  afterAll(() => stack.close());

  it.each(['hono', 'direct'] as const)('a worker that dies before its first byte is a retryable 502 (%s)', async (way) => {
    const backend = new HeldBackend();
    const w = await stack.addWorker(backend);
    const answer = postSealed(stack, w, long, way);
    await backend.called;
    await w.kill();
    const { res } = await answer;
    expect(res.status).toBe(502);
    expect(res.headers.get('x-should-retry')).toBe('true');
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect((await res.json()).error.code).toBe('worker_failed');
    expect(stack.gateway.router.inFlight(w.worker.id!)).toBe(0);
  });

  it.each(['hono', 'direct'] as const)('a worker that refuses with a 5xx (draining) is a retryable 502 (%s)', async (way) => {
    const w = await stack.addWorker();
    (w.worker as unknown as { draining: boolean }).draining = true;
    const { res } = await postSealed(stack, w, long, way);
    expect(res.status).toBe(502);
    expect(res.headers.get('x-should-retry')).toBe('true');
    expect((await res.json()).error.code).toBe('worker_failed');
    expect(stack.gateway.router.inFlight(w.worker.id!)).toBe(0);
  });

  it.each(['hono', 'direct'] as const)('a worker that dies mid-stream ends the client stream with an error (%s)', async (way) => {
    const w = await stack.addWorker(new DemoBackend({ tokenDelayMs: 20 }));
    const { res, opener } = await postSealed(stack, w, long, way);
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(first.done).toBe(false);
    expect(opener.push(first.value!).length).toBeGreaterThanOrEqual(2); // head and first event
    await w.kill();
    await expect((async () => {
      for (;;) if ((await reader.read()).done) return 'ended';
    })()).rejects.toThrow();
    const requestId = res.headers.get('x-request-id');
    await expect.poll(() => events.find((e) => e.event === 'request' && e.requestId === requestId)).toMatchObject({ outcome: 'broken', status: 502 });
    expect(stack.gateway.router.inFlight(w.worker.id!)).toBe(0);
  });

  it.each(['hono', 'direct'] as const)('a client that goes away mid-stream cancels the worker (%s)', async (way) => {
    const w = await stack.addWorker(new DemoBackend({ tokenDelayMs: 20 }));
    const abort = new AbortController();
    const { res } = await postSealed(stack, w, long, way, abort.signal);
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    expect((await reader.read()).done).toBe(false);
    expect(stack.gateway.router.inFlight(w.worker.id!)).toBe(1);
    expect(w.worker.requestsInFlight).toBe(1);
    abort.abort();
    await expect.poll(() => stack.gateway.router.inFlight(w.worker.id!)).toBe(0);
    await expect.poll(() => w.worker.requestsInFlight).toBe(0);
    expect(w.worker.pendingReceipts).toBe(0); // no receipt for a stream that did not finish
  });
});

describe('Node direct path: backpressure, the same both ways', () => {
  let stack: TestStack;
  beforeEach(async () => {
    stack = await startStack(); // plain requests go to any admitted worker: this one only
  });
  afterEach(() => stack.close());

  it.each([
    ['sealed', 'hono'],
    ['sealed', 'direct'],
    ['plain', 'hono'],
    ['plain', 'direct'],
  ] as const)('a %s stream whose client stops reading holds the worker back, and cancels it when the client goes away (%s)', async (mode, way) => {
    const backend = new EndlessBackend();
    const w = await stack.addWorker(backend);
    const abort = new AbortController();
    const res =
      mode === 'sealed'
        ? (await postSealed(stack, w, long, way, abort.signal)).res
        : await fetch(`${stack.gateway.url}/v1/chat/completions`, {
            method: 'POST',
            headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/json', ...(way === 'hono' ? { origin: 'https://app.example' } : {}) },
            body: JSON.stringify(long),
            signal: abort.signal,
          });
    expect(res.status).toBe(200);
    expect((await res.body!.getReader().read()).done).toBe(false);
    // Socket buffers fill up, then the backend is no longer read (and the gateway does not spin).
    let last = -1;
    await expect
      .poll(
        async () => {
          const before = backend.pulled;
          await new Promise((r) => setTimeout(r, 200));
          last = backend.pulled;
          return last === before;
        },
        { timeout: 10_000, interval: 0 },
      )
      .toBe(true);
    expect(last).toBeLessThan(1000);
    abort.abort();
    await expect.poll(() => backend.cancelled).toBe(true);
    await expect.poll(() => w.worker.requestsInFlight).toBe(0);
  });
});
