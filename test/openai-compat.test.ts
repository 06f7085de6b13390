import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpenAIBackend } from '../enclave-runner/backends/openai.ts';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream.ts';
import { startStack, type TestStack } from './stack.ts';

const MODEL = 'sealgate-demo';
const CONVERSATION = [
  { role: 'system' as const, content: 'You summarize chats.' },
  { role: 'user' as const, content: 'The launch moved to Friday because QA found a blocking bug in the payment flow.' },
  { role: 'assistant' as const, content: 'Who is fixing the payment bug before Friday?' },
  { role: 'user' as const, content: 'Alice fixes the payment bug by Wednesday. The marketing email moves to Friday too.' },
];

let stack: TestStack;
let upstream: FakeUpstream;
let client: OpenAI;

beforeAll(async () => {
  stack = await startStack({ gateway: { maxBodyBytes: 64 * 1024 } });
  upstream = await startFakeUpstream();
  await stack.addWorker();
  await stack.addWorker(new OpenAIBackend({ baseUrl: upstream.url, models: [{ id: 'upstream-llm', endpoints: ['chat.completions'] }] }));
  client = stack.client();
});
afterAll(async () => {
  await stack.close();
  await upstream.close();
});

async function raw(path: string, init: RequestInit & { key?: string | null } = {}) {
  const headers = new Headers(init.headers);
  if (init.key !== null) headers.set('authorization', `Bearer ${init.key ?? stack.apiKey}`);
  if (init.body) headers.set('content-type', 'application/json');
  return fetch(stack.gateway.url + path, { ...init, headers });
}

describe('models', () => {
  it('lists only models an admitted worker serves', async () => {
    const ids = (await client.models.list()).data.map((m) => m.id).sort();
    expect(ids).toEqual([MODEL, 'upstream-llm']);
    const m = await client.models.retrieve(MODEL);
    expect(m).toMatchObject({ id: MODEL, object: 'model', owned_by: 'sealgate' });
  });

  it('404s an unknown model id with the OpenAI envelope', async () => {
    const err = await client.models.retrieve('nope').catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect(err.error).toMatchObject({ type: 'invalid_request_error', code: 'model_not_found' });
  });
});

describe('chat completions', () => {
  it('answers non-streamed with honest usage and the plain-mode header', async () => {
    const { data, response } = await client.chat.completions.create({ model: MODEL, messages: CONVERSATION }).withResponse();
    expect(response.headers.get('x-sealgate-mode')).toBe('plain');
    expect(response.headers.get('x-request-id')).toMatch(/^req_[0-9a-f]{24}$/);
    const text = data.choices[0]!.message.content!;
    expect(text).toContain('payment bug');
    expect(data.choices[0]!.finish_reason).toBe('stop');
    expect(data.usage!.completion_tokens).toBeGreaterThan(5);
    expect(data.usage!.total_tokens).toBe(data.usage!.prompt_tokens + data.usage!.completion_tokens);
  });

  it('streams token by token with the usage chunk right before [DONE]', async () => {
    const res = await raw('/v1/chat/completions', {
      method: 'POST',
      body: JSON.stringify({ model: MODEL, messages: CONVERSATION, stream: true, stream_options: { include_usage: true } }),
    });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const events = (await res.text()).split('\n\n').filter(Boolean);
    expect(events.at(-1)).toBe('data: [DONE]');
    const usageChunk = JSON.parse(events.at(-2)!.slice(6));
    expect(usageChunk.choices).toEqual([]);
    expect(usageChunk.usage.completion_tokens).toBeGreaterThan(5);
    const contentChunks = events.slice(0, -2).map((e) => JSON.parse(e.slice(6))).filter((c) => c.choices[0]?.delta?.content);
    // One chunk per token: the completion token count equals the content chunks.
    expect(contentChunks.length).toBe(usageChunk.usage.completion_tokens);
  });

  it('streams through the official client, and omits usage unless asked', async () => {
    const stream = await client.chat.completions.create({ model: MODEL, messages: CONVERSATION, stream: true });
    let text = '';
    let usageSeen = false;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? '';
      if (chunk.usage) usageSeen = true;
    }
    expect(text).toContain('payment bug');
    expect(usageSeen).toBe(false);
  });

  it('honours max_tokens, max_completion_tokens, stop, n, seed, temperature and json_object', async () => {
    const short = await client.chat.completions.create({ model: MODEL, messages: CONVERSATION, max_tokens: 4 });
    expect(short.choices[0]!.finish_reason).toBe('length');
    expect(short.usage!.completion_tokens).toBe(4);
    const short2 = await client.chat.completions.create({ model: MODEL, messages: CONVERSATION, max_completion_tokens: 3 });
    expect(short2.usage!.completion_tokens).toBe(3);
    const stopped = await client.chat.completions.create({ model: MODEL, messages: CONVERSATION, stop: ['\n'] });
    expect(stopped.choices[0]!.message.content).not.toContain('\n');
    const many = await client.chat.completions.create({ model: MODEL, messages: CONVERSATION, n: 3, seed: 7, temperature: 0 });
    expect(many.choices.map((c) => c.index)).toEqual([0, 1, 2]);
    const json = await client.chat.completions.create({ model: MODEL, messages: CONVERSATION, response_format: { type: 'json_object' } });
    expect(JSON.parse(json.choices[0]!.message.content!).summary.length).toBeGreaterThan(0);
  });

  it('passes tools and tool_choice to an openai backend and returns its tool call', async () => {
    const tools = [{ type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
    const r = await client.chat.completions.create({
      model: 'upstream-llm',
      messages: [{ role: 'user', content: 'Weather in Paris?' }],
      tools,
      tool_choice: 'auto',
      temperature: 0.2,
      seed: 1,
      stop: ['END'],
      response_format: { type: 'text' },
      top_k: 5,
    } as OpenAI.ChatCompletionCreateParamsNonStreaming);
    expect(r.choices[0]!.finish_reason).toBe('tool_calls');
    expect(r.choices[0]!.message.tool_calls![0]).toMatchObject({ type: 'function', function: { name: 'get_weather' } });
    const seen = upstream.requests.at(-1)!;
    expect(seen).toMatchObject({ tools, tool_choice: 'auto', temperature: 0.2, seed: 1, stop: ['END'], top_k: 5, response_format: { type: 'text' } });
  });

  it('refuses what the demo backend cannot do with a clear 400', async () => {
    const err = await client.chat.completions
      .create({ model: MODEL, messages: CONVERSATION, tools: [{ type: 'function', function: { name: 'f' } }], tool_choice: 'required' })
      .catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(err.param).toBe('tool_choice');
  });
});

describe('completions and embeddings', () => {
  it('serves /v1/completions', async () => {
    const r = await client.completions.create({ model: MODEL, prompt: 'Rust has ownership. Ownership prevents data races at compile time.', max_tokens: 50 });
    expect(r.object).toBe('text_completion');
    expect(r.choices[0]!.text).toContain('Ownership');
  });

  it('serves /v1/embeddings in float and base64', async () => {
    const r = await client.embeddings.create({ model: MODEL, input: ['cats purr', 'cats purr loudly', 'tax law'], dimensions: 64, encoding_format: 'float' });
    expect(r.data).toHaveLength(3);
    expect(r.data[0]!.embedding).toHaveLength(64);
    const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i]!, 0);
    expect(dot(r.data[0]!.embedding, r.data[1]!.embedding)).toBeGreaterThan(dot(r.data[0]!.embedding, r.data[2]!.embedding));
    // The official client decodes base64 itself by default.
    const b = await client.embeddings.create({ model: MODEL, input: 'cats purr', dimensions: 64 });
    expect(b.data[0]!.embedding[0]).toBeCloseTo(r.data[0]!.embedding[0]!, 5);
  });

  it('answers an OpenAI error when no worker offers the endpoint for a model', async () => {
    const err = await client.embeddings.create({ model: 'upstream-llm', input: 'x' }).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(err.code).toBe('unsupported_endpoint');
  });
});

