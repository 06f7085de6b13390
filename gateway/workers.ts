/**
 * Cloudflare Workers entry (wrangler.toml `main`). Web standards only.
 *
 * The gateway keeps live state in memory (admitted workers and their
 * heartbeats, in-flight counts and the circuit breaker, rate-limit windows,
 * pending sealed requests), so on Workers the whole `createGateway` app runs in
 * ONE Durable Object (`idFromName('gateway')`), with its storage in that
 * object's own SQLite: co-located and transactional, and the runtime's output
 * gate answers a worker's receipt only once its row is durable. The Worker's
 * `fetch` forwards every request to that object.
 *
 * Configuration comes from vars and secrets (see README, "Deploying to
 * Cloudflare Workers"):
 *
 * - `SEALGATE_POLICY` (required): the attestation policy, JSON text or a TOML table.
 * - `SEALGATE_ADMIN_TOKEN` (secret, at least 32 characters): enables `/admin/keys`.
 * - `SEALGATE_RPM`, `SEALGATE_TPM`, `SEALGATE_MAX_BODY_BYTES`, `SEALGATE_ADMISSION_SECONDS`:
 *   the same defaults as `sealgate gateway` flags.
 * - `SEALGATE_CORS_ORIGINS`: comma-separated origins (default any).
 * - `SEALGATE_PCCS_URL`: Intel PCS or PCCS for TDX collateral.
 * - `SEALGATE_QUIET`: `1` for no JSON event log.
 *
 * The module exports only what workerd accepts from an entry: the default
 * handler and the Durable Object class.
 *
 * TON billing is off on Workers: receipts are kept in the ledger and no deposit
 * is required (as `sealgate gateway` without `--ton-endpoint`).
 */
import { z } from 'zod';
import { createVerifier, parsePolicy } from '../attestation/index.ts';
import { createGateway, type Gateway, type GatewayOptions } from './app.ts';
import { generateApiKey } from './auth/index.ts';
import { ApiError, internalError, invalidRequest, notFound, unauthorized } from './errors/index.ts';
import { jsonLogger, silentLogger } from './log.ts';
import { openDoSqliteStorage, type DoSqlStorage } from './storage/do-sqlite.ts';
import type { Storage } from './storage/types.ts';

// --- the Cloudflare runtime surface used here (declared, not imported) -------

/** `ctx` of a Durable Object (the parts used here). */
export interface DurableObjectState {
  storage: DoSqlStorage;
  blockConcurrencyWhile<T>(fn: () => Promise<T>): Promise<T>;
}

/** A Durable Object namespace binding. */
export interface DurableObjectNamespace {
  idFromName(name: string): unknown;
  get(id: unknown): { fetch(request: Request): Promise<Response> };
}

/** Bindings, vars and secrets (wrangler.toml and `wrangler secret put`). */
export interface Env {
  GATEWAY: DurableObjectNamespace;
  SEALGATE_POLICY?: string | Record<string, unknown>;
  SEALGATE_ADMIN_TOKEN?: string;
  SEALGATE_RPM?: string;
  SEALGATE_TPM?: string;
  SEALGATE_MAX_BODY_BYTES?: string;
  SEALGATE_ADMISSION_SECONDS?: string;
  SEALGATE_CORS_ORIGINS?: string;
  SEALGATE_PCCS_URL?: string;
  SEALGATE_QUIET?: string;
}

/** The name of the one Durable Object that holds the gateway. */
const GATEWAY_OBJECT_NAME = 'gateway';

/** A configuration problem, reported at start and answered as a 500 until fixed. */
class ConfigError extends Error {
  override name = 'ConfigError';
}

function positiveInt(env: Env, name: keyof Env): number | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string' || !/^\d{1,15}$/.test(v.trim()) || Number(v) <= 0) throw new ConfigError(`${name} must be a positive integer`);
  return Number(v);
}

/**
 * Gateway options from the Worker's env (everything but storage).
 *
 * @example
 * const opts = gatewayOptionsFromEnv({ SEALGATE_POLICY: '{"allowSimulated":true}', ... });
 */
function gatewayOptionsFromEnv(env: Env): Omit<GatewayOptions, 'storage'> {
  const raw = env.SEALGATE_POLICY;
  if (raw === undefined || raw === '') throw new ConfigError('SEALGATE_POLICY is required (the attestation policy JSON)');
  let json: unknown = raw;
  if (typeof raw === 'string') {
    try {
      json = JSON.parse(raw);
    } catch {
      throw new ConfigError('SEALGATE_POLICY is not valid JSON');
    }
  }
  let policy;
  try {
    policy = parsePolicy(json);
  } catch (e) {
    throw new ConfigError(`SEALGATE_POLICY: ${e instanceof Error ? e.message : String(e)}`);
  }
  const cors = env.SEALGATE_CORS_ORIGINS?.split(',').map((s) => s.trim()).filter(Boolean);
  const pccsUrl = env.SEALGATE_PCCS_URL?.trim();
  return {
    policy,
    ...(pccsUrl ? { verify: createVerifier({ pccsUrl }) } : {}),
    rpm: positiveInt(env, 'SEALGATE_RPM'),
    tpm: positiveInt(env, 'SEALGATE_TPM'),
    maxBodyBytes: positiveInt(env, 'SEALGATE_MAX_BODY_BYTES'),
    admissionSeconds: positiveInt(env, 'SEALGATE_ADMISSION_SECONDS'),
    ...(cors?.length ? { corsOrigins: cors.includes('*') ? '*' : cors } : {}),
    logger: env.SEALGATE_QUIET === '1' || env.SEALGATE_QUIET === 'true' ? silentLogger : jsonLogger,
  };
}

