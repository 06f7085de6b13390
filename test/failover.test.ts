import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { OpenAIBackend } from '../enclave-runner/backends/openai.ts';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream.ts';
import { startStack, type TestStack } from './stack.ts';

let stack: TestStack;
const upstreams: FakeUpstream[] = [];
afterEach(async () => {
  await stack?.close();
  await Promise.all(upstreams.splice(0).map((u) => u.close()));
});

async function upstreamWorker(mode: FakeUpstream['mode'] = 'normal') {
  const u = await startFakeUpstream();
  u.mode = mode;
  upstreams.push(u);
  const w = await stack.addWorker(new OpenAIBackend({ baseUrl: u.url, models: [{ id: 'llm', endpoints: ['chat.completions'] }] }));
  return { upstream: u, worker: w };
}

const ask = { model: 'llm', messages: [{ role: 'user' as const, content: 'hi' }] };

describe('failover before the first byte', () => {
  it('retries on the next worker when the chosen one is dead, transparently to the client', async () => {
    stack = await startStack();
    const a = await upstreamWorker();
    const b = await upstreamWorker();
    // Kill A's server without deregistering, as a crash does; the gateway still believes in it.
    await a.worker.kill();
    for (let i = 0; i < 6; i++) {
      const r = await stack.client().chat.completions.create(ask);
      expect(r.choices[0]!.message.content).toBe('Hello from upstream.');
    }
    for (let i = 0; i < 3; i++) {
      const s = await stack.client().chat.completions.create({ ...ask, stream: true });
      let text = '';
      for await (const c of s) text += c.choices[0]?.delta?.content ?? '';
      expect(text).toBe('Hello from upstream.');
    }
    expect(b.upstream.requests.length).toBe(9);
  });

  it('fails over when a worker answers 5xx or its backend drops the connection', async () => {
    stack = await startStack();
    const bad = await upstreamWorker('error-500');
    const dropped = await upstreamWorker('die-before-headers');
    const good = await upstreamWorker();
    for (let i = 0; i < 5; i++) {
      const r = await stack.client().chat.completions.create(ask);
      expect(r.choices[0]!.message.content).toBe('Hello from upstream.');
    }
    expect(good.upstream.requests.length).toBe(5);
    // The breaker takes failing workers out after 3 consecutive failures: they stop being tried.
    const triedBad = bad.upstream.requests.length + dropped.upstream.requests.length;
    await stack.client().chat.completions.create(ask);
    await stack.client().chat.completions.create(ask);
    expect(bad.upstream.requests.length + dropped.upstream.requests.length).toBe(triedBad);
    expect(triedBad).toBeLessThanOrEqual(6);
  });

  it('answers 503 with retry-after when every worker fails', async () => {
    stack = await startStack();
    await upstreamWorker('error-500');
    const err = await stack.client().chat.completions.create(ask).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.InternalServerError);
    expect(err.status).toBe(503);
    expect(err.headers.get('retry-after')).toBeTruthy();
    expect(err.headers.get('x-should-retry')).toBe('true');
  });
});

describe('failure after the first byte', () => {
  it('ends the stream with an explicit error event and no [DONE]', async () => {
    stack = await startStack();
    await upstreamWorker('die-mid-stream');
    const res = await fetch(`${stack.gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ...ask, stream: true }),
    });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain('Hello');
    expect(text).not.toContain('[DONE]');
    const last = text.trim().split('\n\n').at(-1)!;
    expect(last.startsWith('event: error\ndata: ')).toBe(true);
    expect(JSON.parse(last.split('\n')[1]!.slice(6)).error.code).toBe('upstream_stream_broken');
  });

  it('makes the official client throw instead of ending silently', async () => {
    stack = await startStack();
    await upstreamWorker('die-mid-stream');
    const stream = await stack.client().chat.completions.create({ ...ask, stream: true });
    let text = '';
    const err = await (async () => {
      for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
    })().catch((e) => e);
    expect(text.length).toBeGreaterThan(0);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(String(err.message)).toContain('before completion');
  });
});

describe('rate limits', () => {
  it('429s past the per-key request limit with retry-after', async () => {
    stack = await startStack({ key: { rpm: 3 } });
    await upstreamWorker();
    for (let i = 0; i < 3; i++) await stack.client().chat.completions.create(ask);
    const err = await stack.client().chat.completions.create(ask).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect(err.code).toBe('rate_limit_exceeded');
    expect(err.type).toBe('requests');
    expect(Number(err.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  it('429s past the per-key token limit once usage is counted', async () => {
    stack = await startStack({ key: { tpm: 20 } });
    await upstreamWorker();
    await stack.client().chat.completions.create(ask); // 11 tokens
    await stack.client().chat.completions.create(ask); // 22 tokens: over
    const err = await stack.client().chat.completions.create(ask).catch((e) => e);
    expect(err.status).toBe(429);
    expect(err.type).toBe('tokens');
  });
});