describe('errors', () => {
  it('400 for invalid requests, with the offending param and x-should-retry: false', async () => {
    for (const body of [
      { model: MODEL },
      { model: MODEL, messages: [] },
      { model: MODEL, messages: [{ role: 'wizard', content: 'x' }] },
      { model: MODEL, messages: CONVERSATION, stream_options: { include_usage: true } },
      { model: MODEL, messages: CONVERSATION, temperature: 3 },
      { model: MODEL, messages: CONVERSATION, tool_choice: 'required' },
    ]) {
      const res = await raw('/v1/chat/completions', { method: 'POST', body: JSON.stringify(body) });
      expect(res.status).toBe(400);
      expect(res.headers.get('x-should-retry')).toBe('false');
      expect(res.headers.get('x-request-id')).toBeTruthy();
      const env = await res.json();
      expect(env.error).toMatchObject({ type: 'invalid_request_error' });
      expect(Object.keys(env.error).sort()).toEqual(['code', 'message', 'param', 'type']);
    }
    const bad = await raw('/v1/chat/completions', { method: 'POST', body: '{not json' });
    expect(bad.status).toBe(400);
  });

  it('401 for a missing or wrong key', async () => {
    for (const key of [null, 'sk-sg-wrong']) {
      const res = await raw('/v1/models', { key });
      expect(res.status).toBe(401);
      expect((await res.json()).error.code).toBe('invalid_api_key');
    }
    const err = await stack.client({ apiKey: 'sk-sg-wrong' }).models.list().catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
  });

  it('404 for an unknown model and unknown routes', async () => {
    const err = await client.chat.completions.create({ model: 'no-such-model', messages: CONVERSATION }).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect(err.code).toBe('model_not_found');
    const res = await raw('/v1/nothing-here');
    expect(res.status).toBe(404);
    expect((await res.json()).error).toBeTruthy();
  });

  it('413 for a body over the limit', async () => {
    const huge = 'x'.repeat(70 * 1024);
    const err = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: huge }] }).catch((e) => e);
    expect(err.status).toBe(413);
    expect(err.code).toBe('request_too_large');
  });

  it('x-request-id on every response, unique per request', async () => {
    const a = await raw('/healthz', { key: null });
    const b = await raw('/healthz', { key: null });
    expect(a.headers.get('x-request-id')).not.toBe(b.headers.get('x-request-id'));
  });
});

describe('browsers (CORS)', () => {
  it('answers a preflight without a key, reflecting the headers the openai client sends', async () => {
    const res = await fetch(`${stack.gateway.url}/v1/chat/completions`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type,x-stainless-os' },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-allow-headers')).toBe('authorization,content-type,x-stainless-os');
    expect(res.headers.get('access-control-allow-methods')).toContain('POST');
  });

  it('lets a page read the answer and the sealgate headers', async () => {
    const res = await raw('/v1/chat/completions', {
      method: 'POST',
      headers: { origin: 'https://app.example' },
      body: JSON.stringify({ model: MODEL, messages: CONVERSATION }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-expose-headers')).toContain('x-sealgate-mode');
    await res.arrayBuffer();
    const denied = await raw('/v1/models', { key: 'sk-sg-wrong', headers: { origin: 'https://app.example' } });
    expect(denied.status).toBe(401);
    expect(denied.headers.get('access-control-allow-origin')).toBe('*'); // the page can read why
  });
});
