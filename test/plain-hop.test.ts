/**
 * DESIGN flow 3: a plain-mode request is sealed by the gateway to the worker
 * (docs/PROTOCOL.md §14), so the GPU host between them, modelled here by a
 * byte-capturing TCP relay in front of the worker, sees ciphertext only and
 * cannot replay or alter what it carries.
 */
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toHex, utf8 } from '../attestation/util/bytes.ts';
import { DEMO_MODEL_ID, DemoBackend } from '../enclave-runner/backends/demo/index.ts';
import type { Backend } from '../enclave-runner/backends/types.ts';
import { SimulatedTeeProvider } from '../enclave-runner/evidence/simulated.ts';
import { startWorker, type RunningWorker } from '../enclave-runner/node.ts';
import { HopAnswerError, HopSessions } from '../gateway/forward/hop.ts';
import { HEADER_LENGTH } from '../sdk/protocol/index.ts';
import { SESSION_ID_LENGTH } from '../sdk/protocol/session.ts';
import { freePort, startStack, type TestStack } from './stack.ts';

interface Relay {
  url: string;
  port: number;
  /** Where connections go (settable after start). */
  target: number;
  /** Bytes towards the target (requests) and back (answers), each connection's in order. */
  sent(): Buffer;
  received(): Buffer;
  /** Requests sent, one buffer per connection. */
  connections(): Buffer[];
  /** Cuts every open connection (the host drops traffic). */
  cut(): void;
  close(): Promise<void>;
}

