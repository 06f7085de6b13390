/**
 * End to end through `sealedFetch` with the official `openai` client, a real
 * gateway and real enclave workers on loopback (issue 4): the happy paths,
 * the canary (property 1), a malicious gateway (property 2), altered sealed
 * responses (property 4) and dying workers (property 5).
 */
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, connect, type Server as TcpServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { canonicalJson, reportDataFor, verifyBundle, workerIdFor, type BindingClaims, type BundleVerifier, type EvidenceBundle, type PolicyInput } from '../attestation/index.ts';
import { SimulatedTee } from '../attestation/simulated/index.ts';
import { toBase64, toBase64Url, toHex } from '../attestation/util/bytes.ts';
import type { LogEvent } from '../gateway/log.ts';
import { DemoBackend, DEMO_MODEL_ID } from '../enclave-runner/backends/demo/index.ts';
import { OpenAIBackend } from '../enclave-runner/backends/openai.ts';
import type { Backend } from '../enclave-runner/backends/types.ts';
import { SimulatedTeeProvider } from '../enclave-runner/evidence/simulated.ts';
import { startWorker, type RunningWorker } from '../enclave-runner/node.ts';
import { SEALED_RESPONSE_TYPE, SealedFetchError, createSealedClient, digestHex, sealedFetch, type Receipt, type ReceiptInfo, type SealedFetchOptions } from '../sdk/index.ts';
import { accountForApiKey, bindingKeysFor, generateRecipientKeys, openRequest, signReceipt } from '../sdk/protocol/index.ts';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream.ts';
import { startStack, type TestStack } from './stack.ts';

// ---------------------------------------------------------------------------
// helpers: loopback TCP relay, malicious HTTP gateway proxy, sealed frames

/** A byte-for-byte TCP relay that records everything in both directions. */
interface Relay {
  url: string;
  port: number;
  target: { host: string; port: number } | null;
  up: Buffer[];
  down: Buffer[];
  bytes(): Buffer;
  close(): Promise<void>;
}

async function startRelay(target: { host: string; port: number } | null = null): Promise<Relay> {
  const sockets = new Set<Socket>();
  const relay: Relay = {
    url: '',
    port: 0,
    target,
    up: [],
    down: [],
    bytes: () => Buffer.concat([...relay.up, ...relay.down]),
    close: async () => {},
  };
  const server: TcpServer = createTcpServer((client) => {
    const t = relay.target;
    if (!t) return client.destroy();
    const upstream = connect(t.port, t.host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    }
    client.on('data', (d) => {
      relay.up.push(Buffer.from(d));
      upstream.write(d);
    });
    upstream.on('data', (d) => {
      relay.down.push(Buffer.from(d));
      client.write(d);
    });
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  relay.port = (server.address() as AddressInfo).port;
  relay.url = `http://127.0.0.1:${relay.port}`;
  relay.close = () =>
    new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    });
  return relay;
}

