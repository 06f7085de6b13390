import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import { parsePolicy, type Policy, type PolicyInput } from '../attestation/index.ts';
import { createSealedClient, isSealedFetchError, type SealedFetchOptions } from '../sdk/index.ts';
import { int, parse, UsageError } from './args.ts';
import { simulatedWarning } from './gateway.ts';

export const PROXY_HELP = `sealgate proxy — an OpenAI-compatible API on localhost that seals every request
end to end to a worker enclave whose evidence it verified itself, so any OpenAI
client (Python, curl, LangChain) gets the same protection without code changes.

  --gateway <url>       the sealgate gateway (required)
  --policy <file>       client attestation policy JSON (default .sealgate/dev-policy.json
                        if it exists — npm start writes it — else required)
  --port <n>            listen port (default 8788; 0 picks a free one)
  --host <addr>         listen address (default 127.0.0.1)
  --max-attempts <n>    workers tried per request before giving up (default 3)

The caller's Authorization header is passed on to the gateway; without one,
env SEALGATE_API_KEY is used. Chat completions, completions and embeddings are
sealed; other /v1 routes (e.g. GET /v1/models) are passed through.`;

export const DEFAULT_PROXY_PORT = 8788;
const DEV_POLICY = '.sealgate/dev-policy.json';

/** Headers that belong to one hop and are not forwarded. */
const HOP = new Set(['host', 'connection', 'keep-alive', 'transfer-encoding', 'content-length', 'accept-encoding', 'upgrade', 'proxy-authorization', 'te', 'trailer']);

export interface ProxyOptions {
  gateway: string;
  /** The client's attestation policy (parsed, or as in a policy file). */
  policy: Policy | PolicyInput;
  port?: number;
  host?: string;
  /** Used when the caller sends no Authorization header. */
  apiKey?: string;
  /** Extra sealed-client options (tests: fetch, now, select, onReceipt...). */
  client?: Partial<Omit<SealedFetchOptions, 'policy' | 'gateway'>>;
}

export interface RunningProxy {
  url: string;
  close(): Promise<void>;
}

/** Serves the proxy app; `runProxy` parses the command line around it. */
export async function startProxy(o: ProxyOptions): Promise<RunningProxy> {
  const gateway = o.gateway.replace(/\/+$/, '');
  const sealed = createSealedClient({ ...o.client, policy: o.policy, gateway });
  const app = new Hono();

  app.all('/v1/*', async (c) => {
    const inUrl = new URL(c.req.url);
    const target = gateway + inUrl.pathname + inUrl.search;
    const headers = new Headers();
    c.req.raw.headers.forEach((v, k) => {
      if (!HOP.has(k.toLowerCase())) headers.set(k, v);
    });
    if (!headers.has('authorization') && o.apiKey) headers.set('authorization', `Bearer ${o.apiKey}`);
    const method = c.req.method.toUpperCase();
    const body = method === 'GET' || method === 'HEAD' ? undefined : new Uint8Array(await c.req.arrayBuffer());
    let res: Response;
    try {
      res = await sealed.fetch(target, { method, headers, ...(body ? { body: body as BodyInit } : {}), signal: c.req.raw.signal });
    } catch (e) {
      if (isSealedFetchError(e)) {
        const status = e.code === 'NO_VERIFIED_WORKER' || e.code === 'SEALED_REQUEST_REJECTED' || e.code === 'PROTOCOL_ERROR' || e.code === 'RESPONSE_REJECTED' ? 502 : 503;
        return new Response(
          JSON.stringify({ error: { ...e.toOpenAIError(), code: e.code, ...(e.workers.length ? { workers: e.workers } : {}) } }),
          { status, headers: { 'content-type': 'application/json', 'x-should-retry': 'false', 'x-sealgate-mode': 'sealed' } },
        );
      }
      return new Response(
        JSON.stringify({ error: { message: `sealgate proxy cannot reach the gateway: ${e instanceof Error ? e.message : e}`, type: 'server_error', param: null, code: 'gateway_unreachable' } }),
        { status: 502, headers: { 'content-type': 'application/json' } },
      );
    }
    const out = new Headers();
    res.headers.forEach((v, k) => {
      const l = k.toLowerCase();
      if (!HOP.has(l) && l !== 'content-encoding') out.set(k, v);
    });
    return new Response(res.body, { status: res.status, statusText: res.statusText, headers: out });
  });
  app.get('/healthz', (c) => c.json({ status: 'ok', gateway }));
  app.notFound(
    (c) =>
      new Response(JSON.stringify({ error: { message: `Unknown route ${c.req.method} ${c.req.path}.`, type: 'invalid_request_error', param: null, code: 'not_found' } }), {
        status: 404,
        headers: { 'content-type': 'application/json' },
      }),
  );

  const host = o.host ?? '127.0.0.1';
  const server: ServerType = await new Promise((resolveServer, reject) => {
    const s = serve({ fetch: app.fetch, port: o.port ?? DEFAULT_PROXY_PORT, hostname: host }, () => resolveServer(s));
    s.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    url,
    close: () =>
      new Promise<void>((done) => {
        server.close(() => done());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      }),
  };
}

/** `sealgate proxy --gateway <url> [--policy <file>] [--port <n>] [--host 127.0.0.1]`. */
export async function runProxy(argv: string[]): Promise<{ url: string; close(): Promise<void> }> {
  const { values } = parse(argv, {
    gateway: { type: 'string' },
    policy: { type: 'string' },
    port: { type: 'string' },
    host: { type: 'string' },
    'max-attempts': { type: 'string' },
  });
  const gateway = values.gateway ?? process.env.SEALGATE_GATEWAY;
  if (!gateway) throw new UsageError('--gateway <url> is required');
  try {
    new URL(gateway);
  } catch {
    throw new UsageError(`--gateway must be a URL, got ${gateway}`);
  }
  let policyPath = values.policy;
  if (!policyPath) {
    if (!existsSync(DEV_POLICY)) throw new UsageError(`--policy <file> is required (no ${DEV_POLICY} here; npm start writes one)`);
    policyPath = DEV_POLICY;
  }
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(resolve(policyPath), 'utf8'));
  } catch (e) {
    throw new UsageError(`cannot read policy ${policyPath}: ${e instanceof Error ? e.message : e}`);
  }
  const policy = parsePolicy(json);
  if (policy.allowSimulated) {
    console.error(simulatedWarning().replace('this gateway accepts', 'this proxy accepts'));
  }
  const maxAttempts = int(values['max-attempts'], 'max-attempts');
  const proxy = await startProxy({
    gateway,
    policy,
    port: int(values.port, 'port') ?? DEFAULT_PROXY_PORT,
    host: values.host ?? '127.0.0.1',
    ...(process.env.SEALGATE_API_KEY ? { apiKey: process.env.SEALGATE_API_KEY } : {}),
    ...(maxAttempts ? { client: { maxAttempts } } : {}),
  });
  console.log(`sealgate proxy listening on ${proxy.url}`);
  return proxy;
}
