/**
 * The client SDK runs in a web browser (issue 4): test/browser/sdk-page.ts,
 * which runs the scenarios of test/runtimes/sdk-scenarios.ts (the same as
 * test/sdk-workerd.test.ts runs in workerd), is bundled with esbuild for the
 * browser (ESM, no Node built-ins resolvable), served with a tiny HTML page
 * from a loopback HTTP server of its own, and loaded in headless Chromium
 * (Debian's /usr/bin/chromium, driven by playwright-core). From the page it
 * uses the official `openai` client with `sealedFetch` against a real gateway
 * and a demo worker under a pinned simulated TEE, on another loopback port:
 * every call is cross-origin, so the gateway's CORS (preflights, exposed
 * headers) is exercised for real.
 *
 * The page is served with a strict Content-Security-Policy: scripts only from
 * its own origin and no eval, network only to the gateway.
 *
 * Skipped when /usr/bin/chromium is absent; .ci/run installs it.
 */
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundle, type Bundle } from './runtimes/bundle.ts';
import { startScenarioBackend, type ScenarioBackend } from './runtimes/sdk-backend.ts';
import { expectNonStreamed, expectRefused, expectStreamed, expectTampered, expectWebSdkBundle } from './runtimes/sdk-assertions.ts';
import type { ScenarioReport } from './runtimes/sdk-scenarios.ts';

const CHROMIUM = '/usr/bin/chromium';
const SKIP = existsSync(CHROMIUM) ? null : `${CHROMIUM} is not installed (apt-get install -y chromium; .ci/run does it in CI)`;
if (SKIP) console.warn(`test/sdk-browser.test.ts SKIPPED: ${SKIP}`);

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
  let backend: ScenarioBackend;
  let page: { url: string; server: Server } | null = null;
  let browser: Browser | null = null;
  let script: Bundle;
  let run: ScenarioReport;
  let browserVersion: string;
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    backend = await startScenarioBackend();
    const { config } = backend;
    // As a web app would bundle it: browser platform, ESM.
    script = await bundle(new URL('./browser/sdk-page.ts', import.meta.url), { platform: 'browser' });
    page = await servePage(script.code, config.gatewayUrl);
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
    browserVersion = browser.version();
    const tab = await browser.newPage();
    tab.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));
    tab.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    await tab.goto(`${page.url}/?config=${encodeURIComponent(JSON.stringify(config))}`);
    await tab.waitForFunction(() => window.__sealgateReport !== undefined || window.__sealgateFailure !== undefined, null, { timeout: 60_000 });
    const failure = await tab.evaluate(() => window.__sealgateFailure);
    if (failure !== undefined) throw new Error(`the page failed: ${failure}\nconsole errors: ${consoleErrors.join('\n')}`);
    run = (await tab.evaluate(() => window.__sealgateReport))!;
  }, 120_000);

  afterAll(async () => {
    await browser?.close().catch(() => {});
    if (page) await new Promise<void>((r) => page!.server.close(() => r()));
    await backend?.close();
  });

  it('bundles for the browser: the SDK and attestation, no server code, no node: imports', () => {
    expectWebSdkBundle(script);
  });

  it('runs in Chromium on its own origin, cross-origin to the gateway, with native Web Crypto X25519 and Ed25519', () => {
    expect(browserVersion).toMatch(/^\d+\./);
    expect(run.runtime.userAgent).toMatch(/HeadlessChrome\/\d+/);
    expect(run.runtime.origin).toBe(page!.url);
    expect(run.runtime.origin).not.toBe(new URL(backend.config.gatewayUrl).origin);
    expect(run.runtime.isSecureContext).toBe(true); // loopback: Web Crypto's subtle is available
    expect(run.runtime.hasProcess).toBe(false);
    expect(run.runtime.hasBuffer).toBe(false);
    // Chromium's Web Crypto passes the SDK's known-answer checks, so the noble fallback is not needed there.
    expect(run.runtime.crypto).toEqual({ x25519: 'webcrypto', ed25519: 'webcrypto' });
    // Nothing went to the console as an error (CSP violations, CORS failures, uncaught exceptions).
    expect(consoleErrors).toEqual([]);
  });

  // Every response the page's fetch got came from the gateway's other origin, through CORS.
  it('answers a non-streamed chat completion sealed, cross-origin, with a verified receipt', () => {
    expectNonStreamed(run.nonStreamed, backend.served);
    expect(run.nonStreamed.responseTypes).toEqual(['cors', 'cors']);
  });

  it('streams a chat completion chunk by chunk with usage, then checks the receipt', () => {
    expectStreamed(run.streamed, backend.served);
    expect(run.streamed.responseTypes).toEqual(['cors', 'cors']);
  });

  it('refuses a worker its policy does not allow, with its typed code, before sending anything sealed', () => {
    expectRefused(run.refused, backend.served);
    expect(run.refused.responseTypes).toEqual(['cors']);
  });

  it('rejects a sealed response whose receipt frame was altered in transit', () => {
    expectTampered(run.tampered);
    expect(run.tampered.responseTypes).toEqual(['cors', 'cors']);
  });
});
