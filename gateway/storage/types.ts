import type { Price, Receipt } from '../../sdk/protocol/receipt.ts';

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
  /** Price per model, nanoton per token; fixed for a worker id. */
  prices: Record<string, Price>;
  /** The provider's payment channel (payer: the operator), raw address; null when unpaid. */
  payoutChannel: string | null;
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

/** A receipt as the ledger keeps it: with what it charged and whom it pays. */
export interface StoredReceipt extends Omit<ReceiptRecord, 'sig'> {
  /** The receipt's own signature (sealed requests), or '' (plain requests: only the batch is signed). */
  sig: string;
  /** Nanoton charged to `account` (tokens × the receipt's price). */
  charge: bigint;
  /** The worker's payout channel when the receipt was counted; null when the worker is unpaid. */
  payoutChannel: string | null;
  /** The signed delivery batch it came in (`receipt_batches`), which proves it. */
  batchId?: string | null;
}

/** A worker-signed delivery of receipts, kept as received so every receipt stays provable. */
export interface ReceiptBatchRecord {
  /** Hex SHA-256 of the signature. */
  id: string;
  workerId: string;
  /** Canonical JSON of the batch without its signature. */
  body: string;
  sig: string;
  createdAt: number;
}

/** The newest voucher a client signed on its deposit channel (payee: the operator). */
export interface ClientVoucherRecord {
  /** Raw address of the client's channel. */
  channel: string;
  account: string;
  cumulative: bigint;
  seq: bigint;
  /** The voucher cell, base64 BOC, and the payer's Ed25519 signature over its hash, base64. */
  cell: string;
  signature: string;
  createdAt: number;
}
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

  getWorker(id: string): Promise<WorkerRecord | null>;

  /**
   * Stores a verified batch and its receipts, durably, each receipt once per
   * (worker, request); resolves with the request ids that were new.
   */
  insertReceipts(batch: ReceiptBatchRecord, rows: StoredReceipt[]): Promise<Set<string>>;
  /** Newest first; only `account`'s when given. */
  listReceipts(limit: number, account?: string): Promise<StoredReceipt[]>;
  /** Total charged per account over every stored receipt. */
  spentByAccount(): Promise<Map<string, bigint>>;
  /** Total charged and receipt count for workers paid through `channel`. */
  payoutTotal(channel: string): Promise<{ total: bigint; receipts: number }>;

  /** Binds a deposit channel to an account; false when it is already bound to another. */
  bindDeposit(channel: string, account: string, now: number): Promise<boolean>;
  listDeposits(account: string): Promise<string[]>;
  /** Keeps a client voucher if it is newer (higher amount and seq) than the stored one. */
  putVoucher(v: ClientVoucherRecord): Promise<boolean>;
  listVouchers(account?: string): Promise<ClientVoucherRecord[]>;

  logRequests(rows: RequestLogRecord[]): Promise<void>;
  listRequests(limit: number): Promise<RequestLogRecord[]>;

  close(): Promise<void>;
}