async function freePort(): Promise<number> {
  const s = createTcpServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

type Listing = { id: string; models: string[]; admittedUntil: number; evidence: EvidenceBundle; verdict: unknown };

/**
 * A malicious gateway: an HTTP proxy in front of the real one that can rewrite
 * the worker list, the sealed request's routing headers and the sealed
 * response bytes. It records every request it sees.
 */
interface EvilGateway {
  url: string;
  seen: Array<{ method: string; path: string; headers: Record<string, string>; body: Buffer }>;
  /** Every byte it received or sent. */
  bytes(): Buffer;
  rewriteWorkers: ((data: Listing[]) => Listing[] | Promise<Listing[]>) | null;
  rewriteSealedHeaders: ((h: Record<string, string>, n: number) => Record<string, string>) | null;
  /** Rewrites a sealed response; an array is sent piece by piece, 5 ms apart (as a network delivers frames). */
  rewriteSealedResponse: ((b: Buffer, n: number) => Buffer | Buffer[]) | null;
  close(): Promise<void>;
}

async function startEvilGateway(upstream: string): Promise<EvilGateway> {
  const captured: Buffer[] = [];
  let sealedCount = 0;
  const evil: EvilGateway = {
    url: '',
    seen: [],
    bytes: () => Buffer.concat(captured),
    rewriteWorkers: null,
    rewriteSealedHeaders: null,
    rewriteSealedResponse: null,
    close: async () => {},
  };
  const server: HttpServer = createHttpServer(async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    captured.push(body);
    let headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (typeof v === 'string' && !['host', 'connection', 'content-length', 'transfer-encoding', 'keep-alive'].includes(k)) headers[k] = v;
    }
    const path = req.url ?? '/';
    evil.seen.push({ method: req.method ?? 'GET', path, headers, body });
    const sealed = req.method === 'POST' && path === '/v1/sealed';
    const n = sealed ? sealedCount++ : -1;
    if (sealed && evil.rewriteSealedHeaders) headers = evil.rewriteSealedHeaders(headers, n);
    let up: Response;
    try {
      up = await fetch(upstream + path, { method: req.method, headers, ...(body.length ? { body } : {}) });
    } catch {
      res.writeHead(502).end();
      return;
    }
    const outHeaders: Record<string, string> = {};
    up.headers.forEach((v, k) => {
      if (!['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'content-encoding'].includes(k)) outHeaders[k] = v;
    });
    if (req.method === 'GET' && path === '/v1/workers' && evil.rewriteWorkers) {
      const json = (await up.json()) as { object: string; data: Listing[] };
      const out = Buffer.from(JSON.stringify({ ...json, data: await evil.rewriteWorkers(json.data) }));
      captured.push(out);
      res.writeHead(up.status, outHeaders).end(out);
      return;
    }
    if (sealed && up.status === 200 && evil.rewriteSealedResponse) {
      const all = Buffer.from(await up.arrayBuffer());
      const out = evil.rewriteSealedResponse(all, n);
      const pieces = Array.isArray(out) ? out : [out];
      res.writeHead(up.status, outHeaders);
      for (const piece of pieces) {
        captured.push(piece);
        res.write(piece);
        if (pieces.length > 1) await new Promise((r) => setTimeout(r, 5));
      }
      res.end();
      return;
    }
    res.writeHead(up.status, outHeaders);
    if (up.body) {
      try {
        for await (const c of up.body as unknown as AsyncIterable<Uint8Array>) {
          captured.push(Buffer.from(c));
          res.write(c);
        }
      } catch {
        res.destroy();
        return;
      }
    }
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  evil.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  evil.close = () =>
    new Promise<void>((r) => {
      server.close(() => r());
      server.closeAllConnections();
    });
  return evil;
}

/** QUIC varint reader (PROTOCOL.md §7). */
function varint(b: Buffer, off: number): { value: number; next: number } {
  const first = b[off]!;
  const len = 1 << (first >> 6);
  let v = first & 0x3f;
  for (let i = 1; i < len; i++) v = v * 256 + b[off + i]!;
  return { value: v, next: off + len };
}

/** Splits a sealed response (ChaCha20-Poly1305: 32-byte response nonce) into its nonce and whole frames. */
function splitFrames(b: Buffer, nonceLength = 32): { nonce: Buffer; frames: Buffer[] } {
  const frames: Buffer[] = [];
  let o = nonceLength;
  while (o < b.length) {
    const s = varint(b, o + 1);
    const l = varint(b, s.next);
    frames.push(b.subarray(o, l.next + l.value));
    o = l.next + l.value;
  }
  return { nonce: b.subarray(0, nonceLength), frames };
}

function includesAny(hay: Buffer | string, needles: string[]): string | null {
  const h = typeof hay === 'string' ? hay : hay.toString('latin1');
  for (const n of needles) if (h.includes(n)) return n;
  return null;
}

/** Forms of a secret string a careless component could leak it in. */
function forms(secret: string): string[] {
  return [secret, secret.toLowerCase(), Buffer.from(secret).toString('base64'), Buffer.from(secret).toString('hex')];
}

/** Every SQLite file (db, -wal, -shm, journal) in a directory, concatenated. */
function storageBytes(dir: string): Buffer {
  return Buffer.concat(readdirSync(dir).filter((f) => f.includes('.db')).map((f) => readFileSync(join(dir, f))));
}

/** Runs an openai call and returns the error it throws (or fails the test). */
async function rejection(p: Promise<unknown>): Promise<any> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

/** The sealed-stream code of an error, however it reached the caller (stream error event, thrown fetch, errored body). */
function sealCodeOf(e: any): string | undefined {
  if (e instanceof SealedFetchError) return e.sealCode ?? e.code;
  if (e?.cause instanceof SealedFetchError) return e.cause.sealCode ?? e.cause.code;
  if (e instanceof OpenAI.APIError) return e.code ?? undefined;
  return undefined;
}

async function drain(stream: AsyncIterable<OpenAI.ChatCompletionChunk>): Promise<{ text: string; usage: OpenAI.CompletionUsage | null; error: any }> {
  let text = '';
  let usage: OpenAI.CompletionUsage | null = null;
  try {
    for await (const c of stream) {
      text += c.choices[0]?.delta?.content ?? '';
      if (c.usage) usage = c.usage;
    }
    return { text, usage, error: null };
  } catch (e) {
    return { text, usage, error: e };
  }
}

// ---------------------------------------------------------------------------
// test fixture: a gateway, workers under pinned simulated TEEs

interface Fixture {
  stack: TestStack;
  events: LogEvent[];
  trusted: SimulatedTeeProvider;
  policy: PolicyInput;
  workers: RunningWorker[];
  relays: Relay[];
  upstreams: FakeUpstream[];
  addWorker(opts?: { backend?: Backend; tee?: SimulatedTeeProvider; relay?: boolean }): Promise<{ worker: RunningWorker; relay: Relay | null }>;
  upstreamWorker(mode?: FakeUpstream['mode']): Promise<{ worker: RunningWorker; upstream: FakeUpstream }>;
  sealed(opts?: Partial<SealedFetchOptions> & { baseURL?: string; apiKey?: string }): OpenAI;
  close(): Promise<void>;
}

const CONVERSATION = (canary: string) => [
  { role: 'system' as const, content: 'You summarize chats.' },
  { role: 'user' as const, content: `Project ${canary} launch moved to Friday because QA found a blocking bug in the payment flow.` },
  { role: 'user' as const, content: `Alice fixes the ${canary} payment bug by Wednesday. The marketing email moves to Friday too.` },
];

async function fixture(opts: { gateway?: Parameters<typeof startStack>[0] } = {}): Promise<Fixture> {
  const events: LogEvent[] = [];
  const stack = await startStack({ ...opts.gateway, gateway: { logger: (e) => events.push(e), ...opts.gateway?.gateway } });
  const trusted = await SimulatedTeeProvider.create();
  const f: Fixture = {
    stack,
    events,
    trusted,
    policy: { allowSimulated: true, simulated: { signers: [toHex(trusted.tee.publicKey)] } },
    workers: [],
    relays: [],
    upstreams: [],
    async addWorker(o = {}) {
      let relay: Relay | null = null;
      let port = 0;
      if (o.relay) {
        port = await freePort();
        relay = await startRelay({ host: '127.0.0.1', port });
        f.relays.push(relay);
      }
      const worker = await startWorker({
        gatewayUrl: stack.gateway.url,
        backend: o.backend ?? new DemoBackend(),
        tee: o.tee ?? trusted,
        ...(relay ? { port, publicUrl: relay.url } : {}),
      });
      f.workers.push(worker);
      return { worker, relay };
    },
    async upstreamWorker(mode = 'normal') {
      const upstream = await startFakeUpstream();
      upstream.mode = mode;
      f.upstreams.push(upstream);
      const { worker } = await f.addWorker({ backend: new OpenAIBackend({ baseUrl: upstream.url, models: [{ id: 'llm', endpoints: ['chat.completions'] }] }) });
      return { worker, upstream };
    },
    sealed(o = {}) {
      const { baseURL, apiKey, ...rest } = o;
      return new OpenAI({
        baseURL: baseURL ?? `${stack.gateway.url}/v1`,
        apiKey: apiKey ?? stack.apiKey,
        maxRetries: 0,
        fetch: sealedFetch({ policy: f.policy, ...rest }),
      });
    },
    async close() {
      await Promise.all(f.workers.map((w) => w.kill().catch(() => {})));
      await Promise.all(f.relays.map((r) => r.close()));
      await Promise.all(f.upstreams.map((u) => u.close()));
      await stack.close();
    },
  };
  return f;
}

// ---------------------------------------------------------------------------

describe('sealedFetch with the official openai client', () => {
  let f: Fixture;
  const receipts: Array<{ receipt: Receipt; info: ReceiptInfo }> = [];
  let client: OpenAI;
  let verifyCalls = 0;
  beforeAll(async () => {
    f = await fixture();
    await f.addWorker();
    await f.upstreamWorker();
    const counting: BundleVerifier = (b, o) => {
      verifyCalls++;
      return verifyBundle(b, o);
    };
    client = f.sealed({ onReceipt: (receipt, info) => receipts.push({ receipt, info }), verify: counting });
  });
  afterAll(() => f.close());

  it('answers a non-streamed chat completion sealed, with a verified receipt', async () => {
    const before = receipts.length;
    const { data, response } = await client.chat.completions.create({ model: DEMO_MODEL_ID, messages: CONVERSATION('K1') }).withResponse();
    expect(response.headers.get('x-sealgate-mode')).toBe('sealed');
    expect(response.headers.get('x-sealgate-worker')).toMatch(/^wk_[0-9a-f]{24}$/);
    expect(data.choices[0]!.message.content).toContain('payment bug');
    expect(data.usage!.total_tokens).toBe(data.usage!.prompt_tokens + data.usage!.completion_tokens);
    expect(receipts.length).toBe(before + 1);
    const { receipt, info } = receipts.at(-1)!;
    expect(receipt).toMatchObject({ v: 1, model: DEMO_MODEL_ID, endpoint: 'chat.completions', workerId: response.headers.get('x-sealgate-worker') });
    expect(receipt.requestDigest).toMatch(/^[0-9a-f]{64}$/);
    expect(receipt.completionTokens).toBe(data.usage!.completion_tokens);
    expect(receipt.promptTokens).toBe(data.usage!.prompt_tokens);
    expect(info.attempts).toHaveLength(1);
  });

  it('streams a chat completion with include_usage chunk by chunk, then checks the receipt', async () => {
    const before = receipts.length;
    const stream = await client.chat.completions.create({
      model: DEMO_MODEL_ID,
      messages: CONVERSATION('K2'),
      stream: true,
      stream_options: { include_usage: true },
    });
    let chunks = 0;
    let text = '';
    let usage: OpenAI.CompletionUsage | null = null;
    for await (const c of stream) {
      chunks++;
      text += c.choices[0]?.delta?.content ?? '';
      if (c.usage) usage = c.usage;
    }
    expect(text).toContain('payment bug');
    expect(usage!.completion_tokens).toBeGreaterThan(5);
    expect(chunks).toBeGreaterThan(usage!.completion_tokens); // streamed token by token
    expect(receipts.length).toBe(before + 1);
    expect(receipts.at(-1)!.receipt.completionTokens).toBe(usage!.completion_tokens);
  });

  it('omits the usage chunk unless asked', async () => {
    const r = await drain(await client.chat.completions.create({ model: DEMO_MODEL_ID, messages: CONVERSATION('K3'), stream: true }));
    expect(r.error).toBeNull();
    expect(r.text).toContain('payment bug');
    expect(r.usage).toBeNull();
  });

  it('passes tools to an openai backend and returns its tool call', async () => {
    const tools = [{ type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
    const r = await client.chat.completions.create({ model: 'llm', messages: [{ role: 'user', content: 'Weather in Paris?' }], tools, tool_choice: 'auto' });
    expect(r.choices[0]!.finish_reason).toBe('tool_calls');
    expect(r.choices[0]!.message.tool_calls![0]).toMatchObject({ type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } });
    const upstreamSaw = f.upstreams[0]!.requests.at(-1)!;
    expect(upstreamSaw.tools).toEqual(tools);
  });

  it('seals completions and embeddings too', async () => {
    const c = await client.completions.create({ model: DEMO_MODEL_ID, prompt: 'Alice fixes the payment bug by Wednesday. The launch is Friday.' });
    expect(c.choices[0]!.text.length).toBeGreaterThan(0);
    const e = await client.embeddings.create({ model: DEMO_MODEL_ID, input: ['payment bug', 'launch'] });
    expect(e.data).toHaveLength(2);
    expect(e.data[0]!.embedding.length).toBeGreaterThan(8);
    expect(receipts.at(-1)!.receipt.endpoint).toBe('embeddings');
  });

  it('returns errors in OpenAI shape: sealed backend errors, gateway auth errors, unknown models', async () => {
    const bad = await rejection(client.chat.completions.create({ model: DEMO_MODEL_ID, messages: CONVERSATION('K4'), logprobs: true }));
    expect(bad).toBeInstanceOf(OpenAI.BadRequestError);
    expect(bad.code).toBe('unsupported_parameter');
    expect(bad.headers.get('x-sealgate-mode')).toBe('sealed');
    const auth = await rejection(f.sealed({ apiKey: 'sk-sg-wrong' }).chat.completions.create({ model: DEMO_MODEL_ID, messages: CONVERSATION('K5') }));
    expect(auth).toBeInstanceOf(OpenAI.AuthenticationError);
    const missing = await rejection(client.chat.completions.create({ model: 'no-such-model', messages: CONVERSATION('K6') }));
    expect(missing).toBeInstanceOf(OpenAI.NotFoundError);
    expect(missing.code).toBe('model_not_found');
  });

  it('passes other routes through and caches verdicts until they expire', async () => {
    const models = (await client.models.list()).data.map((m) => m.id).sort();
    expect(models).toEqual(['llm', DEMO_MODEL_ID].sort());
    const n = verifyCalls;
    for (let i = 0; i < 3; i++) await client.embeddings.create({ model: DEMO_MODEL_ID, input: 'x' });
    expect(verifyCalls).toBe(n); // both bundles verified once, by the earlier requests
    expect(n).toBeLessThanOrEqual(2);
  });

  it('refuses to talk to a gateway whose workers fail the client policy, before sending anything sealed', async () => {
    const evil = await startEvilGateway(f.stack.gateway.url);
    try {
      const strict = new OpenAI({
        baseURL: `${evil.url}/v1`,
        apiKey: f.stack.apiKey,
        maxRetries: 0,
        fetch: sealedFetch({ policy: { allowSimulated: false } }),
      });
      const canary = `CANARY${toHex(crypto.getRandomValues(new Uint8Array(8)))}`;
      const err = await rejection(strict.chat.completions.create({ model: DEMO_MODEL_ID, messages: CONVERSATION(canary) }));
      expect(err).toBeInstanceOf(OpenAI.APIConnectionError);
      expect(err.cause).toBeInstanceOf(SealedFetchError);
      expect(err.cause.code).toBe('NO_VERIFIED_WORKER');
      expect(err.cause.workers.map((w: { code: string }) => w.code)).toEqual(['SIMULATED_NOT_ALLOWED']);
      expect(evil.seen.filter((s) => s.path === '/v1/sealed')).toHaveLength(0);
      expect(includesAny(evil.bytes(), forms(canary))).toBeNull();
    } finally {
      await evil.close();
    }
  });
});

// ---------------------------------------------------------------------------

describe('canary: the gateway never sees a prompt or completion byte on the sealed path', () => {
  let f: Fixture;
  afterAll(() => f?.close());

  it('captures client↔gateway and gateway↔worker traffic, the event log and SQLite: sealed has no canary, plain has it', async () => {
    f = await fixture();
    const { relay: workerRelay } = await f.addWorker({ relay: true, backend: new DemoBackend() });
    const gw = new URL(f.stack.gateway.url);
    const front = await startRelay({ host: gw.hostname, port: Number(gw.port) });
    f.relays.push(front);

    const canary = `CANARY${toHex(crypto.getRandomValues(new Uint8Array(8)))}`;
    const client = f.sealed({ baseURL: `${front.url}/v1` });
    const one = await client.chat.completions.create({ model: DEMO_MODEL_ID, messages: CONVERSATION(canary) });
    const completion = one.choices[0]!.message.content!;
    expect(completion).toContain(canary); // the completion carries the canary: it is a secret too
    const s = await drain(await client.chat.completions.create({ model: DEMO_MODEL_ID, messages: CONVERSATION(canary), stream: true, stream_options: { include_usage: true } }));
    expect(s.error).toBeNull();
    expect(s.text).toContain(canary);
    await client.completions.create({ model: DEMO_MODEL_ID, prompt: `The ${canary} report is due Monday.` });
    await client.embeddings.create({ model: DEMO_MODEL_ID, input: `${canary} embedding input` });
    const err = await rejection(client.chat.completions.create({ model: DEMO_MODEL_ID, messages: CONVERSATION(canary), logprobs: true }));
    expect(err.status).toBe(400); // errors that can echo the prompt travel sealed too
    await f.stack.gateway.flush();

    const secrets = [...forms(canary), completion.slice(0, 60), s.text.slice(0, 60)];
    // The captures did see the sealed traffic (in clear: routing metadata only).
    expect(front.bytes().toString('latin1')).toContain('POST /v1/sealed');
    expect(workerRelay!.bytes().toString('latin1')).toContain('/v1/sealed');
    expect(includesAny(front.bytes(), secrets)).toBeNull();
    expect(includesAny(workerRelay!.bytes(), secrets)).toBeNull();
    expect(includesAny(JSON.stringify(f.events), secrets)).toBeNull();
    expect(includesAny(storageBytes(f.stack.dir), secrets)).toBeNull();
    expect(f.events.length).toBeGreaterThan(0);

    // The same canary on the plain path shows up in the same captures: they work.
    const plainCanary = `CANARY${toHex(crypto.getRandomValues(new Uint8Array(8)))}`;
    const plain = new OpenAI({ baseURL: `${front.url}/v1`, apiKey: f.stack.apiKey, maxRetries: 0 });
    const p = await plain.chat.completions.create({ model: DEMO_MODEL_ID, messages: CONVERSATION(plainCanary) });
    expect(p.choices[0]!.message.content).toContain(plainCanary);
    expect(includesAny(Buffer.concat(front.up), [plainCanary])).toBe(plainCanary);
    expect(includesAny(Buffer.concat(front.down), [plainCanary])).toBe(plainCanary);
    // Gateway→worker: the plain path's hop is sealed too (docs/PROTOCOL.md §14); the relay sees its clear metadata only.
    expect(Buffer.concat(workerRelay!.up).toString('latin1')).toContain('POST /v1/sessions');
    expect(Buffer.concat(workerRelay!.down).toString('latin1')).toContain('application/vnd.sealgate.sealed-response');
    expect(includesAny(Buffer.concat(workerRelay!.up), [plainCanary])).toBeNull();
    expect(includesAny(Buffer.concat(workerRelay!.down), [plainCanary])).toBeNull();
  });
});

// ---------------------------------------------------------------------------

describe('a malicious gateway', () => {
  let f: Fixture;
  let evil: EvilGateway;
  const debugTee = SimulatedTee.create({ debug: true });
  const patchedTee = SimulatedTee.create({ measurementLabel: 'patched-image' });
  const strangerTee = SimulatedTee.create();

  beforeAll(async () => {
    f = await fixture();
    await f.addWorker();
    await f.addWorker();
    evil = await startEvilGateway(f.stack.gateway.url);
    const [d, p] = await Promise.all([debugTee, patchedTee]);
    // The client trusts these platform keys, but only the default image measurement, and never debug.
    const measurement = toHex(new Uint8Array(await crypto.subtle.digest('SHA-384', new TextEncoder().encode('sealgate-simulated-tee'))));
    f.policy = {
      allowSimulated: true,
      maxEvidenceAgeSeconds: 600,
      simulated: { signers: [toHex(f.trusted.tee.publicKey), toHex(d.publicKey), toHex(p.publicKey)], measurements: [{ measurement }] },
    };
  });
  afterEach(() => {
    evil.rewriteWorkers = null;
    evil.rewriteSealedHeaders = null;
    evil.rewriteSealedResponse = null;
    evil.seen.length = 0;
  });
  afterAll(async () => {
    await evil.close();
    await f.close();
  });

  /** Evidence for a listed worker's bound keys from `tee`, issued at `issuedAt` (the clock it is built with; null: undated). */
  async function craft(tee: SimulatedTee, l: Listing, issuedAt: number | null = Math.floor(Date.now() / 1000)): Promise<EvidenceBundle> {
    const { keys, nonce, models } = l.evidence.binding;
    const b: BindingClaims = issuedAt === null ? { keys, nonce, models } : { keys, nonce, models, issuedAt };
    const rd = await reportDataFor(b);
    return { version: 1, tee: { kind: 'simulated', evidence: toBase64(tee.quote(rd, issuedAt ?? Math.floor(Date.now() / 1000))) }, binding: b };
  }

  async function refused(rewrite: (data: Listing[]) => Listing[] | Promise<Listing[]>, expectedCodes: string[]) {
    evil.rewriteWorkers = rewrite;
    const canary = `CANARY${toHex(crypto.getRandomValues(new Uint8Array(6)))}`;
    const client = f.sealed({ baseURL: `${evil.url}/v1` });
    const err = await rejection(client.chat.completions.create({ model: DEMO_MODEL_ID, messages: CONVERSATION(canary) }));
    expect(err).toBeInstanceOf(OpenAI.APIConnectionError);
    const cause = err.cause as SealedFetchError;
    expect(cause).toBeInstanceOf(SealedFetchError);
    expect(cause.code).toBe('NO_VERIFIED_WORKER');
    expect(cause.workers.map((w) => w.code).sort()).toEqual([...expectedCodes].sort());
    // Refused before sending anything sealed.
    expect(evil.seen.some((s) => s.path === '/v1/sealed')).toBe(false);
    expect(includesAny(evil.bytes(), forms(canary))).toBeNull();
    return cause;
  }

  it('is used normally while it behaves', async () => {
    const client = f.sealed({ baseURL: `${evil.url}/v1` });
    const r = await client.chat.completions.create({ model: DEMO_MODEL_ID, messages: CONVERSATION('OK') });
    expect(r.choices[0]!.message.content).toContain('payment bug');
    const sealed = evil.seen.filter((s) => s.path === '/v1/sealed');
    expect(sealed).toHaveLength(1);
    // Only routing metadata in clear; the suite is X-Wing (preferred when offered) with ChaCha20-Poly1305.
    expect(sealed[0]!.headers).toMatchObject({ 'content-type': 'application/vnd.sealgate.sealed-request', 'x-sealgate-model': DEMO_MODEL_ID, 'x-sealgate-endpoint': 'chat.completions' });
    expect(sealed[0]!.body.readUInt16BE(1)).toBe(0x647a);
    expect(sealed[0]!.body.readUInt16BE(5)).toBe(0x0003);
    await f.sealed({ baseURL: `${evil.url}/v1`, allowKems: ['X25519'], aead: 'AES-128-GCM' }).chat.completions.create({ model: DEMO_MODEL_ID, messages: CONVERSATION('OK') });
    const last = evil.seen.filter((s) => s.path === '/v1/sealed').at(-1)!;
    expect(last.body.readUInt16BE(1)).toBe(0x0020);
    expect(last.body.readUInt16BE(5)).toBe(0x0001);
  });

  it("swaps a worker's HPKE key for its own: REPORT_DATA_MISMATCH", async () => {
    const attacker = toBase64Url(crypto.getRandomValues(new Uint8Array(32)));
    const swap = (l: Listing): Listing => ({
      ...l,
      evidence: {
        ...l.evidence,
        binding: { ...l.evidence.binding, keys: l.evidence.binding.keys.map((k) => (k.use === 'hpke' && k.alg === 'X25519' ? { ...k, key: attacker } : k)) },
      },
    });
    await refused((data) => data.map(swap), ['REPORT_DATA_MISMATCH', 'REPORT_DATA_MISMATCH']);
    // Relabelling the worker with the id its new keys derive to does not help.
    await refused(
      async (data) => Promise.all(data.map(async (l) => { const s = swap(l); return { ...s, id: await workerIdFor(s.evidence.binding.keys) }; })),
      ['REPORT_DATA_MISMATCH', 'REPORT_DATA_MISMATCH'],
    );
  });

  it('replays an old bundle (built with an old clock): EVIDENCE_EXPIRED; an undated one too', async () => {
    const old = Math.floor(Date.now() / 1000) - 3 * 3600;
    const c = await refused(
      async (data) => Promise.all(data.map(async (l, i) => ({ ...l, evidence: await craft(f.trusted.tee, l, i === 0 ? old : null) }))),
      ['EVIDENCE_EXPIRED', 'EVIDENCE_EXPIRED'],
    );
    expect(c.workers.map((w) => w.message).join(' ')).toContain('no issue time');
  });

  it("serves a debug worker's, an unallowed image's and an unpinned signer's evidence: DEBUG_ENABLED, MEASUREMENT_NOT_ALLOWED, QUOTE_SIGNATURE_INVALID", async () => {
    const [d, p, s] = await Promise.all([debugTee, patchedTee, strangerTee]);
    await refused(
      async (data) => Promise.all([d, p, s].map(async (tee) => ({ ...data[0]!, evidence: await craft(tee, data[0]!) }))),
      ['DEBUG_ENABLED', 'MEASUREMENT_NOT_ALLOWED', 'QUOTE_SIGNATURE_INVALID'],
    );
  });

  it('relabels workers (swaps their ids): WORKER_ID_MISMATCH', async () => {
    await refused((data) => data.map((l, i) => ({ ...l, id: data[(i + 1) % data.length]!.id })), ['WORKER_ID_MISMATCH', 'WORKER_ID_MISMATCH']);
  });

  it('lists a model the evidence does not bind: MODEL_NOT_BOUND', async () => {
    evil.rewriteWorkers = (data) => data.map((l) => ({ ...l, models: [...l.models, 'other-model'] }));
    const err = await rejection(f.sealed({ baseURL: `${evil.url}/v1` }).chat.completions.create({ model: 'other-model', messages: CONVERSATION('X') }));
    expect(err.cause.code).toBe('NO_VERIFIED_WORKER');
    expect(err.cause.workers.map((w: { code: string }) => w.code)).toEqual(['MODEL_NOT_BOUND', 'MODEL_NOT_BOUND']);
    expect(evil.seen.some((s) => s.path === '/v1/sealed')).toBe(false);
  });

  it('routes the sealed request to another worker than the one it was sealed to: the worker cannot open it, the SDK retries or fails, nothing leaks', async () => {
    const ids = f.workers.map((w) => w.worker.id!);
    const other = (id: string) => ids.find((x) => x !== id)!;
    const canary = `CANARY${toHex(crypto.getRandomValues(new Uint8Array(6)))}`;
    const attempts: string[] = [];
    // Always misroute: every attempt is refused as unopenable; the caller gets a typed error.
    evil.rewriteSealedHeaders = (h) => ({ ...h, 'x-sealgate-worker': other(h['x-sealgate-worker']!) });
    const err = await rejection(
      f.sealed({ baseURL: `${evil.url}/v1`, onAttempt: (a) => attempts.push(`${a.outcome}:${a.code}`) }).chat.completions.create({ model: DEMO_MODEL_ID, messages: CONVERSATION(canary) }),
    );
    expect(err.cause).toBeInstanceOf(SealedFetchError);
    expect(err.cause.code).toBe('SEALED_REQUEST_REJECTED');
    expect(attempts.length).toBe(2);
    expect(attempts.every((a) => a === '400:OPEN_FAILED' || a === '421:KEY_MISMATCH' || a === '400:KEY_MISMATCH')).toBe(true);
    expect(includesAny(evil.bytes(), forms(canary))).toBeNull();

    // Misroute only the first attempt: the SDK retries on the other worker transparently.
    let n = 0;
    evil.rewriteSealedHeaders = (h) => (n++ === 0 ? { ...h, 'x-sealgate-worker': other(h['x-sealgate-worker']!) } : h);
    evil.seen.length = 0;
    const before = evil.seen.length;
    const ok = await f.sealed({ baseURL: `${evil.url}/v1`, select: 'first' }).chat.completions.create({ model: DEMO_MODEL_ID, messages: CONVERSATION(canary) });
    expect(ok.choices[0]!.message.content).toContain(canary);
    expect(evil.seen.slice(before).filter((s) => s.path === '/v1/sealed').length).toBeGreaterThanOrEqual(2);
    expect(includesAny(evil.bytes(), forms(canary))).toBeNull();
  });

  it('replays a captured sealed request to the worker: REPLAY (409)', async () => {
    await f.sealed({ baseURL: `${evil.url}/v1` }).chat.completions.create({ model: DEMO_MODEL_ID, messages: CONVERSATION('R') });
    const s = evil.seen.find((x) => x.path === '/v1/sealed')!;
    const again = await fetch(`${f.stack.gateway.url}/v1/sealed`, { method: 'POST', headers: s.headers, body: new Uint8Array(s.body) });
    // PROTOCOL.md §8 suggests 409; the worker answers 400 — either way a clear refusal with code REPLAY.
    expect([400, 409]).toContain(again.status);
    expect(((await again.json()) as { error: { code: string } }).error.code).toBe('REPLAY');
  });
});

// ---------------------------------------------------------------------------

describe('altered sealed responses are rejected with an explicit error', () => {
  let f: Fixture;
  let evil: EvilGateway;
  beforeAll(async () => {
    f = await fixture();
    await f.addWorker();
    evil = await startEvilGateway(f.stack.gateway.url);
  });
  afterEach(() => {
    evil.rewriteSealedResponse = null;
  });
  afterAll(async () => {
    await evil.close();
    await f.close();
  });

  const ask = <S extends boolean>(stream: S) => ({ model: DEMO_MODEL_ID, messages: CONVERSATION('T'), stream });

  async function streamedWith(rewrite: (b: Buffer, n: number) => Buffer | Buffer[]) {
    evil.rewriteSealedResponse = rewrite;
    const client = f.sealed({ baseURL: `${evil.url}/v1` });
    let stream: AsyncIterable<OpenAI.ChatCompletionChunk>;
    try {
      stream = await client.chat.completions.create({ ...ask(true) });
    } catch (e) {
      // Rejected before the head could be released (the whole altered stream arrived at once).
      return { text: '', usage: null, error: e, code: sealCodeOf(e) };
    }
    const r = await drain(stream);
    return { ...r, code: sealCodeOf(r.error) };
  }

  const rebuild = (b: Buffer, edit: (frames: Buffer[]) => Buffer[]) => {
    const { nonce, frames } = splitFrames(b);
    return Buffer.concat([nonce, ...edit(frames)]);
  };
  /** The same, delivered frame by frame, so the caller has content before the altered frame arrives. */
  const piecewise = (b: Buffer, edit: (frames: Buffer[]) => Buffer[]) => {
    const { nonce, frames } = splitFrames(b);
    const out = edit(frames);
    return [Buffer.concat([nonce, out[0]!]), ...out.slice(1)];
  };
  const flip = (x: Buffer) => Buffer.concat([x.subarray(0, x.length - 5), Buffer.from([x[x.length - 5]! ^ 1]), x.subarray(x.length - 4)]);

  it('the unaltered stream opens (control)', async () => {
    const r = await streamedWith((b) => rebuild(b, (fr) => fr));
    expect(r.error).toBeNull();
    expect(r.text).toContain('payment bug');
  });

  it('tampered: one flipped ciphertext byte → OPEN_FAILED, as an error event after the content already shown', async () => {
    const r = await streamedWith((b) => piecewise(b, (fr) => fr.map((x, i) => (i === 3 ? flip(x) : x))));
    expect(r.error).toBeInstanceOf(OpenAI.APIError);
    expect(r.code).toBe('OPEN_FAILED');
    expect(r.text.length).toBeGreaterThan(0);
    // Delivered all at once, the same alteration is refused before the response even starts.
    const whole = await streamedWith((b) => rebuild(b, (fr) => fr.map((x, i) => (i === 3 ? flip(x) : x))));
    expect(whole.code).toBe('OPEN_FAILED');
  });

  it('truncated: the final frame dropped → TRUNCATED; cut mid-frame → TRUNCATED; never a silent end', async () => {
    const a = await streamedWith((b) => piecewise(b, (fr) => fr.slice(0, -1)));
    expect(a.error).toBeInstanceOf(OpenAI.APIError);
    expect(a.code).toBe('TRUNCATED');
    expect(a.text).toContain('payment bug'); // every token arrived; only the authenticated end is missing
    const c = await streamedWith((b) => {
      const p = piecewise(b, (fr) => fr);
      p[p.length - 2] = p[p.length - 2]!.subarray(0, 7);
      return p.slice(0, -1);
    });
    expect(c.error).toBeInstanceOf(OpenAI.APIError);
    expect(c.code).toBe('TRUNCATED');
  });

  it('reordered → REORDERED; duplicated → DUPLICATE', async () => {
    const r = await streamedWith((b) => piecewise(b, (fr) => [...fr.slice(0, 4), fr[5]!, fr[4]!, ...fr.slice(6)]));
    expect(r.error).toBeInstanceOf(OpenAI.APIError);
    expect(r.code).toBe('REORDERED');
    expect(r.text.length).toBeGreaterThan(0);
    const d = await streamedWith((b) => piecewise(b, (fr) => [...fr.slice(0, 5), fr[4]!, ...fr.slice(5)]));
    expect(d.error).toBeInstanceOf(OpenAI.APIError);
    expect(d.code).toBe('DUPLICATE');
    expect(d.text.length).toBeGreaterThan(0);
    const whole = await streamedWith((b) => rebuild(b, (fr) => [fr[0]!, fr[1]!, fr[2]!, fr[2]!, ...fr.slice(3)]));
    expect(whole.code).toBe('DUPLICATE');
  });

  it("replayed: another request's sealed response → OPEN_FAILED (streamed and not)", async () => {
    for (const stream of [false, true]) {
      let first: Buffer | null = null;
      evil.rewriteSealedResponse = (b) => (first ??= b);
      const client = f.sealed({ baseURL: `${evil.url}/v1` });
      if (stream) expect((await drain(await client.chat.completions.create({ ...ask(true) }))).error).toBeNull();
      else await client.chat.completions.create({ ...ask(false) });
      // The head does not open under the second request's keys: refused before any byte reaches the caller.
      const err = await rejection(stream ? client.chat.completions.create({ ...ask(true) }) : client.chat.completions.create({ ...ask(false) }));
      expect(err).toBeInstanceOf(OpenAI.APIConnectionError);
      expect(err.cause).toBeInstanceOf(SealedFetchError);
      expect(err.cause.code).toBe('RESPONSE_REJECTED');
      expect(err.cause.sealCode).toBe('OPEN_FAILED');
    }
  });

  it('a non-streamed answer that is cut or altered errors its body: the caller never gets an unverified JSON answer', async () => {
    evil.rewriteSealedResponse = (b) => rebuild(b, (fr) => fr.slice(0, -1));
    const cut = await rejection(f.sealed({ baseURL: `${evil.url}/v1` }).chat.completions.create({ ...ask(false) }));
    expect(sealCodeOf(cut)).toBe('TRUNCATED');
    evil.rewriteSealedResponse = (b) => rebuild(b, (fr) => fr.map((x, i) => (i === 1 ? Buffer.concat([x.subarray(0, -1), Buffer.from([x[x.length - 1]! ^ 0x80])]) : x)));
    const flipped = await rejection(f.sealed({ baseURL: `${evil.url}/v1` }).chat.completions.create({ ...ask(false) }));
    expect(sealCodeOf(flipped)).toBe('OPEN_FAILED');
  });
});

// ---------------------------------------------------------------------------

describe('workers failing', () => {
  let f: Fixture;
  afterEach(() => f?.close());

  it('a worker dead before its first byte is retried on another verified worker, transparently', async () => {
    f = await fixture();
    const a = await f.addWorker({ backend: new DemoBackend() });
    await f.addWorker({ backend: new DemoBackend() });
    await a.worker.kill(); // still admitted: the gateway believes in it
    const attempts: string[] = [];
    const client = f.sealed({ select: 'first', onAttempt: (x) => attempts.push(`${x.workerId}:${x.outcome}`) });
    const r = await client.chat.completions.create({ model: DEMO_MODEL_ID, messages: CONVERSATION('D1') });
    expect(r.choices[0]!.message.content).toContain('payment bug');
    const s = await drain(await client.chat.completions.create({ model: DEMO_MODEL_ID, messages: CONVERSATION('D2'), stream: true }));
    expect(s.error).toBeNull();
    expect(s.text).toContain('payment bug');
    expect(attempts.filter((x) => x.startsWith(a.worker.worker.id!)).length).toBeGreaterThanOrEqual(1);
    expect(attempts.at(-1)).toMatch(/sealed 200$/);
  });

  it('a backend that fails before its first byte is retried on another worker', async () => {
    f = await fixture();
    const dead = await f.upstreamWorker('die-before-headers');
    const good = await f.upstreamWorker();
    const client = f.sealed({ select: 'first' });
    for (let i = 0; i < 3; i++) {
      const r = await client.chat.completions.create({ model: 'llm', messages: [{ role: 'user', content: 'hi' }] });
      expect(r.choices[0]!.message.content).toBe('Hello from upstream.');
    }
    expect(dead.upstream.requests.length).toBeGreaterThan(0);
    expect(good.upstream.requests.length).toBe(3);
  });

  it('a backend dying mid-stream ends the stream with an explicit error, never a silent end', async () => {
    f = await fixture();
    await f.upstreamWorker('die-mid-stream');
    const r = await drain(await f.sealed().chat.completions.create({ model: 'llm', messages: [{ role: 'user', content: 'hi' }], stream: true }));
    expect(r.text).toContain('Hello');
    expect(r.error).toBeInstanceOf(OpenAI.APIError);
  });

  it('a worker killed mid-stream ends the stream with TRUNCATED', async () => {
    f = await fixture();
    const { worker } = await f.addWorker({ backend: new DemoBackend({ tokenDelayMs: 30 }) });
    const stream = await f.sealed().chat.completions.create({ model: DEMO_MODEL_ID, messages: CONVERSATION('M'), stream: true });
    let text = '';
    let n = 0;
    const err = await (async () => {
      for await (const c of stream) {
        text += c.choices[0]?.delta?.content ?? '';
        if (++n === 3) void worker.kill();
      }
    })().catch((e) => e);
    expect(text.length).toBeGreaterThan(0);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(err.code).toBe('TRUNCATED');
  });
});

// ---------------------------------------------------------------------------

describe('WorkerVerifier (shared with the proxy)', () => {
  let f: Fixture;
  beforeAll(async () => {
    f = await fixture();
    await f.addWorker();
  });
  afterAll(() => f.close());

  it('verifies the listed workers with the client policy and reports refusals by code', async () => {
    const ok = createSealedClient({ policy: f.policy });
    const r = await ok.workers(f.stack.gateway.url, DEMO_MODEL_ID);
    expect(r.verified.map((w) => w.id)).toEqual([f.workers[0]!.worker.id]);
    expect(r.verified[0]!.recipient.publicKey.length).toBeGreaterThan(0);
    expect(r.verified[0]!.verdict.expiresAt).toBeGreaterThan(Date.now() / 1000);
    // A clock past the evidence's age limit refuses it.
    const late = createSealedClient({ policy: f.policy, now: () => Math.floor(Date.now() / 1000) + 3600 });
    const r2 = await late.workers(f.stack.gateway.url, DEMO_MODEL_ID);
    expect(r2.verified).toEqual([]);
    expect(r2.rejected.map((x) => x.code)).toEqual(['EVIDENCE_EXPIRED']);
  });
});

// ---------------------------------------------------------------------------

/**
 * An in-memory worker built from the protocol primitives, behind a fetch, to
 * drive the client through receipts that do not match (an honest worker never
 * sends one, and a relay cannot forge one) and through HTTP-binding violations.
 */
async function memoryWorker() {
  const tee = await SimulatedTee.create();
  const keys = generateRecipientKeys();
  const rsk = ed25519.utils.randomSecretKey();
  const binding: BindingClaims = {
    keys: [...bindingKeysFor(keys), { use: 'receipt', alg: 'Ed25519', key: toBase64Url(ed25519.getPublicKey(rsk)) }],
    nonce: toHex(crypto.getRandomValues(new Uint8Array(32))),
    models: [{ id: 'm', digest: 'demo:m' }],
    issuedAt: Math.floor(Date.now() / 1000),
  };
  const bundle: EvidenceBundle = { version: 1, tee: { kind: 'simulated', evidence: toBase64(tee.quote(await reportDataFor(binding))) }, binding };
  const id = await workerIdFor(binding.keys);
  type Mode = 'ok' | 'bad-response-digest' | 'bad-request-digest' | 'other-model' | 'other-worker' | 'other-signer' | 'trailer-error' | 'clear-200' | 'no-trailer-json' | 'other-request-id' | 'other-account' | 'over-price';
  const state: { mode: Mode } = { mode: 'ok' };
  const enc = (x: unknown) => new TextEncoder().encode(typeof x === 'string' ? x : JSON.stringify(x));
  const fetchImpl = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(String(input));
    if (url.pathname === '/v1/workers') return Response.json({ object: 'list', data: [{ id, models: ['m'], admittedUntil: 0, evidence: bundle, verdict: { ok: true } }] });
    if (url.pathname !== '/v1/sealed') return new Response('{}', { status: 404 });
    if (state.mode === 'clear-200') return Response.json({ id: 'x', choices: [{ index: 0, message: { role: 'assistant', content: 'forged' } }] });
    const message = init!.body as Uint8Array;
    const h = new Headers(init!.headers);
    const aad = enc(canonicalJson({ endpoint: h.get('x-sealgate-endpoint'), model: h.get('x-sealgate-model'), worker: h.get('x-sealgate-worker') }));
    const { body, sealer } = await openRequest({ keys, message, aad });
    const req = JSON.parse(new TextDecoder().decode(body)) as { stream?: boolean };
    const sse = req.stream === true;
    const parts = sse
      ? ['data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}\n\n', 'data: [DONE]\n\n']
      : [JSON.stringify({ id: 'c', object: 'chat.completion', created: 1, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'Hi' }, finish_reason: 'stop', logprobs: null }] })];
    const hash = sha256.create();
    const frames: Uint8Array[] = [];
    const emit = (pt: Uint8Array, final: boolean) => {
      const frame = sealer.seal(pt, { final });
      if (!final) hash.update(frame);
      frames.push(frame);
    };
    emit(enc({ status: 200, contentType: sse ? 'text/event-stream' : 'application/json' }), false);
    for (const p of parts) emit(enc(p), false);
    if (state.mode === 'trailer-error') emit(enc({ error: { message: 'The backend stream failed.', type: 'server_error', param: null, code: 'backend_stream_broken' } }), true);
    else if (state.mode !== 'no-trailer-json') {
      const receipt = await signReceipt(
        {
          v: 1,
          requestId: 'req_1',
          workerId: state.mode === 'other-worker' ? 'wk_000000000000000000000000' : id,
          model: state.mode === 'other-model' ? 'x' : 'm',
          endpoint: 'chat.completions',
          promptTokens: 1,
          completionTokens: 1,
          requestDigest: state.mode === 'bad-request-digest' ? '00'.repeat(32) : digestHex(message),
          responseDigest: state.mode === 'bad-response-digest' ? '00'.repeat(32) : toHex(hash.digest()),
          time: Date.now(),
          account: state.mode === 'other-account' ? 'acct_' + '0'.repeat(32) : accountForApiKey('k'),
          price: state.mode === 'over-price' ? { prompt: '1000', completion: '1' } : { prompt: '0', completion: '0' },
        },
        state.mode === 'other-signer' ? ed25519.utils.randomSecretKey() : rsk,
      );
      emit(enc({ receipt }), true);
    }
    // 'other-request-id': the gateway bills under another id than the one the worker signed.
    const billedAs = state.mode === 'other-request-id' ? 'req_2' : 'req_1';
    return new Response(Buffer.concat(frames), { headers: { 'content-type': SEALED_RESPONSE_TYPE, 'x-request-id': billedAs } });
  }) as typeof fetch;
  return { tee, id, state, fetch: fetchImpl };
}

