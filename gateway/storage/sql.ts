import type { ApiKeyRecord, ClientVoucherRecord, ReceiptBatchRecord, RequestLogRecord, Storage, StoredReceipt, WorkerRecord } from './types.ts';

/** Minimal SQL driver surface shared by libsql and D1 adapters. Plain SQLite SQL only. */
export interface SqlExecutor {
  execute(sql: string, args?: unknown[]): Promise<{ rows: Array<Record<string, unknown>>; rowsAffected: number }>;
  batch(statements: Array<{ sql: string; args: unknown[] }>): Promise<void>;
  close(): Promise<void>;
}

export const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, prefix TEXT NOT NULL,
    created_at INTEGER NOT NULL, revoked_at INTEGER, rpm INTEGER, tpm INTEGER)`,
  `CREATE TABLE IF NOT EXISTS challenges (nonce TEXT PRIMARY KEY, expires_at INTEGER NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS workers (
    id TEXT PRIMARY KEY, url TEXT NOT NULL, models TEXT NOT NULL, evidence TEXT NOT NULL, verdict TEXT NOT NULL,
    admitted_at INTEGER NOT NULL, admitted_until INTEGER NOT NULL, deregistered_at INTEGER)`,
  `CREATE TABLE IF NOT EXISTS requests (
    id TEXT PRIMARY KEY, key_id TEXT NOT NULL, endpoint TEXT NOT NULL, model TEXT NOT NULL, worker_id TEXT,
    mode TEXT NOT NULL, status INTEGER NOT NULL, prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL, created_at INTEGER NOT NULL)`,
  `CREATE INDEX IF NOT EXISTS requests_key_time ON requests (key_id, created_at)`,
  `CREATE TABLE IF NOT EXISTS receipts (
    worker_id TEXT NOT NULL, request_id TEXT NOT NULL, model TEXT NOT NULL, endpoint TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL, request_digest TEXT NOT NULL,
    response_digest TEXT NOT NULL, time INTEGER NOT NULL, sig TEXT NOT NULL, PRIMARY KEY (worker_id, request_id))`,
  `CREATE TABLE IF NOT EXISTS receipt_batches (
    id TEXT PRIMARY KEY, worker_id TEXT NOT NULL, body TEXT NOT NULL, sig TEXT NOT NULL, created_at INTEGER NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS deposits (channel TEXT PRIMARY KEY, account TEXT NOT NULL, created_at INTEGER NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS vouchers (
    channel TEXT PRIMARY KEY, account TEXT NOT NULL, cumulative INTEGER NOT NULL, seq TEXT NOT NULL, cell TEXT NOT NULL,
    signature TEXT NOT NULL, created_at INTEGER NOT NULL)`,
];

/** Columns added after a table was first created: added to older files by `migrate()`. */
const ADDED_COLUMNS: Record<string, Array<[string, string]>> = {
  workers: [
    ['prices', "TEXT NOT NULL DEFAULT '{}'"],
    ['payout_channel', 'TEXT'],
  ],
  receipts: [
    ['account', "TEXT NOT NULL DEFAULT ''"],
    ['price_prompt', "TEXT NOT NULL DEFAULT '0'"],
    ['price_completion', "TEXT NOT NULL DEFAULT '0'"],
    // nanoton; at most 10^18 per receipt (checked before insert), so sums fit SQLite's 64-bit integers
    ['charge', 'INTEGER NOT NULL DEFAULT 0'],
    ['payout_channel', 'TEXT'],
    ['batch_id', 'TEXT'],
  ],
};

const INDEXES = [
  `CREATE INDEX IF NOT EXISTS receipts_account ON receipts (account)`,
  `CREATE INDEX IF NOT EXISTS receipts_payout ON receipts (payout_channel)`,
  `CREATE INDEX IF NOT EXISTS deposits_account ON deposits (account)`,
];

const num = (v: unknown): number => Number(v);
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

function toKey(r: Record<string, unknown>): ApiKeyRecord {
  return {
    id: String(r.id),
    name: String(r.name),
    hash: String(r.hash),
    prefix: String(r.prefix),
    createdAt: num(r.created_at),
    revokedAt: numOrNull(r.revoked_at),
    rpm: numOrNull(r.rpm),
    tpm: numOrNull(r.tpm),
  };
}

function toWorker(r: Record<string, unknown>): WorkerRecord {
  return {
    id: String(r.id),
    url: String(r.url),
    models: JSON.parse(String(r.models)) as string[],
    evidence: JSON.parse(String(r.evidence)),
    verdict: JSON.parse(String(r.verdict)),
    admittedAt: num(r.admitted_at),
    admittedUntil: num(r.admitted_until),
    deregisteredAt: numOrNull(r.deregistered_at),
    prices: JSON.parse(String(r.prices ?? '{}')) as WorkerRecord['prices'],
    payoutChannel: r.payout_channel === null || r.payout_channel === undefined ? null : String(r.payout_channel),
  };
}

/**
 * `Storage` over any `SqlExecutor`. Call `migrate()` once before use.
 *
 * @example
 * const storage = new SqlStorage(executor); await storage.migrate();
 */
export class SqlStorage implements Storage {
  constructor(private readonly db: SqlExecutor) {}

  async migrate(): Promise<void> {
    await this.db.batch(SCHEMA.map((sql) => ({ sql, args: [] })));
    for (const [table, columns] of Object.entries(ADDED_COLUMNS)) {
      const { rows } = await this.db.execute(`PRAGMA table_info(${table})`);
      const have = new Set(rows.map((r) => String(r.name)));
      for (const [name, type] of columns) {
        if (!have.has(name)) await this.db.execute(`ALTER TABLE ${table} ADD COLUMN ${name} ${type}`);
      }
    }
    await this.db.batch(INDEXES.map((sql) => ({ sql, args: [] })));
  }

  async createApiKey(k: ApiKeyRecord): Promise<void> {
    await this.db.execute(
      'INSERT INTO api_keys (id, name, hash, prefix, created_at, revoked_at, rpm, tpm) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      [k.id, k.name, k.hash, k.prefix, k.createdAt, k.revokedAt, k.rpm, k.tpm],
    );
  }

  async findApiKeyByHash(hash: string): Promise<ApiKeyRecord | null> {
    const { rows } = await this.db.execute('SELECT * FROM api_keys WHERE hash = ?', [hash]);
    return rows[0] ? toKey(rows[0]) : null;
  }

  async listApiKeys(): Promise<ApiKeyRecord[]> {
    const { rows } = await this.db.execute('SELECT * FROM api_keys ORDER BY created_at, id');
    return rows.map(toKey);
  }

  async revokeApiKey(idOrName: string, now: number): Promise<number> {
    const r = await this.db.execute(
      'UPDATE api_keys SET revoked_at = ? WHERE (id = ? OR name = ?) AND revoked_at IS NULL',
      [now, idOrName, idOrName],
    );
    return r.rowsAffected;
  }

  async putChallenge(nonce: string, expiresAt: number): Promise<void> {
    await this.db.execute('INSERT INTO challenges (nonce, expires_at) VALUES (?, ?)', [nonce, expiresAt]);
  }

  async takeChallenge(nonce: string, now: number): Promise<boolean> {
    const { rows } = await this.db.execute('DELETE FROM challenges WHERE nonce = ? RETURNING expires_at', [nonce]);
    return rows.length === 1 && num(rows[0]!.expires_at) >= now;
  }

  async pruneChallenges(now: number): Promise<number> {
    await this.db.execute('DELETE FROM challenges WHERE expires_at < ?', [now]);
    const { rows } = await this.db.execute('SELECT COUNT(*) AS n FROM challenges');
    return num(rows[0]?.n ?? 0);
  }

  async upsertWorker(w: WorkerRecord): Promise<void> {
    await this.db.execute(
      `INSERT INTO workers (id, url, models, evidence, verdict, admitted_at, admitted_until, deregistered_at, prices, payout_channel)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET url = excluded.url, models = excluded.models, evidence = excluded.evidence,
         verdict = excluded.verdict, admitted_at = excluded.admitted_at, admitted_until = excluded.admitted_until,
         deregistered_at = excluded.deregistered_at, prices = excluded.prices, payout_channel = excluded.payout_channel`,
      [
        w.id,
        w.url,
        JSON.stringify(w.models),
        JSON.stringify(w.evidence),
        JSON.stringify(w.verdict),
        w.admittedAt,
        w.admittedUntil,
        w.deregisteredAt,
        JSON.stringify(w.prices),
        w.payoutChannel,
      ],
    );
  }

  async markWorkerDeregistered(id: string, now: number): Promise<void> {
    await this.db.execute('UPDATE workers SET deregistered_at = ? WHERE id = ?', [now, id]);
  }

  async listWorkers(): Promise<WorkerRecord[]> {
    const { rows } = await this.db.execute('SELECT * FROM workers ORDER BY admitted_at');
    return rows.map(toWorker);
  }

  async getWorker(id: string): Promise<WorkerRecord | null> {
    const { rows } = await this.db.execute('SELECT * FROM workers WHERE id = ?', [id]);
    return rows[0] ? toWorker(rows[0]) : null;
  }

  async insertReceipts(batch: ReceiptBatchRecord, rows: StoredReceipt[]): Promise<Set<string>> {
    await this.db.execute(
      'INSERT INTO receipt_batches (id, worker_id, body, sig, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING',
      [batch.id, batch.workerId, batch.body, batch.sig, batch.createdAt],
    );
    const inserted = new Set<string>();
    // One multi-row statement: one commit (one fsync) for the whole batch.
    for (let i = 0; i < rows.length; i += 500) {
      const part = rows.slice(i, i + 500);
      const res = await this.db.execute(
        `INSERT INTO receipts (worker_id, request_id, model, endpoint, prompt_tokens, completion_tokens, request_digest,
          response_digest, time, sig, account, price_prompt, price_completion, charge, payout_channel, batch_id)
          VALUES ${part.map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}
          ON CONFLICT (worker_id, request_id) DO NOTHING RETURNING request_id`,
        part.flatMap((r) => [
          r.workerId,
          r.requestId,
          r.model,
          r.endpoint,
          r.promptTokens,
          r.completionTokens,
          r.requestDigest,
          r.responseDigest,
          r.time,
          r.sig,
          r.account,
          r.price.prompt,
          r.price.completion,
          r.charge.toString(),
          r.payoutChannel,
          batch.id,
        ]),
      );
      for (const row of res.rows) inserted.add(String(row.request_id));
    }
    return inserted;
  }

  async listReceipts(limit: number, account?: string): Promise<StoredReceipt[]> {
    const { rows } = await this.db.execute(
      `SELECT *, CAST(charge AS TEXT) AS charge_text FROM receipts ${account === undefined ? '' : 'WHERE account = ?'}
       ORDER BY time DESC LIMIT ?`,
      account === undefined ? [limit] : [account, limit],
    );
    return rows.map((r) => ({
      requestId: String(r.request_id),
      workerId: String(r.worker_id),
      model: String(r.model),
      endpoint: String(r.endpoint),
      promptTokens: num(r.prompt_tokens),
      completionTokens: num(r.completion_tokens),
      requestDigest: String(r.request_digest),
      responseDigest: String(r.response_digest),
      time: num(r.time),
      account: String(r.account),
      price: { prompt: String(r.price_prompt), completion: String(r.price_completion) },
      sig: String(r.sig),
      charge: BigInt(String(r.charge_text)),
      payoutChannel: r.payout_channel === null || r.payout_channel === undefined ? null : String(r.payout_channel),
      batchId: r.batch_id === null || r.batch_id === undefined ? null : String(r.batch_id),
    }));
  }

  async spentByAccount(): Promise<Map<string, bigint>> {
    const { rows } = await this.db.execute('SELECT account, CAST(SUM(charge) AS TEXT) AS total FROM receipts GROUP BY account');
    return new Map(rows.map((r) => [String(r.account), BigInt(String(r.total))]));
  }

  async payoutTotal(channel: string): Promise<{ total: bigint; receipts: number }> {
    const { rows } = await this.db.execute(
      'SELECT CAST(COALESCE(SUM(charge), 0) AS TEXT) AS total, COUNT(*) AS n FROM receipts WHERE payout_channel = ?',
      [channel],
    );
    return { total: BigInt(String(rows[0]?.total ?? '0')), receipts: num(rows[0]?.n ?? 0) };
  }

  async bindDeposit(channel: string, account: string, now: number): Promise<boolean> {
    await this.db.execute('INSERT INTO deposits (channel, account, created_at) VALUES (?, ?, ?) ON CONFLICT (channel) DO NOTHING', [
      channel,
      account,
      now,
    ]);
    const { rows } = await this.db.execute('SELECT account FROM deposits WHERE channel = ?', [channel]);
    return String(rows[0]?.account) === account;
  }

  async listDeposits(account: string): Promise<string[]> {
    const { rows } = await this.db.execute('SELECT channel FROM deposits WHERE account = ? ORDER BY created_at, channel', [account]);
    return rows.map((r) => String(r.channel));
  }

  async putVoucher(v: ClientVoucherRecord): Promise<boolean> {
    const res = await this.db.execute(
      `INSERT INTO vouchers (channel, account, cumulative, seq, cell, signature, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (channel) DO UPDATE SET cumulative = excluded.cumulative, seq = excluded.seq, cell = excluded.cell,
         signature = excluded.signature, created_at = excluded.created_at
       WHERE excluded.cumulative > vouchers.cumulative AND CAST(excluded.seq AS INTEGER) > CAST(vouchers.seq AS INTEGER)`,
      [v.channel, v.account, v.cumulative.toString(), v.seq.toString(), v.cell, v.signature, v.createdAt],
    );
    return res.rowsAffected === 1;
  }

  async listVouchers(account?: string): Promise<ClientVoucherRecord[]> {
    const { rows } = await this.db.execute(
      `SELECT channel, account, CAST(cumulative AS TEXT) AS cumulative, seq, cell, signature, created_at FROM vouchers
       ${account === undefined ? '' : 'WHERE account = ?'} ORDER BY channel`,
      account === undefined ? [] : [account],
    );
    return rows.map((r) => ({
      channel: String(r.channel),
      account: String(r.account),
      cumulative: BigInt(String(r.cumulative)),
      seq: BigInt(String(r.seq)),
      cell: String(r.cell),
      signature: String(r.signature),
      createdAt: num(r.created_at),
    }));
  }

  async logRequests(rows: RequestLogRecord[]): Promise<void> {
    // One multi-row INSERT per 200 rows: far cheaper than a statement per row.
    for (let i = 0; i < rows.length; i += 200) {
      const part = rows.slice(i, i + 200);
      await this.db.execute(
        `INSERT INTO requests (id, key_id, endpoint, model, worker_id, mode, status, prompt_tokens, completion_tokens,
         duration_ms, created_at) VALUES ${part.map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`,
        part.flatMap((r) => [
          r.id,
          r.keyId,
          r.endpoint,
          r.model,
          r.workerId,
          r.mode,
          r.status,
          r.promptTokens,
          r.completionTokens,
          r.durationMs,
          r.createdAt,
        ]),
      );
    }
  }

  async listRequests(limit: number): Promise<RequestLogRecord[]> {
    const { rows } = await this.db.execute('SELECT * FROM requests ORDER BY created_at DESC LIMIT ?', [limit]);
    return rows.map((r) => ({
      id: String(r.id),
      keyId: String(r.key_id),
      endpoint: String(r.endpoint),
      model: String(r.model),
      workerId: r.worker_id === null ? null : String(r.worker_id),
      mode: String(r.mode) as 'plain' | 'sealed',
      status: num(r.status),
      promptTokens: num(r.prompt_tokens),
      completionTokens: num(r.completion_tokens),
      durationMs: num(r.duration_ms),
      createdAt: num(r.created_at),
    }));
  }

  close(): Promise<void> {
    return this.db.close();
  }
}
