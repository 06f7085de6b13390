/**
 * The client SDK runs inside workerd, the Cloudflare Workers runtime (issue 4):
 * test/workerd/sdk-worker.ts, which runs the scenarios of
 * test/runtimes/sdk-scenarios.ts, is bundled with esbuild for a web platform
 * (no Node built-ins resolvable) and run in Miniflare's workerd, without
 * nodejs_compat, with outbound network limited to 127.0.0.1. From there it
 * uses the official `openai` client with `sealedFetch` against a real gateway
 * and a demo worker under a pinned simulated TEE on loopback.
 * test/sdk-browser.test.ts runs the same scenarios in Chromium.
 */
import { Miniflare } from 'miniflare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundle, type Bundle } from './runtimes/bundle.ts';
import { startScenarioBackend, type ScenarioBackend } from './runtimes/sdk-backend.ts';
import { expectNonStreamed, expectRefused, expectStreamed, expectTampered, expectWebSdkBundle } from './runtimes/sdk-assertions.ts';
import type { ScenarioReport } from './runtimes/sdk-scenarios.ts';

// Miniflare/wrangler telemetry and request.cf fetching off (no network but loopback).
process.env.WRANGLER_SEND_METRICS = 'false';
process.env.CLOUDFLARE_CF_FETCH_ENABLED = 'false';

describe('the SDK in workerd (Cloudflare Workers runtime)', () => {
  let backend: ScenarioBackend;
  let mf: Miniflare | null = null;
  let worker: Bundle;
  let run: ScenarioReport;

  beforeAll(async () => {
    backend = await startScenarioBackend();
    const { config } = backend;
    // As a Workers project would bundle it: web platform, the workerd conditions, ESM.
    worker = await bundle(new URL('./workerd/sdk-worker.ts', import.meta.url), {
      platform: 'neutral',
      conditions: ['workerd', 'worker', 'browser'],
      mainFields: ['browser', 'module', 'main'],
    });
    mf = new Miniflare({
      modules: true,
      script: worker.code,
      compatibilityDate: '2026-04-01',
      cf: false, // the fallback request.cf: no fetch of Cloudflare's cf.json, no cache file
      bindings: { GATEWAY_URL: config.gatewayUrl, API_KEY: config.apiKey, MODEL: config.model, POLICY: config.policy as Record<string, unknown> },
      // Only the loopback gateway is reachable from the worker.
      outboundService: { network: { allow: ['127.0.0.1/32'], deny: [] } },
    });
    const res = await mf.dispatchFetch('http://sdk.test/run');
    expect(res.status).toBe(200);
    run = (await res.json()) as ScenarioReport;
  }, 120_000);

  afterAll(async () => {
    await mf?.dispose();
    await backend?.close();
  });

  it('bundles for a web platform: the SDK and attestation, no server code', () => {
    expectWebSdkBundle(worker);
  });

  it('runs in workerd without Node globals, with native Web Crypto X25519 and Ed25519', () => {
    expect(run.runtime.userAgent).toBe('Cloudflare-Workers');
    expect(run.runtime.hasProcess).toBe(false);
    expect(run.runtime.hasBuffer).toBe(false);
    // workerd's Web Crypto passes the SDK's known-answer checks, so the noble fallback is not needed there.
    expect(run.runtime.crypto).toEqual({ x25519: 'webcrypto', ed25519: 'webcrypto' });
  });

  it('answers a non-streamed chat completion sealed, with a verified receipt', () => {
    expectNonStreamed(run.nonStreamed, backend.served);
  });

  it('streams a chat completion chunk by chunk with usage, then checks the receipt', () => {
    expectStreamed(run.streamed, backend.served);
  });

  it('refuses a worker its policy does not allow, with its typed code, before sending anything sealed', () => {
    expectRefused(run.refused, backend.served);
  });

  it('rejects a sealed response whose receipt frame was altered in transit', () => {
    expectTampered(run.tampered);
  });
});