// --- admin: API keys ---------------------------------------------------------

const MIN_ADMIN_TOKEN = 32;

const CreateKeyRequest = z.strictObject({
  name: z.string().min(1).max(128).optional(),
  rpm: z.number().int().positive().max(1e9).nullable().optional(),
  tpm: z.number().int().positive().max(1e12).nullable().optional(),
});

const sha256 = async (s: string) => new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(s)));

/** Whether `authorization` carries the admin token (compared as SHA-256 digests, in constant time). */
async function isAdmin(authorization: string | null, token: string): Promise<boolean> {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  if (!m) return false;
  const [a, b] = await Promise.all([sha256(m[1]!), sha256(token)]);
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', 'cache-control': 'no-store' } });

/**
 * `/admin/keys`: create (POST `{name?, rpm?, tpm?}`, the key is shown once),
 * list (GET, no hashes) and revoke (DELETE `/admin/keys/<id or name>`) API keys.
 * Only with `SEALGATE_ADMIN_TOKEN` set (a 404 otherwise), and only with it as
 * the bearer token.
 */
async function admin(request: Request, storage: Storage, token: string | undefined): Promise<Response> {
  if (!token) throw notFound(`Unknown route ${request.method} ${new URL(request.url).pathname}.`);
  if (!(await isAdmin(request.headers.get('authorization'), token))) throw unauthorized('Admin routes need `Authorization: Bearer <SEALGATE_ADMIN_TOKEN>`.');
  const path = new URL(request.url).pathname;
  if (path === '/admin/keys' && request.method === 'POST') {
    let body: unknown;
    try {
      const text = await request.text();
      body = text.trim() === '' ? {} : JSON.parse(text);
    } catch {
      throw invalidRequest('Request body is not valid JSON.');
    }
    const parsed = CreateKeyRequest.safeParse(body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw invalidRequest(`Invalid request: ${issue.message}`, issue.path.join('.') || null);
    }
    const { key, record } = await generateApiKey(parsed.data.name ?? 'default', { rpm: parsed.data.rpm ?? null, tpm: parsed.data.tpm ?? null });
    await storage.createApiKey(record);
    const { hash: _h, ...shown } = record;
    return json({ ...shown, key }, 201);
  }
  if (path === '/admin/keys' && request.method === 'GET') {
    return json({ object: 'list', data: (await storage.listApiKeys()).map(({ hash: _h, ...k }) => k) });
  }
  const m = /^\/admin\/keys\/([^/]{1,128})$/.exec(path);
  if (m && request.method === 'DELETE') {
    const n = await storage.revokeApiKey(decodeURIComponent(m[1]!), Date.now());
    if (n === 0) throw notFound('No active key with that id or name.');
    return json({ revoked: n });
  }
  throw notFound(`Unknown route ${request.method} ${path}.`);
}

function errorResponse(err: ApiError): Response {
  return new Response(JSON.stringify(err.toJSON()), {
    status: err.status,
    headers: { 'content-type': 'application/json', ...err.headers() },
  });
}

// --- the Durable Object and the Worker ---------------------------------------

/**
 * The Durable Object that runs the gateway: the Hono app, its in-memory
 * registry and router, and its SQLite storage. One instance, by name.
 */
export class SealgateGateway {
  private gateway: Gateway | null = null;
  private storage: Storage | null = null;
  private readonly adminToken: string | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    this.adminToken = adminTokenFrom(env);
    let options: ReturnType<typeof gatewayOptionsFromEnv>;
    try {
      options = gatewayOptionsFromEnv(env);
    } catch (e) {
      // A configuration error: every request gets a 500 until the vars are fixed (a deploy restarts the object).
      logStartProblem('gateway.misconfigured', e instanceof Error ? e.message : String(e));
      return;
    }
    // Storage errors reject here, which makes the runtime reset the object and try again on the next request.
    void ctx.blockConcurrencyWhile(async () => {
      const storage = await openDoSqliteStorage(ctx.storage);
      this.storage = storage;
      this.gateway = createGateway({ ...options, storage });
    });
  }

  async fetch(request: Request): Promise<Response> {
    try {
      if (!this.gateway || !this.storage) {
        throw new ApiError(500, 'server_error', 'gateway_misconfigured', 'The gateway is not configured; its operator must fix it (see the Worker logs).');
      }
      if (new URL(request.url).pathname.startsWith('/admin/')) return await admin(request, this.storage, this.adminToken);
      return await this.gateway.app.fetch(request);
    } catch (e) {
      return errorResponse(e instanceof ApiError ? e : internalError());
    }
  }
}

/** The admin token, when set and long enough (a short one disables the admin routes, and says so). */
function adminTokenFrom(env: Env): string | undefined {
  const t = env.SEALGATE_ADMIN_TOKEN;
  if (!t) return undefined;
  if (t.length >= MIN_ADMIN_TOKEN) return t;
  logStartProblem('gateway.admin_disabled', `SEALGATE_ADMIN_TOKEN is shorter than ${MIN_ADMIN_TOKEN} characters`);
  return undefined;
}

function logStartProblem(event: string, message: string): void {
  console.error(JSON.stringify({ t: new Date().toISOString(), event, message }));
}

export default {
  /** Every request goes to the one gateway object. */
  async fetch(request: Request, env: Env): Promise<Response> {
    const stub = env.GATEWAY.get(env.GATEWAY.idFromName(GATEWAY_OBJECT_NAME));
    return stub.fetch(request);
  },
};
