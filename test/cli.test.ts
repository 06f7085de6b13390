import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, describe, expect, it } from 'vitest';
import { parsePolicy, verifyBundle } from '../attestation/index.ts';
import { startGateway } from '../gateway/node.ts';
import { openLibsqlStorage } from '../gateway/storage/libsql.ts';
import { runCli, startCli } from './cli.ts';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'sealgate-cli-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const CANARY = 'CANARY-7f3a9c-zebra-quokka';

describe('npm start (sealgate dev)', () => {
  it('prints a URL and key that the official client uses at once, keeps no prompt text, and stops cleanly on Ctrl-C', async () => {
    const dir = tmp();
    const db = join(dir, 'sealgate.db');
    const dev = await startCli(['dev', '--demo-delay-ms', '0', '--verbose'], /base URL\s+(\S+)\n\s+API key\s+(\S+)/, {
      PORT: '0',
      SEALGATE_DB: db,
      SEALGATE_DEV_API_KEY: 'sk-sg-dev-test-key',
    });
    try {
      const [, baseURL, apiKey] = dev.match;
      expect(apiKey).toBe('sk-sg-dev-test-key');
      expect(dev.output()).toContain('INSECURE');
      const client = new OpenAI({ baseURL, apiKey, maxRetries: 0 });
      expect((await client.models.list()).data.map((m) => m.id)).toEqual(['sealgate-demo']);
      const content = `Please note ${CANARY} is the codename. The codename ${CANARY} launches Friday after review.`;
      const r = await client.chat.completions.create({ model: 'sealgate-demo', messages: [{ role: 'user', content }] });
      expect(r.choices[0]!.message.content).toContain(CANARY);
      const s = await client.chat.completions.create({ model: 'sealgate-demo', messages: [{ role: 'user', content }], stream: true, stream_options: { include_usage: true } });
      let usage = 0;
      for await (const c of s) usage = c.usage?.total_tokens ?? usage;
      expect(usage).toBeGreaterThan(0);
      const policy = JSON.parse(readFileSync(join(dir, 'dev-policy.json'), 'utf8'));
      expect(policy.allowSimulated).toBe(true);
    } finally {
      dev.proc.kill('SIGINT');
    }
    expect(await dev.exited).toBe(0);
    expect(dev.output()).not.toContain(CANARY);
    // Property 1: no prompt or completion text in storage (database and its WAL).
    for (const f of readdirSync(dir).filter((f) => f.startsWith('sealgate.db'))) {
      expect(readFileSync(join(dir, f)).includes(CANARY)).toBe(false);
    }
    // The event log was on (the capture works) and the request log has both requests, with token counts only.
    expect(dev.output()).toContain('"event":"request"');
    const storage = await openLibsqlStorage(db);
    const rows = await storage.listRequests(10);
    await storage.close();
    expect(rows).toHaveLength(2);
    expect(rows.every((r) => r.promptTokens > 0 && r.completionTokens > 0 && r.mode === 'plain')).toBe(true);
  });
});

describe('sealgate keys', () => {
  it('creates, lists and revokes keys; a revoked key gets 401 from the running gateway', async () => {
    const dir = tmp();
    const db = join(dir, 'k.db');
    const created = await runCli(['keys', 'create', '--name', 'alice', '--rpm', '100', '--json', '--db', db]);
    expect(created.code).toBe(0);
    const { id, key } = JSON.parse(created.stdout) as { id: string; key: string };
    expect(key).toMatch(/^sk-sg-/);
    // Only the hash is stored.
    expect(readFileSync(db).includes(key)).toBe(false);

    const gw = await startGateway({ port: 0, dbPath: db, policy: parsePolicy({ allowSimulated: true }), keyCacheMs: 0 });
    try {
      const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: key, maxRetries: 0 });
      await client.models.list();
      const list = await runCli(['keys', 'list', '--db', db]);
      expect(list.stdout).toContain(id);
      expect(list.stdout).toContain('active');
      expect((await runCli(['keys', 'revoke', 'alice', '--db', db])).code).toBe(0);
      const err = await client.models.list().catch((e) => e);
      expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
      expect((await runCli(['keys', 'revoke', 'alice', '--db', db])).code).toBe(2);
    } finally {
      await gw.close();
    }
  });

  it('exits 2 with help on usage errors', async () => {
    const r = await runCli(['keys', 'frobnicate', '--db', join(tmp(), 'x.db')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('sealgate keys');
    expect((await runCli(['gateway'])).code).toBe(2);
  });
});

describe('sealgate worker', () => {
  it('registers, serves, and on SIGTERM drains in-flight requests before deregistering', async () => {
    const gw = await startGateway({ port: 0, dbPath: join(tmp(), 'w.db'), policy: parsePolicy({ allowSimulated: true }) });
    const { generateApiKey } = await import('../gateway/auth/index.ts');
    const { key, record } = await generateApiKey('t');
    await gw.storage.createApiKey(record);
    const worker = await startCli(['worker', '--gateway', gw.url, '--demo-delay-ms', '30'], /serving at (\S+)/);
    try {
      const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: key, maxRetries: 0 });
      expect((await client.models.list()).data).toHaveLength(1);
      const stream = await client.chat.completions.create({
        model: 'sealgate-demo',
        stream: true,
        messages: [{ role: 'user', content: 'One sentence about the drain test here. Another sentence about the drain test.' }],
      });
      let text = '';
      let signalled = false;
      for await (const c of stream) {
        text += c.choices[0]?.delta?.content ?? '';
        if (!signalled) {
          signalled = true;
          worker.proc.kill('SIGTERM');
        }
      }
      // The stream finished although SIGTERM arrived at its first chunk.
      expect(text).toContain('Key terms');
      expect(await worker.exited).toBe(0);
      expect((await client.models.list()).data).toHaveLength(0);
    } finally {
      worker.proc.kill('SIGKILL');
      await gw.close();
    }
  });
});

describe('sealgate evidence', () => {
  it('collects a bundle that verifies against its nonce, and only that nonce', async () => {
    const nonce = 'cd'.repeat(32);
    const r = await runCli(['evidence', '--nonce', nonce]);
    expect(r.code).toBe(0);
    const bundle = JSON.parse(r.stdout);
    const policy = parsePolicy({ allowSimulated: true });
    const now = Math.floor(Date.now() / 1000);
    const v = await verifyBundle(bundle, { policy, now, expectedNonce: nonce });
    expect(v.tee.kind).toBe('simulated');
    const err = await verifyBundle(bundle, { policy, now, expectedNonce: 'ce'.repeat(32) }).catch((e) => e);
    expect(err.code).toBe('NONCE_MISMATCH');
  });

  it('fails with a typed error when configfs-tsm is absent', async () => {
    const r = await runCli(['evidence', '--tee', 'tdx', '--tsm-root', join(tmp(), 'none')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('TSM_UNAVAILABLE');
  });
});
