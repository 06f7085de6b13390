/**
 * The client SDK runs inside workerd, the Cloudflare Workers runtime (issue 4):
 * test/workerd/sdk-worker.ts is bundled with esbuild for a web platform (no
 * Node built-ins resolvable) and run in Miniflare's workerd, without
 * nodejs_compat, with outbound network limited to 127.0.0.1. From there it
 * uses the official `openai` client with `sealedFetch` against a real gateway
 * and a demo worker under a pinned simulated TEE on loopback.
 */
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { Miniflare } from 'miniflare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PolicyInput } from '../attestation/index.ts';
import { toHex } from '../attestation/util/bytes.ts';
import { DemoBackend, DEMO_MODEL_ID } from '../enclave-runner/backends/demo/index.ts';
import { SimulatedTeeProvider } from '../enclave-runner/evidence/simulated.ts';
import { startWorker, type RunningWorker } from '../enclave-runner/node.ts';
import { startStack, type TestStack } from './stack.ts';
import type { RunReport } from './workerd/sdk-worker.ts';

// Miniflare/wrangler telemetry and request.cf fetching off (no network but loopback).
process.env.WRANGLER_SEND_METRICS = 'false';
process.env.CLOUDFLARE_CF_FETCH_ENABLED = 'false';

const ENTRY = fileURLToPath(new URL('./workerd/sdk-worker.ts', import.meta.url));

/** Bundles the worker the way a Workers project would (esbuild, web conditions, ESM). */
async function bundleWorker(): Promise<{ code: string; inputs: string[] }> {
  const out = await build({
    entryPoints: [ENTRY],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'neutral',
    conditions: ['workerd', 'worker', 'browser'],
    mainFields: ['browser', 'module', 'main'],
    target: 'es2022',
    metafile: true,
    logLevel: 'silent',
  });
  return { code: out.outputFiles[0]!.text, inputs: Object.keys(out.metafile.inputs) };
}

describe('the SDK in workerd (Cloudflare Workers runtime)', () => {
  let stack: TestStack;
  let worker: RunningWorker;
  let mf: Miniflare | null = null;
  let policy: PolicyInput;
  let bundle: { code: string; inputs: string[] };
  let run: RunReport;

  beforeAll(async () => {
    stack = await startStack();
    const tee = await SimulatedTeeProvider.create();
    worker = await startWorker({ gatewayUrl: stack.gateway.url, backend: new DemoBackend(), tee });
    policy = { allowSimulated: true, simulated: { signers: [toHex(tee.tee.publicKey)] } };
    bundle = await bundleWorker();
    mf = new Miniflare({
      modules: true,
      script: bundle.code,
      compatibilityDate: '2026-04-01',
      cf: false, // the fallback request.cf: no fetch of Cloudflare's cf.json, no cache file
      bindings: { GATEWAY_URL: stack.gateway.url, API_KEY: stack.apiKey, MODEL: DEMO_MODEL_ID, POLICY: policy as Record<string, unknown> },
      // Only the loopback gateway is reachable from the worker.
      outboundService: { network: { allow: ['127.0.0.1/32'], deny: [] } },
    });
    const res = await mf.dispatchFetch('http://sdk.test/run');
    expect(res.status).toBe(200);
    run = (await res.json()) as RunReport;
  }, 120_000);

  afterAll(async () => {
    await mf?.dispose();
    await worker?.kill().catch(() => {});
    await stack?.close();
  });

  it('bundles for a web platform: the SDK and attestation, no server code', () => {
    expect(bundle.inputs.some((p) => p.startsWith('sdk/client/'))).toBe(true);
    expect(bundle.inputs.some((p) => p.startsWith('attestation/'))).toBe(true);
    expect(bundle.inputs.some((p) => p.includes('node_modules/openai/'))).toBe(true);
    expect(bundle.inputs.filter((p) => /^(gateway|enclave-runner|cli)\//.test(p))).toEqual([]);
    expect(bundle.code).not.toMatch(/from\s*["']node:/);
  });

  it('runs in workerd without Node globals, with native Web Crypto X25519 and Ed25519', () => {
    expect(run.runtime.userAgent).toBe('Cloudflare-Workers');
    expect(run.runtime.hasBuffer).toBe(false);
    // workerd's Web Crypto passes the SDK's known-answer checks, so the noble fallback is not needed there.
    expect(run.runtime.crypto).toEqual({ x25519: 'webcrypto', ed25519: 'webcrypto' });
  });

  it('answers a non-streamed chat completion sealed, with a verified receipt', () => {
    const r = run.nonStreamed;
    expect(r.error).toBeNull();
    expect(r.ok).toBe(true);
    expect(r.mode).toBe('sealed');
    expect(r.worker).toBe(worker.worker.id);
    expect(r.text).toContain('payment bug');
    expect(r.usage!.completion_tokens).toBeGreaterThan(0);
    expect(r.usage!.total_tokens).toBe(r.usage!.prompt_tokens + r.usage!.completion_tokens);
    expect(r.receipts).toHaveLength(1);
    expect(r.receipts[0]).toMatchObject({
      v: 1,
      model: DEMO_MODEL_ID,
      endpoint: 'chat.completions',
      workerId: worker.worker.id,
      infoWorkerId: worker.worker.id,
      promptTokens: r.usage!.prompt_tokens,
      completionTokens: r.usage!.completion_tokens,
      attempts: 1,
    });
    expect(r.receipts[0]!.requestDigest).toMatch(/^[0-9a-f]{64}$/);
    expect(r.receipts[0]!.requestId).toBeTruthy();
  });

  it('streams a chat completion chunk by chunk with usage, then checks the receipt', () => {
    const r = run.streamed;
    expect(r.error).toBeNull();
    expect(r.ok).toBe(true);
    expect(r.mode).toBe('sealed');
    expect(r.text).toContain('payment bug');
    expect(r.usage!.completion_tokens).toBeGreaterThan(5);
    expect(r.chunks).toBeGreaterThan(r.usage!.completion_tokens);
    expect(r.receipts).toHaveLength(1);
    expect(r.receipts[0]).toMatchObject({ endpoint: 'chat.completions', workerId: worker.worker.id, completionTokens: r.usage!.completion_tokens });
  });

  it('refuses a worker its policy does not allow, with its typed code, before sending anything sealed', () => {
    const r = run.refused;
    expect(r.ok).toBe(false);
    expect(r.receipts).toEqual([]);
    expect(r.error).toMatchObject({
      openaiClass: 'APIConnectionError',
      sealed: { code: 'NO_VERIFIED_WORKER', workers: [{ id: worker.worker.id, code: 'SIMULATED_NOT_ALLOWED' }], attempts: 0 },
    });
    expect(r.fetched).toEqual(['/v1/workers']);
  });

  it('rejects a sealed response whose receipt frame was altered in transit', () => {
    const r = run.tampered;
    expect(r.ok).toBe(false);
    expect(r.text).toBe('');
    expect(r.receipts).toEqual([]);
    expect(r.error!.sealed ?? r.error).toMatchObject({ code: 'RESPONSE_REJECTED', sealCode: 'OPEN_FAILED' });
    expect(r.fetched).toEqual(['/v1/workers', '/v1/sealed']);
  });
});
