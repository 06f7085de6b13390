/**
 * A Cloudflare Worker (module syntax) that runs the SDK scenarios of
 * test/runtimes/sdk-scenarios.ts, for test/sdk-workerd.test.ts, which bundles
 * it with esbuild and runs it in workerd (Miniflare) against a real gateway and
 * demo worker on loopback.
 *
 * Bindings: GATEWAY_URL, API_KEY, MODEL, POLICY (the client's policy, JSON
 * that trusts the test's simulated TEE signer).
 *
 * `GET /run` runs every scenario in workerd (the SDK's default fetch is
 * workerd's global fetch) and answers the report as JSON; the test asserts.
 */
import type { PolicyInput } from '../../sdk/index.ts';
import { runScenarios } from '../runtimes/sdk-scenarios.ts';

export interface Env {
  GATEWAY_URL: string;
  API_KEY: string;
  MODEL: string;
  POLICY: PolicyInput;
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    if (new URL(request.url).pathname !== '/run') return new Response('not found', { status: 404 });
    return Response.json(await runScenarios({ gatewayUrl: env.GATEWAY_URL, apiKey: env.API_KEY, model: env.MODEL, policy: env.POLICY }));
  },
};
