/**
 * The gateway on Cloudflare Workers: gateway/workers.ts is bundled with esbuild
 * the way wrangler bundles it (browser platform, `workerd`/`worker`/`browser`
 * conditions, ESM) and run in workerd through Miniflare with the compatibility
 * date, flags and Durable Object binding that wrangler.toml declares. The
 * gateway lives in one SQLite-backed Durable Object whose storage is persisted
 * to a temp directory; outbound fetch from workerd is limited to 127.0.0.1.
 *
 * From Node: an API key is created through the admin route, a demo worker
 * (simulated TEE, loopback) registers with the workerd gateway, the official
 * `openai` client lists models and makes plain chat completions (non-streamed
 * and streamed with usage) and a sealed one through `sealedFetch`, a wrong key
 * gets a 401 envelope, and the receipts reach the ledger. Then Miniflare is
 * restarted on the same persistence directory: the key and the receipts are
 * still there, and the worker, forgotten with the object's memory, registers
 * again on its next heartbeat and serves again.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Miniflare } from 'miniflare';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PolicyInput } from '../attestation/index.ts';
import { toHex } from '../attestation/util/bytes.ts';
import { DemoBackend, DEMO_MODEL_ID } from '../enclave-runner/backends/demo/index.ts';
import { SimulatedTeeProvider } from '../enclave-runner/evidence/simulated.ts';
import { startWorker, type RunningWorker } from '../enclave-runner/node.ts';
import { sealedFetch, type Receipt, type ReceiptInfo } from '../sdk/index.ts';
import { bundle as bundleEntry, nodeImports, type Bundle } from './runtimes/bundle.ts';

// Miniflare/wrangler telemetry and request.cf fetching off (no network but loopback).
process.env.WRANGLER_SEND_METRICS = 'false';
process.env.CLOUDFLARE_CF_FETCH_ENABLED = 'false';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ENTRY = join(ROOT, 'gateway/workers.ts');
const ADMIN_TOKEN = 'adm-' + toHex(crypto.getRandomValues(new Uint8Array(24)));
const MESSAGES = [{ role: 'user' as const, content: 'Tell me about the payment bug.' }];

/** What the test takes from wrangler.toml, so it runs what a deploy would. */
function wranglerConfig() {
  const toml = readFileSync(join(ROOT, 'wrangler.toml'), 'utf8');
  const str = (key: string) => new RegExp(`^${key}\\s*=\\s*"([^"]*)"`, 'm').exec(toml)?.[1];
  const list = (key: string) => [...(new RegExp(`^${key}\\s*=\\s*\\[([^\\]]*)\\]`, 'm').exec(toml)?.[1] ?? '').matchAll(/"([^"]+)"/g)].map((m) => m[1]!);
  return {
    main: str('main'),
    compatibilityDate: str('compatibility_date')!,
    compatibilityFlags: list('compatibility_flags'),
    binding: /\[\[durable_objects\.bindings\]\]\s*\nname\s*=\s*"([^"]+)"\s*\nclass_name\s*=\s*"([^"]+)"/.exec(toml),
    sqliteClasses: list('new_sqlite_classes'),
  };
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function until<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => null);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('the gateway in workerd (Cloudflare Workers, one Durable Object with SQLite)', () => {
  const cfg = wranglerConfig();
  const dir = mkdtempSync(join(tmpdir(), 'sealgate-workerd-'));
  let bundle: Bundle;
  let port: number;
  let url: string;
  let mf: Miniflare | null = null;
  let worker: RunningWorker;
  let policy: PolicyInput;
  let apiKey: string;
  let client: OpenAI;
  const requestIds: string[] = [];

  const start = async () => {
    mf = new Miniflare({
      modules: true,
      script: bundle.code,
      compatibilityDate: cfg.compatibilityDate,
      compatibilityFlags: cfg.compatibilityFlags,
      cf: false, // the fallback request.cf: no fetch of Cloudflare's cf.json, no cache file
      host: '127.0.0.1',
      port,
      bindings: { SEALGATE_POLICY: JSON.stringify(policy), SEALGATE_ADMIN_TOKEN: ADMIN_TOKEN, SEALGATE_QUIET: '1' },
      durableObjects: { [cfg.binding![1]!]: { className: cfg.binding![2]!, useSQLite: true } },
      durableObjectsPersist: join(dir, 'do'),
      // Only loopback (the demo worker) is reachable from the gateway.
      outboundService: { network: { allow: ['127.0.0.1/32'], deny: [] } },
    });
    url = (await mf.ready).origin;
  };

  const admin = (path: string, init: RequestInit = {}, token = ADMIN_TOKEN) =>
    fetch(`${url}${path}`, { ...init, headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...init.headers } });

  const receipts = async () => {
    const res = await fetch(`${url}/v1/billing/receipts`, { headers: { authorization: `Bearer ${apiKey}` } });
    expect(res.status).toBe(200);
    return ((await res.json()) as { data: Array<{ requestId: string; workerId: string; model: string; completionTokens: number; account: string }> }).data;
  };

  beforeAll(async () => {
    const tee = await SimulatedTeeProvider.create();
    policy = { allowSimulated: true, simulated: { signers: [toHex(tee.tee.publicKey)] } };
    // As wrangler bundles the Workers entry (its esbuild defaults: browser platform, these conditions, ESM).
    bundle = await bundleEntry(ENTRY, { platform: 'browser', conditions: ['workerd', 'worker', 'browser'] });
    port = await freePort();
    await start();
    const res = await admin('/admin/keys', { method: 'POST', body: JSON.stringify({ name: 'workerd-test' }) });
    expect(res.status).toBe(201);
    apiKey = ((await res.json()) as { key: string }).key;
    client = new OpenAI({ baseURL: `${url}/v1`, apiKey, maxRetries: 0 });
    worker = await startWorker({ gatewayUrl: url, backend: new DemoBackend(), tee });
  }, 120_000);

  afterAll(async () => {
    await worker?.kill().catch(() => {});
    await mf?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('bundles what wrangler.toml deploys: the gateway core and the Durable Object adapter, no Node server code', () => {
    expect(cfg.main).toBe('gateway/workers.ts');
    expect(cfg.sqliteClasses).toEqual([cfg.binding![2]]);
    expect(bundle.inputs).toEqual(expect.arrayContaining(['gateway/workers.ts', 'gateway/app.ts', 'gateway/storage/do-sqlite.ts']));
    expect(bundle.inputs.filter((p) => /gateway\/node[-.]|storage\/libsql|@libsql|@hono\/node-server|undici|enclave-runner\/|cli\//.test(p))).toEqual([]);
    expect(nodeImports(bundle)).toEqual([]);
  });

  it('creates API keys only with the admin token', async () => {
    for (const token of ['', 'wrong-' + ADMIN_TOKEN]) {
      const res = await admin('/admin/keys', { method: 'POST', body: '{}' }, token);
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('invalid_api_key');
    }
    const bad = await admin('/admin/keys', { method: 'POST', body: JSON.stringify({ name: 'x', rpm: -1 }) });
    expect(bad.status).toBe(400);
    const list = (await (await admin('/admin/keys')).json()) as { data: Array<Record<string, unknown>> };
    expect(list.data.map((k) => k.name)).toContain('workerd-test');
    expect(list.data.every((k) => !('hash' in k) && !('key' in k))).toBe(true);
    // A revoked key stops working.
    const { key } = (await (await admin('/admin/keys', { method: 'POST', body: JSON.stringify({ name: 'short-lived', rpm: 10 }) })).json()) as { key: string };
    expect((await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${key}` } })).status).toBe(200);
    const revoked = await admin('/admin/keys/short-lived', { method: 'DELETE' });
    expect(await revoked.json()).toEqual({ revoked: 1 }); // SQLite's count of changed rows, through the adapter
    expect((await admin('/admin/keys/short-lived', { method: 'DELETE' })).status).toBe(404);
    await new Promise((r) => setTimeout(r, 1_100)); // the gateway trusts a looked-up key for a second
    expect((await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${key}` } })).status).toBe(401);
  });

  it('admits the demo worker and lists its model', async () => {
    const health = (await (await fetch(`${url}/healthz`)).json()) as { workers: number };
    expect(health.workers).toBe(1);
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual([DEMO_MODEL_ID]);
  });

  it('answers a plain chat completion, non-streamed', async () => {
    const { data, response } = await client.chat.completions.create({ model: DEMO_MODEL_ID, messages: MESSAGES }).withResponse();
    expect(response.headers.get('x-sealgate-mode')).toBe('plain');
    expect(response.headers.get('x-sealgate-worker')).toBe(worker.worker.id);
    expect(data.choices[0]!.message.content).toContain('payment bug');
    expect(data.usage!.total_tokens).toBe(data.usage!.prompt_tokens + data.usage!.completion_tokens);
    requestIds.push(response.headers.get('x-request-id')!);
  });

  it('streams a plain chat completion with include_usage', async () => {
    const { data: stream, response } = await client.chat.completions
      .create({ model: DEMO_MODEL_ID, messages: MESSAGES, stream: true, stream_options: { include_usage: true } })
      .withResponse();
    let text = '';
    let chunks = 0;
    let usage: OpenAI.CompletionUsage | null | undefined = null;
    for await (const chunk of stream) {
      chunks++;
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toContain('payment bug');
    expect(usage!.completion_tokens).toBeGreaterThan(5);
    expect(chunks).toBeGreaterThan(usage!.completion_tokens);
    requestIds.push(response.headers.get('x-request-id')!);
  });

  it('refuses a wrong key with 401 in the OpenAI envelope', async () => {
    const bad = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'sk-sg-wrong', maxRetries: 0 });
    const err = await bad.models.list().then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
    expect((err as InstanceType<typeof OpenAI.AuthenticationError>).code).toBe('invalid_api_key');
    const res = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: 'Bearer sk-sg-wrong' }, body: '{}' });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: { message: expect.any(String), type: 'invalid_request_error', param: null, code: 'invalid_api_key' } });
  });

  it('serves a sealed request through sealedFetch, with a verified receipt', async () => {
    const seen: Array<{ receipt: Receipt; info: ReceiptInfo }> = [];
    const sealed = new OpenAI({
      baseURL: `${url}/v1`,
      apiKey,
      maxRetries: 0,
      fetch: sealedFetch({ policy, onReceipt: (receipt, info) => seen.push({ receipt, info }) }),
    });
    const { data, response } = await sealed.chat.completions.create({ model: DEMO_MODEL_ID, messages: MESSAGES }).withResponse();
    expect(response.headers.get('x-sealgate-mode')).toBe('sealed');
    expect(data.choices[0]!.message.content).toContain('payment bug');
    expect(seen).toHaveLength(1);
    expect(seen[0]!.receipt).toMatchObject({ workerId: worker.worker.id, model: DEMO_MODEL_ID, completionTokens: data.usage!.completion_tokens });
    expect(seen[0]!.info.requestId).toMatch(/^req_/);
    requestIds.push(seen[0]!.info.requestId!);
  });

  it('keeps every receipt in the ledger (Durable Object SQLite)', async () => {
    const rows = await until('three receipts', async () => {
      const r = await receipts();
      return requestIds.every((id) => r.some((x) => x.requestId === id)) && r;
    });
    expect(rows).toHaveLength(3);
    expect(rows.every((r) => r.workerId === worker.worker.id && r.model === DEMO_MODEL_ID && r.completionTokens > 0)).toBe(true);
  });

  it('answers 500 in the OpenAI envelope while its policy var is invalid', async () => {
    const broken = new Miniflare({
      modules: true,
      script: bundle.code,
      compatibilityDate: cfg.compatibilityDate,
      compatibilityFlags: cfg.compatibilityFlags,
      cf: false,
      bindings: { SEALGATE_POLICY: '{"allowSimulated": true, "bogus": 1}', SEALGATE_QUIET: '1' },
      durableObjects: { [cfg.binding![1]!]: { className: cfg.binding![2]!, useSQLite: true } },
    });
    try {
      const res = await broken.dispatchFetch('http://gateway.test/v1/models');
      expect(res.status).toBe(500);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('gateway_misconfigured');
    } finally {
      await broken.dispose();
    }
  });

  it('keeps keys and receipts across a restart; the worker registers again and serves', async () => {
    const before = await receipts();
    await mf!.dispose();
    mf = null;
    await start();
    expect((await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${apiKey}` } })).status).toBe(200);
    expect(await receipts()).toEqual(before);
    // The object's memory (the worker registry) is gone: the worker's next heartbeat gets a 404 and it registers again.
    await until('the worker to register again', async () => (await client.models.list()).data.length === 1);
    const again = await client.chat.completions.create({ model: DEMO_MODEL_ID, messages: MESSAGES }).withResponse();
    expect(again.data.choices[0]!.message.content).toContain('payment bug');
    const id = again.response.headers.get('x-request-id')!;
    expect(id).not.toEqual(requestIds[0]);
    await until('the new receipt', async () => (await receipts()).some((r) => r.requestId === id));
  }, 60_000);
});
