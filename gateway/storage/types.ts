import type { Receipt } from '../../sdk/protocol/receipt.ts';

/** What the gateway persists. Never prompt or completion text. */

export interface ApiKeyRecord {
  id: string;
  name: string;
  /** SHA-256 of the key, hex. The key itself is never stored. */
  hash: string;
  /** First characters of the key, for display. */
  prefix: string;
  createdAt: number;
  revokedAt: number | null;
  /** Requests per minute; null: gateway default. */
  rpm: number | null;
  /** Tokens per minute; null: gateway default. */
  tpm: number | null;
}

export interface WorkerRecord {
  id: string;
  url: string;
  models: string[];
  /** The evidence bundle the worker registered with (JSON). */
  evidence: unknown;
  /** Summary of the verdict (kind, measurements, TCB status, expiry). */
  verdict: unknown;
  admittedAt: number;
  admittedUntil: number;
  deregisteredAt: number | null;
}

/** One served request: routing metadata and token counts only. */
export interface RequestLogRecord {
  id: string;
  keyId: string;
  endpoint: string;
  model: string;
  workerId: string | null;
  mode: 'plain' | 'sealed';
  status: number;
  promptTokens: number;
  completionTokens: number;
  durationMs: number;
  createdAt: number;
}

/** A usage receipt signed by a worker enclave (sdk/protocol/receipt.ts), as stored. */
export type ReceiptRecord = Omit<Receipt, 'v'>;

/**
 * The gateway's storage. Implementations: SQLite through @libsql/client
 * (Node, default) and, later, Cloudflare D1 over the same SQL.
 */
export interface Storage {
  createApiKey(key: ApiKeyRecord): Promise<void>;
  findApiKeyByHash(hash: string): Promise<ApiKeyRecord | null>;
  listApiKeys(): Promise<ApiKeyRecord[]>;
  /** Revokes by id or name; returns how many keys were revoked. */
  revokeApiKey(idOrName: string, now: number): Promise<number>;

  putChallenge(nonce: string, expiresAt: number): Promise<void>;
  /** Deletes the challenge and says whether it existed and had not expired (single use). */
  takeChallenge(nonce: string, now: number): Promise<boolean>;
  /** Deletes expired challenges and returns how many live ones remain. */
  pruneChallenges(now: number): Promise<number>;

  upsertWorker(worker: WorkerRecord): Promise<void>;
  markWorkerDeregistered(id: string, now: number): Promise<void>;
  listWorkers(): Promise<WorkerRecord[]>;

  /** Stores a receipt once; false when the same worker already sent one for that request. */
  insertReceipt(r: ReceiptRecord): Promise<boolean>;
  listReceipts(limit: number): Promise<ReceiptRecord[]>;

  logRequests(rows: RequestLogRecord[]): Promise<void>;
  listRequests(limit: number): Promise<RequestLogRecord[]>;

  close(): Promise<void>;
}
