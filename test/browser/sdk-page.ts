/**
 * A web page script that runs the SDK scenarios of
 * test/runtimes/sdk-scenarios.ts, for test/sdk-browser.test.ts, which bundles
 * it with esbuild (platform browser, ESM), serves it from a loopback origin of
 * its own and loads it in headless Chromium. The gateway and demo worker run
 * on another loopback port, so every call the SDK makes is a real
 * cross-origin (CORS) request.
 *
 * Configuration comes from the page URL's query: `?config=<JSON>`, a
 * `ScenarioConfig` (the client's policy trusts the test's simulated TEE
 * signer).
 *
 * On load it runs every scenario in the browser (the SDK's default fetch is
 * the page's global fetch) and leaves the report on `window.__sealgateReport`
 * (or the failure on `window.__sealgateFailure`); the test reads and asserts.
 */
import { runScenarios, type ScenarioConfig, type ScenarioReport } from '../runtimes/sdk-scenarios.ts';

declare global {
  interface Window {
    __sealgateReport?: ScenarioReport;
    __sealgateFailure?: string;
  }
}

const raw = new URLSearchParams(location.search).get('config');
(raw ? runScenarios(JSON.parse(raw) as ScenarioConfig) : Promise.reject(new Error('no ?config= in the page URL'))).then(
  (r) => {
    window.__sealgateReport = r;
  },
  (e: unknown) => {
    window.__sealgateFailure = e instanceof Error ? `${e.name}: ${e.message}\n${e.stack ?? ''}` : String(e);
  },
);
