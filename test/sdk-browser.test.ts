/**
 * The client SDK runs in a web browser (issue 4): test/browser/sdk-page.ts is
 * bundled with esbuild for the browser (ESM, no Node built-ins resolvable),
 * served with a tiny HTML page from a loopback HTTP server of its own, and
 * loaded in headless Chromium (Debian's /usr/bin/chromium, driven by
 * playwright-core). From the page it uses the official `openai` client with
 * `sealedFetch` against a real gateway and a demo worker under a pinned
 * simulated TEE, on another loopback port: every call is cross-origin, so the
 * gateway's CORS (preflights, exposed headers) is exercised for real.
 *
 * The page is served with a strict Content-Security-Policy: scripts only from
 * its own origin and no eval, network only to the gateway.
 *
 * Skipped when /usr/bin/chromium is absent; .ci/run installs it.
 */
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PolicyInput } from '../attestation/index.ts';
import { toHex } from '../attestation/util/bytes.ts';
import { DemoBackend, DEMO_MODEL_ID } from '../enclave-runner/backends/demo/index.ts';
import { SimulatedTeeProvider } from '../enclave-runner/evidence/simulated.ts';
import { startWorker, type RunningWorker } from '../enclave-runner/node.ts';
import type { PageConfig, PageReport } from './browser/sdk-page.ts';
import { startStack, type TestStack } from './stack.ts';

const CHROMIUM = '/usr/bin/chromium';
const SKIP = existsSync(CHROMIUM) ? null : `${CHROMIUM} is not installed (apt-get install -y chromium; .ci/run does it in CI)`;
if (SKIP) console.warn(`test/sdk-browser.test.ts SKIPPED: ${SKIP}`);

const ENTRY = fileURLToPath(new URL('./browser/sdk-page.ts', import.meta.url));

/** Bundles the page script the way a web app would (esbuild, browser platform, ESM). */
async function bundlePage(): Promise<{ code: string; inputs: string[] }> {
  const out = await build({
    entryPoints: [ENTRY],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    metafile: true,
    logLevel: 'silent',
  });
  return { code: out.outputFiles[0]!.text, inputs: Object.keys(out.metafile.inputs) };
}

