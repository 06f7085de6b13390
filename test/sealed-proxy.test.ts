/**
 * `sealgate proxy` (cli/proxy.ts): an OpenAI-compatible server on loopback
 * that seals everything to verified workers, driven by the official `openai`
 * client and by raw HTTP, against a real gateway and real workers.
 */
import { writeFileSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toHex } from '../attestation/util/bytes.ts';
import { DemoBackend, DEMO_MODEL_ID } from '../enclave-runner/backends/demo/index.ts';
import { OpenAIBackend } from '../enclave-runner/backends/openai.ts';
import { SimulatedTeeProvider } from '../enclave-runner/evidence/simulated.ts';
import { startWorker, type RunningWorker } from '../enclave-runner/node.ts';
import { PROXY_HELP, runProxy, startProxy } from '../cli/proxy.ts';
import { UsageError } from '../cli/args.ts';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream.ts';
import { startStack, type TestStack } from './stack.ts';

let stack: TestStack;
let upstream: FakeUpstream;
let tee: SimulatedTeeProvider;
let policyFile: string;
const workers: RunningWorker[] = [];
const closers: Array<() => Promise<void>> = [];

/** A TCP relay recording every byte between the proxy and the gateway. */
async function relayTo(url: string): Promise<{ url: string; bytes(): Buffer; close(): Promise<void> }> {
  const target = new URL(url);
  const seen: Buffer[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((c) => {
    const u = connect(Number(target.port), target.hostname);
    for (const s of [c, u]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    c.on('data', (d) => (seen.push(Buffer.from(d)), u.write(d)));
    u.on('data', (d) => (seen.push(Buffer.from(d)), c.write(d)));
    c.on('close', () => u.destroy());
    u.on('close', () => c.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    bytes: () => Buffer.concat(seen),
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

async function proxy(argv: string[], env: Record<string, string | undefined> = {}) {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete process.env[k];
  try {
    const p = await runProxy(['--port', '0', '--policy', policyFile, ...argv]);
    closers.push(p.close);
    return p;
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

const CONVERSATION = (canary: string) => [
  { role: 'user' as const, content: `Project ${canary} launch moved to Friday because QA found a blocking bug in the payment flow.` },
  { role: 'user' as const, content: `Alice fixes the ${canary} payment bug by Wednesday.` },
];

beforeAll(async () => {
  stack = await startStack();
  upstream = await startFakeUpstream();
  tee = await SimulatedTeeProvider.create();
  policyFile = join(stack.dir, 'client-policy.json');
  writeFileSync(policyFile, JSON.stringify({ allowSimulated: true, simulated: { signers: [toHex(tee.tee.publicKey)] } }));
  workers.push(await startWorker({ gatewayUrl: stack.gateway.url, backend: new DemoBackend(), tee }));
  workers.push(
    await startWorker({
      gatewayUrl: stack.gateway.url,
      backend: new OpenAIBackend({ baseUrl: upstream.url, models: [{ id: 'llm', endpoints: ['chat.completions'] }] }),
      tee,
    }),
  );
});
afterAll(async () => {
  for (const c of closers.splice(0)) await c();
  await Promise.all(workers.map((w) => w.kill()));
  await upstream.close();
  await stack.close();
});

describe('sealgate proxy with the official openai client', () => {
  let client: OpenAI;
  let url: string;
  beforeAll(async () => {
    url = (await proxy(['--gateway', stack.gateway.url])).url;
    client = new OpenAI({ baseURL: `${url}/v1`, apiKey: stack.apiKey, maxRetries: 0 });
  });

  it('answers a non-streamed chat completion, sealed end to end', async () => {
    const { data, response } = await client.chat.completions.create({ model: DEMO_MODEL_ID, messages: CONVERSATION('P1') }).withResponse();
    expect(response.headers.get('x-sealgate-mode')).toBe('sealed');
    expect(response.headers.get('x-sealgate-worker')).toBe(workers[0]!.worker.id);
    expect(data.choices[0]!.message.content).toContain('payment bug');
    expect(data.usage!.completion_tokens).toBeGreaterThan(0);
  });

  it('streams with include_usage', async () => {
    const stream = await client.chat.completions.create({ model: DEMO_MODEL_ID, messages: CONVERSATION('P2'), stream: true, stream_options: { include_usage: true } });
    let text = '';
    let usage: OpenAI.CompletionUsage | null = null;
    let chunks = 0;
    for await (const c of stream) {
      chunks++;
      text += c.choices[0]?.delta?.content ?? '';
      if (c.usage) usage = c.usage;
    }
    expect(text).toContain('payment bug');
    expect(usage!.completion_tokens).toBeGreaterThan(5);
    expect(chunks).toBeGreaterThan(usage!.completion_tokens);
  });

  it('returns a tool call from an openai backend', async () => {
    const tools = [{ type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
    const r = await client.chat.completions.create({ model: 'llm', messages: [{ role: 'user', content: 'Weather in Paris?' }], tools });
    expect(r.choices[0]!.finish_reason).toBe('tool_calls');
    expect(r.choices[0]!.message.tool_calls![0]).toMatchObject({ function: { name: 'get_weather', arguments: '{"city":"Paris"}' } });
  });

  it('serves embeddings and passes GET /v1/models through', async () => {
    const e = await client.embeddings.create({ model: DEMO_MODEL_ID, input: 'payment bug' });
    expect(e.data[0]!.embedding.length).toBeGreaterThan(8);
    const ids = (await client.models.list()).data.map((m) => m.id).sort();
    expect(ids).toEqual(['llm', DEMO_MODEL_ID].sort());
  });

  it('returns errors in OpenAI shape', async () => {
    const bad = await client.chat.completions.create({ model: DEMO_MODEL_ID, messages: CONVERSATION('P3'), logprobs: true }).catch((e) => e);
    expect(bad).toBeInstanceOf(OpenAI.BadRequestError);
    expect(bad.error).toMatchObject({ code: 'unsupported_parameter', type: 'invalid_request_error' });
    const missing = await client.chat.completions.create({ model: 'nope', messages: CONVERSATION('P4') }).catch((e) => e);
    expect(missing).toBeInstanceOf(OpenAI.NotFoundError);
    const wrongKey = await new OpenAI({ baseURL: `${url}/v1`, apiKey: 'sk-sg-nope', maxRetries: 0 }).chat.completions.create({ model: DEMO_MODEL_ID, messages: CONVERSATION('P5') }).catch((e) => e);
    expect(wrongKey).toBeInstanceOf(OpenAI.AuthenticationError);
  });

  it('streams SSE to a plain HTTP client (curl-like) ending in [DONE]', async () => {
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: DEMO_MODEL_ID, messages: CONVERSATION('P6'), stream: true }),
    });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const events = (await res.text()).split('\n\n').filter(Boolean);
    expect(events.at(-1)).toBe('data: [DONE]');
    expect(events.length).toBeGreaterThan(5);
  });
});

describe('sealgate proxy: keys, policy and the gateway', () => {
  it('uses SEALGATE_API_KEY when the caller sends no Authorization header, else the caller’s', async () => {
    const p = await proxy(['--gateway', stack.gateway.url], { SEALGATE_API_KEY: stack.apiKey });
    const body = JSON.stringify({ model: DEMO_MODEL_ID, messages: CONVERSATION('P7') });
    const ok = await fetch(`${p.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('x-sealgate-mode')).toBe('sealed');
    const theirs = await fetch(`${p.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer sk-sg-theirs' }, body });
    expect(theirs.status).toBe(401);
    const bare = await proxy(['--gateway', stack.gateway.url], { SEALGATE_API_KEY: undefined });
    const none = await fetch(`${bare.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(none.status).toBe(401);
    expect(((await none.json()) as { error: { type: string } }).error.type).toBe('invalid_request_error');
  });

  it('refuses, in OpenAI shape and before sending anything sealed, when no worker passes its policy', async () => {
    const strict = join(stack.dir, 'strict-policy.json');
    writeFileSync(strict, JSON.stringify({ allowSimulated: true, simulated: { signers: ['11'.repeat(32)] } }));
    const relay = await relayTo(stack.gateway.url);
    closers.push(relay.close);
    const p = await proxy(['--gateway', relay.url, '--policy', strict]);
    const canary = `CANARY${toHex(crypto.getRandomValues(new Uint8Array(8)))}`;
    const err = await new OpenAI({ baseURL: `${p.url}/v1`, apiKey: stack.apiKey, maxRetries: 0 }).chat.completions.create({ model: DEMO_MODEL_ID, messages: CONVERSATION(canary) }).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(err.status).toBe(502);
    expect(err.code).toBe('NO_VERIFIED_WORKER');
    expect(err.error.workers).toEqual([{ id: workers[0]!.worker.id, code: 'QUOTE_SIGNATURE_INVALID', message: expect.any(String) }]);
    const seen = relay.bytes().toString('latin1');
    expect(seen).toContain('GET /v1/workers');
    expect(seen).not.toContain('/v1/sealed');
    expect(seen).not.toContain(canary);
  });

  it('carries only ciphertext between proxy and gateway: the canary never crosses', async () => {
    const relay = await relayTo(stack.gateway.url);
    closers.push(relay.close);
    const p = await proxy(['--gateway', relay.url]);
    const canary = `CANARY${toHex(crypto.getRandomValues(new Uint8Array(8)))}`;
    const c = new OpenAI({ baseURL: `${p.url}/v1`, apiKey: stack.apiKey, maxRetries: 0 });
    const r = await c.chat.completions.create({ model: DEMO_MODEL_ID, messages: CONVERSATION(canary) });
    expect(r.choices[0]!.message.content).toContain(canary);
    const s = await c.chat.completions.create({ model: DEMO_MODEL_ID, messages: CONVERSATION(canary), stream: true });
    let text = '';
    for await (const ch of s) text += ch.choices[0]?.delta?.content ?? '';
    expect(text).toContain(canary);
    const seen = relay.bytes().toString('latin1');
    expect(seen).toContain('POST /v1/sealed');
    for (const form of [canary, canary.toLowerCase(), Buffer.from(canary).toString('base64')]) expect(seen).not.toContain(form);
  });

  it('checks its command line', async () => {
    await expect(runProxy(['--policy', policyFile])).rejects.toBeInstanceOf(UsageError);
    await expect(runProxy(['--gateway', 'not a url', '--policy', policyFile])).rejects.toBeInstanceOf(UsageError);
    await expect(runProxy(['--gateway', stack.gateway.url, '--policy', join(stack.dir, 'missing.json')])).rejects.toBeInstanceOf(UsageError);
    await expect(runProxy(['--gateway', stack.gateway.url, '--bogus'])).rejects.toBeInstanceOf(UsageError);
    expect(PROXY_HELP).toContain('--gateway');
    // startProxy is the programmatic entry behind runProxy.
    const p = await startProxy({ gateway: stack.gateway.url, policy: { allowSimulated: true }, port: 0 });
    closers.push(p.close);
    expect((await fetch(`${p.url}/healthz`)).status).toBe(200);
  });
});