async function relay(target = 0): Promise<Relay> {
  const up: Buffer[] = [];
  const down: Buffer[] = [];
  const perConnection: Buffer[][] = [];
  const sockets = new Set<Socket>();
  const r = { target } as Relay;
  const server = createServer((c) => {
    const mine: Buffer[] = [];
    perConnection.push(mine);
    const u = connect(r.target, '127.0.0.1');
    for (const s of [c, u]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    c.on('data', (d) => (up.push(Buffer.from(d)), mine.push(Buffer.from(d)), u.write(d)));
    u.on('data', (d) => (down.push(Buffer.from(d)), c.write(d)));
    c.on('close', () => u.destroy());
    u.on('close', () => c.destroy());
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  r.port = (server.address() as AddressInfo).port;
  r.url = `http://127.0.0.1:${r.port}`;
  r.sent = () => Buffer.concat(up);
  r.received = () => Buffer.concat(down);
  r.connections = () => perConnection.map((c) => Buffer.concat(c));
  r.cut = () => {
    for (const s of sockets) s.destroy();
  };
  r.close = () =>
    new Promise<void>((res) => {
      r.cut();
      server.close(() => res());
    });
  return r;
}

/** Counts the requests that reach the backend. */
class CountingBackend implements Backend {
  calls = 0;
  readonly name: string;
  constructor(private readonly inner: Backend) {
    this.name = inner.name;
  }
  models() {
    return this.inner.models();
  }
  handle(...args: Parameters<Backend['handle']>) {
    this.calls++;
    return this.inner.handle(...args);
  }
}

/** A worker whose gateway-facing URL is a relay (the GPU host's view of the hop). */
async function hostedWorker(stack: TestStack, backend: Backend): Promise<{ w: RunningWorker; host: Relay; port: number }> {
  const port = await freePort();
  const host = await relay(port);
  const w = await startWorker({ gatewayUrl: stack.gateway.url, backend, tee: await SimulatedTeeProvider.create(), port, host: '127.0.0.1', publicUrl: host.url });
  return { w, host, port };
}

/** The hop requests (`POST /v1/sealed`) in captured request bytes: headers and body. */
function hopRequests(bytes: Buffer): Array<{ headers: Record<string, string>; body: Buffer }> {
  const out: Array<{ headers: Record<string, string>; body: Buffer }> = [];
  let at = 0;
  for (;;) {
    const start = bytes.indexOf('POST /v1/sealed HTTP/1.1\r\n', at, 'latin1');
    if (start < 0) return out;
    const end = bytes.indexOf('\r\n\r\n', start, 'latin1');
    const headers: Record<string, string> = {};
    for (const line of bytes.subarray(start, end).toString('latin1').split('\r\n').slice(1)) {
      const i = line.indexOf(':');
      headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
    }
    const length = Number(headers['content-length']);
    out.push({ headers, body: bytes.subarray(end + 4, end + 4 + length) });
    at = end + 4 + length;
  }
}

const canary = () => `Canary${toHex(crypto.getRandomValues(new Uint8Array(8)))}`;
const ask = (c: string) => [
  { role: 'user' as const, content: `Remember the code word ${c} for the audit. The code word ${c} opens the vault. Say the code word ${c} back.` },
];
const count = (haystack: string, needle: string) => haystack.split(needle).length - 1;

let stack: TestStack;
let backend: CountingBackend;
let w: RunningWorker;
let host: Relay;
let workerPort: number;
let front: Relay;
let client: OpenAI;

beforeAll(async () => {
  stack = await startStack();
  backend = new CountingBackend(new DemoBackend({ tokenDelayMs: 2 }));
  ({ w, host, port: workerPort } = await hostedWorker(stack, backend));
  front = await relay(Number(new URL(stack.gateway.url).port));
  client = new OpenAI({ baseURL: `${front.url}/v1`, apiKey: stack.apiKey, maxRetries: 0 });
}, 30_000);

afterAll(async () => {
  await w?.kill().catch(() => {});
  await host?.close();
  await front?.close();
  await stack?.close();
});

describe('plain path: the gateway → worker hop is sealed', () => {
  it('carries no prompt or completion byte past the gateway (JSON, stream with usage, tools), and receipts land once', async () => {
    const words = [canary(), canary(), canary()];
    const requestIds: string[] = [];
    const usages: Array<{ prompt_tokens: number; completion_tokens: number }> = [];
    const texts: string[] = [];

    const whole = await client.chat.completions.create({ model: DEMO_MODEL_ID, messages: ask(words[0]!) }).withResponse();
    expect(whole.response.headers.get('x-sealgate-mode')).toBe('plain');
    requestIds.push(whole.response.headers.get('x-request-id')!);
    usages.push(whole.data.usage!);
    texts.push(whole.data.choices[0]!.message.content!);

    const streamed = await client.chat.completions.create({ model: DEMO_MODEL_ID, messages: ask(words[1]!), stream: true, stream_options: { include_usage: true } }).withResponse();
    expect(streamed.response.headers.get('x-sealgate-mode')).toBe('plain');
    requestIds.push(streamed.response.headers.get('x-request-id')!);
    let text = '';
    let usage: { prompt_tokens: number; completion_tokens: number } | null = null;
    for await (const chunk of streamed.data) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    expect(usage).not.toBeNull();
    usages.push(usage!);
    texts.push(text);

    const tools = await client.chat.completions
      .create({
        model: DEMO_MODEL_ID,
        messages: ask(words[2]!),
        tools: [{ type: 'function', function: { name: 'lookup', description: `Looks up ${words[2]}`, parameters: { type: 'object', properties: {} } } }],
        tool_choice: 'auto',
      })
      .withResponse();
    requestIds.push(tools.response.headers.get('x-request-id')!);
    usages.push(tools.data.usage!);
    texts.push(tools.data.choices[0]!.message.content!);

    for (const [i, c] of words.entries()) {
      expect(texts[i]).toContain(c); // the demo model says the code word back
      expect(front.sent().toString('latin1')).toContain(c); // the capture works: the client → gateway leg is in clear
    }
    const hop = Buffer.concat([host.sent(), host.received()]).toString('latin1');
    expect(hop).toContain('POST /v1/sessions');
    expect(hop).toContain('POST /v1/sealed');
    expect(hop).not.toContain('/v1/chat/completions');
    for (const c of words) for (const form of [c, c.toLowerCase(), Buffer.from(c).toString('base64')]) expect(hop).not.toContain(form);
    for (const t of texts) expect(hop).not.toContain(t.slice(0, 40));
    expect(backend.calls).toBe(3);

    await w.worker.flushReceipts();
    const stored = (await stack.gateway.storage.listReceipts(1000)).filter((r) => requestIds.includes(r.requestId));
    expect(stored).toHaveLength(3);
    for (const [i, id] of requestIds.entries()) {
      const r = stored.find((s) => s.requestId === id)!;
      expect(r.sig).toBe(''); // a plain receipt: signed by its batch only
      expect(r.promptTokens).toBe(usages[i]!.prompt_tokens);
      expect(r.completionTokens).toBe(usages[i]!.completion_tokens);
    }
    await w.worker.flushReceipts();
    expect((await stack.gateway.storage.listReceipts(1000)).filter((r) => requestIds.includes(r.requestId))).toHaveLength(3);
  });

  it('refuses a hop request the host replays or alters, and nothing reaches the backend twice', async () => {
    const before = host.sent().length;
    await client.chat.completions.create({ model: DEMO_MODEL_ID, messages: ask(canary()) });
    const [captured] = hopRequests(host.sent().subarray(before));
    expect(captured).toBeDefined();
    const calls = backend.calls;
    const { host: _h, 'content-length': _l, connection: _c, ...headers } = captured!.headers;
    const replay = (body: Buffer) => fetch(`http://127.0.0.1:${workerPort}/v1/sealed`, { method: 'POST', headers, body: new Uint8Array(body) });

    const replayed = await replay(captured!.body);
    expect(replayed.status).toBe(400);
    expect(((await replayed.json()) as { error: { code: string } }).error.code).toBe('REPLAY');

    // Altered into a request number never used: the window passes it, authentication does not.
    const tampered = Buffer.from(captured!.body);
    tampered[HEADER_LENGTH + SESSION_ID_LENGTH + 7]! ^= 0x80;
    const altered = await replay(tampered);
    expect(altered.status).toBe(400);
    expect(((await altered.json()) as { error: { code: string } }).error.code).toBe('OPEN_FAILED');
    expect(backend.calls).toBe(calls);
  });

  it('opens a new session when the worker lost its own, and the client sees success', async () => {
    const opens = () => count(host.sent().toString('latin1'), 'POST /v1/sessions');
    const before = opens();
    w.worker.sessions.clear();
    const r = await client.chat.completions.create({ model: DEMO_MODEL_ID, messages: ask(canary()) });
    expect(r.choices[0]!.message.content).toBeTruthy();
    expect(opens()).toBe(before + 1);
    const s = await client.chat.completions.create({ model: DEMO_MODEL_ID, messages: ask(canary()), stream: true });
    let n = 0;
    for await (const _ of s) n++;
    expect(n).toBeGreaterThan(0);
    expect(opens()).toBe(before + 1);
  });

  it('ends the client stream with an explicit error when the hop breaks mid-stream', async () => {
    const s = await client.chat.completions.create({
      model: DEMO_MODEL_ID,
      messages: [{ role: 'user', content: Array.from({ length: 40 }, (_, i) => `Sentence ${i} mentions ${canary()} once more.`).join(' ') }],
      stream: true,
    });
    let chunks = 0;
    const err = await (async () => {
      for await (const _ of s) {
        if (++chunks === 2) host.cut();
      }
    })().catch((e: unknown) => e);
    expect(chunks).toBeGreaterThanOrEqual(2);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    // Still serving afterwards (a new connection, the same session).
    const r = await client.chat.completions.create({ model: DEMO_MODEL_ID, messages: ask(canary()) });
    expect(r.choices[0]!.message.content).toBeTruthy();
  });
});

describe('plain path: a forged clear answer', () => {
  it('is refused: only a sealed answer is taken for a success', async () => {
    const worker = stack.gateway.registry.candidates(DEMO_MODEL_ID, 'chat.completions')[0]!;
    const forged = utf8(JSON.stringify({ choices: [{ message: { role: 'assistant', content: 'forged' } }] }));
    const hops = new HopSessions(
      async (url) => (url.endsWith('/v1/sessions') ? { status: 204, contentType: '', bytes: new Uint8Array(0), stream: null } : { status: 200, contentType: 'application/json', bytes: forged, stream: null }),
      { openTimeoutMs: 5_000 },
    );
    const body = JSON.stringify({ model: DEMO_MODEL_ID, messages: ask(canary()) });
    const sent = hops.send(worker, { endpoint: 'chat.completions', model: DEMO_MODEL_ID, body, headers: {}, signal: new AbortController().signal, whole: true });
    await expect(sent).rejects.toBeInstanceOf(HopAnswerError);
  });
});

describe('plain path: hop sessions rotate', () => {
  it('keeps serving while sessions are replaced every few milliseconds', async () => {
    const s2 = await startStack({ gateway: { hopRotateMs: 5 } });
    const { w: w2, host: h2 } = await hostedWorker(s2, new DemoBackend());
    try {
      const c = s2.client();
      for (let i = 0; i < 8; i++) {
        const r = await c.chat.completions.create({ model: DEMO_MODEL_ID, messages: ask(canary()) });
        expect(r.choices[0]!.message.content).toBeTruthy();
        await new Promise((res) => setTimeout(res, 10));
      }
      expect(count(h2.sent().toString('latin1'), 'POST /v1/sessions')).toBeGreaterThan(2);
    } finally {
      await w2.kill().catch(() => {});
      await h2.close();
      await s2.close();
    }
  });
});