describe('receipts and the HTTP binding (in-memory worker)', () => {
  const GW = 'http://gateway.invalid';
  async function setup() {
    const mem = await memoryWorker();
    const receipts: Receipt[] = [];
    const policy: PolicyInput = { allowSimulated: true, simulated: { signers: [toHex(mem.tee.publicKey)] } };
    const f = sealedFetch({ policy, fetch: mem.fetch, onReceipt: (r) => receipts.push(r), maxPrice: { prompt: 999, completion: 999 } });
    const post = (stream: boolean) =>
      f(`${GW}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer k' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], stream }) });
    const openai = new OpenAI({ baseURL: `${GW}/v1`, apiKey: 'k', maxRetries: 0, fetch: f });
    return { mem, receipts, post, openai };
  }

  it('accepts a matching receipt and hands it to onReceipt', async () => {
    const { mem, receipts, post } = await setup();
    expect(await (await post(false)).json()).toMatchObject({ choices: [{ message: { content: 'Hi' } }] });
    expect((await (await post(true)).text()).endsWith('data: [DONE]\n\n')).toBe(true);
    expect(receipts.map((r) => r.workerId)).toEqual([mem.id, mem.id]);
  });

  for (const mode of ['bad-response-digest', 'bad-request-digest', 'other-model', 'other-worker', 'other-signer', 'other-request-id', 'other-account', 'over-price'] as const) {
    it(`rejects a receipt with ${mode}: JSON body errors, SSE ends in an error event without [DONE]`, async () => {
      const { mem, receipts, post, openai } = await setup();
      mem.state.mode = mode;
      const json = await rejection((await post(false)).json());
      expect(json).toBeInstanceOf(SealedFetchError);
      expect(json.code).toBe('RESPONSE_REJECTED');
      expect(json.sealCode).toBe('RECEIPT_INVALID');
      const text = await (await post(true)).text();
      expect(text).toContain('"content":"Hi"');
      expect(text).toContain('event: error\ndata: {"error":');
      expect(text).toContain('RECEIPT_INVALID');
      expect(text).not.toContain('[DONE]');
      const r = await drain(await openai.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true }));
      expect(r.text).toBe('Hi');
      expect(r.error).toBeInstanceOf(OpenAI.APIError);
      expect(r.error.code).toBe('RECEIPT_INVALID');
      expect(receipts).toEqual([]);
    });
  }

  it('turns a trailer error into an SSE error event (JSON: an errored body)', async () => {
    const { mem, post, openai } = await setup();
    mem.state.mode = 'trailer-error';
    const json = await rejection((await post(false)).json());
    expect(json.code).toBe('UPSTREAM_ERROR');
    const r = await drain(await openai.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true }));
    expect(r.error).toBeInstanceOf(OpenAI.APIError);
    expect(r.error.code).toBe('backend_stream_broken');
  });

  it('refuses a clear 200 in place of a sealed response (a gateway answering for the worker)', async () => {
    const { mem, openai } = await setup();
    mem.state.mode = 'clear-200';
    const err = await rejection(openai.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }));
    expect(err.cause).toBeInstanceOf(SealedFetchError);
    expect(err.cause.code).toBe('PROTOCOL_ERROR');
  });

  it('says INSECURE_CONTEXT, sending nothing, where the runtime has no Web Crypto (a browser page on plain http)', async () => {
    const sent: string[] = [];
    const f = sealedFetch({ policy: { allowSimulated: true }, fetch: (async (u: RequestInfo | URL) => (sent.push(String(u)), new Response('{}'))) as typeof fetch });
    // Shadow the prototype's getter on the instance, as a page without a secure context has none.
    Object.defineProperty(globalThis.crypto, 'subtle', { value: undefined, configurable: true });
    try {
      const err = await rejection(f('http://gw.invalid/v1/chat/completions', { method: 'POST', body: '{"model":"m","messages":[]}' }));
      expect(err).toBeInstanceOf(SealedFetchError);
      expect(err.code).toBe('INSECURE_CONTEXT');
    } finally {
      delete (globalThis.crypto as { subtle?: unknown }).subtle;
    }
    expect(globalThis.crypto.subtle).toBeDefined();
    expect(sent).toEqual([]);
  });

  it('a sealed response without its final chunk is TRUNCATED', async () => {
    const { mem, post } = await setup();
    mem.state.mode = 'no-trailer-json';
    const err = await rejection((await post(false)).json());
    expect(err.sealCode).toBe('TRUNCATED');
  });
});