/** Serves the page and its bundle on a loopback port of its own (an origin other than the gateway's). */
async function servePage(code: string, gatewayUrl: string): Promise<{ url: string; server: Server }> {
  const html = '<!doctype html><meta charset="utf-8"><title>sealgate SDK in a browser</title><script type="module" src="/sdk-page.js"></script>';
  const csp = `default-src 'none'; script-src 'self'; connect-src ${gatewayUrl}`;
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://page').pathname;
    if (req.method === 'GET' && path === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': csp });
      res.end(html);
    } else if (req.method === 'GET' && path === '/sdk-page.js') {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' });
      res.end(code);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

describe.skipIf(SKIP !== null)(`the SDK in a browser (headless Chromium)${SKIP ? ` [skipped: ${SKIP}]` : ''}`, () => {
  let stack: TestStack;
  let worker: RunningWorker;
  let page: { url: string; server: Server } | null = null;
  let browser: Browser | null = null;
  let policy: PolicyInput;
  let bundle: { code: string; inputs: string[] };
  let run: PageReport;
  let browserVersion: string;
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    stack = await startStack();
    const tee = await SimulatedTeeProvider.create();
    worker = await startWorker({ gatewayUrl: stack.gateway.url, backend: new DemoBackend(), tee });
    policy = { allowSimulated: true, simulated: { signers: [toHex(tee.tee.publicKey)] } };
    bundle = await bundlePage();
    page = await servePage(bundle.code, stack.gateway.url);
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
    browserVersion = browser.version();
    const tab = await browser.newPage();
    tab.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));
    tab.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    const config: PageConfig = { gatewayUrl: stack.gateway.url, apiKey: stack.apiKey, model: DEMO_MODEL_ID, policy };
    await tab.goto(`${page.url}/?config=${encodeURIComponent(JSON.stringify(config))}`);
    await tab.waitForFunction(() => window.__sealgateReport !== undefined || window.__sealgateFailure !== undefined, null, { timeout: 60_000 });
    const failure = await tab.evaluate(() => window.__sealgateFailure);
    if (failure !== undefined) throw new Error(`the page failed: ${failure}\nconsole errors: ${consoleErrors.join('\n')}`);
    run = (await tab.evaluate(() => window.__sealgateReport))!;
  }, 120_000);

  afterAll(async () => {
    await browser?.close().catch(() => {});
    if (page) await new Promise<void>((r) => page!.server.close(() => r()));
    await worker?.kill().catch(() => {});
    await stack?.close();
  });

  it('bundles for the browser: the SDK and attestation, no server code, no node: imports', () => {
    expect(bundle.inputs.some((p) => p.startsWith('sdk/client/'))).toBe(true);
    expect(bundle.inputs.some((p) => p.startsWith('attestation/'))).toBe(true);
    expect(bundle.inputs.some((p) => p.includes('node_modules/openai/'))).toBe(true);
    expect(bundle.inputs.filter((p) => /^(gateway|enclave-runner|cli)\//.test(p))).toEqual([]);
    expect(bundle.inputs.filter((p) => p.startsWith('node:'))).toEqual([]);
    // (openai mentions `import('node:buffer')` in an error message string: only real imports and requires count.)
    expect([...bundle.code.matchAll(/(?:\bfrom\s*|\brequire\(\s*)["']node:[^"']*["']/g)].map((m) => m[0])).toEqual([]);
  });

  it('runs in Chromium on its own origin, cross-origin to the gateway, with native Web Crypto X25519 and Ed25519', () => {
    expect(browserVersion).toMatch(/^\d+\./);
    expect(run.runtime.userAgent).toMatch(/HeadlessChrome\/\d+/);
    expect(run.runtime.origin).toBe(page!.url);
    expect(run.runtime.origin).not.toBe(new URL(stack.gateway.url).origin);
    expect(run.runtime.isSecureContext).toBe(true); // loopback: Web Crypto's subtle is available
    expect(run.runtime.hasProcess).toBe(false);
    expect(run.runtime.hasBuffer).toBe(false);
    // Chromium's Web Crypto passes the SDK's known-answer checks, so the noble fallback is not needed there.
    expect(run.runtime.crypto).toEqual({ x25519: 'webcrypto', ed25519: 'webcrypto' });
    // Nothing went to the console as an error (CSP violations, CORS failures, uncaught exceptions).
    expect(consoleErrors).toEqual([]);
  });

  it('answers a non-streamed chat completion sealed, cross-origin, with a verified receipt', () => {
    const r = run.nonStreamed;
    expect(r.error).toBeNull();
    expect(r.ok).toBe(true);
    expect(r.fetched).toEqual(['/v1/workers', '/v1/sealed']);
    expect(r.responseTypes).toEqual(['cors', 'cors']);
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
    // x-request-id crossed CORS only because the gateway exposes it.
    expect(r.receipts[0]!.requestId).toBeTruthy();
  });

  it('streams a chat completion chunk by chunk with usage, then checks the receipt', () => {
    const r = run.streamed;
    expect(r.error).toBeNull();
    expect(r.ok).toBe(true);
    expect(r.responseTypes.every((t) => t === 'cors')).toBe(true);
    expect(r.mode).toBe('sealed');
    expect(r.worker).toBe(worker.worker.id);
    expect(r.text).toContain('payment bug');
    expect(r.usage!.completion_tokens).toBeGreaterThan(5);
    expect(r.chunks).toBeGreaterThan(r.usage!.completion_tokens);
    expect(r.receipts).toHaveLength(1);
    expect(r.receipts[0]).toMatchObject({ endpoint: 'chat.completions', workerId: worker.worker.id, completionTokens: r.usage!.completion_tokens });
    expect(r.receipts[0]!.requestId).toBeTruthy();
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
