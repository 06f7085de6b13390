import { Address, Cell } from '@ton/core';
import { z } from 'zod';
import { fromBase64, toBase64, toHex, utf8 } from '../../attestation/util/bytes.ts';
import { parseVoucher, signVoucher, verifyVoucher } from '../../contracts/wrappers/PaymentChannel.ts';
import { codeHashHex as PAYMENT_CHANNEL_CODE_HASH } from '../../contracts/build/payment-channel.ts';
import { isPrice, priceWithin, receiptCharge, type Price, type VerifiedReceiptBatch } from '../../sdk/protocol/receipt.ts';
import { sha256 } from '@noble/hashes/sha2.js';
import { ApiError, insufficientQuota, invalidRequest, notFound } from '../errors/index.ts';
import type { StoredReceipt, Storage } from '../storage/types.ts';

/**
 * Billing: the receipt ledger, per-model prices and client price caps, client
 * deposits (payment channels paying the operator) and the payout vouchers the
 * operator signs for providers. Amounts are nanoton, as bigint.
 */

/** A price per model as workers register it: decimal nanoton per token. */
export const PriceSchema = z.custom<Price>(isPrice, 'a price is {"prompt","completion"}: decimal nanoton per token below 10^19');

/** Largest charge one receipt may carry (10^9 TON), so ledger sums stay within 64-bit integers. */
const MAX_CHARGE = 10n ** 18n;

/** A price cap in nanoton per token. */
export interface PriceCap {
  prompt: bigint;
  completion: bigint;
}

/**
 * Parses the client's `x-sealgate-max-price` header: `<prompt>,<completion>`, nanoton per token.
 *
 * @example
 * parsePriceCap('200,600') // { prompt: 200n, completion: 600n }
 */
export function parsePriceCap(header: string | undefined | null): PriceCap | null {
  if (header === undefined || header === null) return null;
  const m = /^\s*(\d{1,19})\s*,\s*(\d{1,19})\s*$/.exec(header);
  if (!m) throw invalidRequest('x-sealgate-max-price must be `<prompt>,<completion>` in nanoton per token.', 'x-sealgate-max-price');
  return { prompt: BigInt(m[1]!), completion: BigInt(m[2]!) };
}

/** Whether a worker's price for a model is within the client's cap (no cap: any price). */
export const withinCap: (price: Price, cap: PriceCap | null) => boolean = priceWithin;

/** The price of a model on a worker that set none. */
export const FREE: Price = { prompt: '0', completion: '0' };

/**
 * The account a key is billed under: `acct_` + the first 32 hex digits of
 * SHA-256(key). Workers sign it into receipts; a client can compute it from its
 * own key (sdk `accountForApiKey`).
 */
export function accountForKeyHash(hash: string): string {
  return 'acct_' + hash.slice(0, 32);
}

/** A payment channel as read from the chain (a subset of contracts/chain's `ChannelOnChain`). */
export interface ChannelView {
  /** Hash of the deployed code; only `contracts/build/payment-channel.ts`'s is trusted. */
  codeHash: Uint8Array;
  state: 'open' | 'closing' | 'closed';
  /** Seconds the payee has to claim once the payer starts a close. */
  disputeWindow: number;
  paid: bigint;
  available: bigint;
  payer: Address;
  payee: Address;
  payerPublicKey: Uint8Array;
  payeePublicKey: Uint8Array;
}

/** Reads channels on chain; contracts/chain `openTonChain()` is one. */
export interface ChannelReader {
  readChannel(address: Address): Promise<ChannelView | null>;
}

/** The operator: payee of client deposit channels and payer of provider payout channels. */
export interface Operator {
  /** The operator's wallet. */
  address: Address;
  /** Ed25519, 32-byte public key and 64-byte secret key (as from @ton/crypto). */
  publicKey: Uint8Array;
  secretKey: Uint8Array;
}

export interface BillingOptions {
  storage: Storage;
  /** With both `chain` and `operator`, keys need a deposit; without, usage is only recorded. */
  chain?: ChannelReader | null;
  operator?: Operator | null;
  /** Usage a client may run up beyond its newest voucher, nanoton (default 1 TON). */
  clientCredit?: bigint;
  /** Shortest dispute window accepted on a deposit channel, seconds (default 86 400): the time the operator has to claim. */
  minDisputeWindow?: number;
  /** How long a read deposit balance is trusted, ms (default 10 s). */
  refreshMs?: number;
  now?: () => number;
}

/** What the gateway answers on `GET /v1/billing`. */
export interface AccountSummary {
  account: string;
  /** What the deposits cover, nanoton. */
  credit: string;
  /** What the account's receipts charge, nanoton. */
  spent: string;
  /** What the account's newest vouchers authorise, nanoton. */
  vouchered: string;
  balance: string;
  deposits: string[];
  /** The newest voucher held per deposit channel. */
  vouchers: Array<{ channel: string; cumulative: string; seq: string }>;
  /** Where deposits go (null when billing is off): the payee of a deposit channel. */
  operator: { address: string; publicKey: string; paymentChannelCodeHash: string } | null;
}

/** What counting a receipt batch did. */
export interface BatchOutcome {
  /** Receipts stored now (new to the ledger). */
  stored: StoredReceipt[];
  /** Receipts already in the ledger (a retried delivery). */
  duplicates: number;
  /** Receipts that can never count, with why. */
  refused: Array<{ requestId: string; message: string }>;
}

/** A voucher the operator signed for a provider's payout channel. */
export interface PayoutVoucher {
  channel: string;
  cumulative: string;
  seq: string;
  receipts: number;
  /** The voucher cell (base64 BOC) and the operator's signature over its hash (base64). */
  cell: string;
  signature: string;
}

const billingOff = () => new ApiError(404, 'invalid_request_error', 'billing_disabled', 'This gateway is not configured for TON billing.');

/** Normalises an address string to its raw form (`0:<hex>`), or throws a 400 naming `param`. */
export function rawAddress(s: unknown, param: string): string {
  try {
    if (typeof s !== 'string' || s.length > 100) throw new Error('not a string');
    return Address.parse(s).toRawString();
  } catch {
    throw invalidRequest(`${param} must be a TON address.`, param, 'invalid_address');
  }
}

/**
 * The ledger and balances. `record` keeps a receipt durably and exactly once
 * (storage is the source of truth; the in-memory sums are rebuilt from it at
 * start), `admit` is the hot-path balance check.
 *
 * @example
 * const billing = new Billing({ storage, chain, operator });
 * await billing.admit(account); // throws 429 insufficient_quota when the deposits are used up
 */
export class Billing {
  private spent = new Map<string, bigint>();
  private vouchered = new Map<string, bigint>();
  private readonly credit = new Map<string, { amount: bigint; at: number }>();
  private readonly refreshing = new Map<string, Promise<bigint>>();
  private readonly now: () => number;
  private loading: Promise<void> | null = null;

  constructor(private readonly o: BillingOptions) {
    this.now = o.now ?? Date.now;
  }

  /** Loads the sums from storage, once; every method that needs them awaits it. */
  load(): Promise<void> {
    this.loading ??= (async () => {
      this.spent = await this.o.storage.spentByAccount();
      this.vouchered = new Map();
      for (const v of await this.o.storage.listVouchers()) this.vouchered.set(v.account, (this.vouchered.get(v.account) ?? 0n) + v.cumulative);
    })();
    return this.loading;
  }

  /** Whether keys need a deposit (chain and operator configured). */
  get enabled(): boolean {
    return !!this.o.chain && !!this.o.operator;
  }

  /**
   * Refuses (429 insufficient_quota) an account whose deposits are used up or
   * whose unvouchered usage exceeds the client credit. A refused check re-reads
   * the chain first (at most once a second), so a fresh deposit counts at once.
   */
  async admit(account: string): Promise<void> {
    if (!this.enabled) return;
    await this.load();
    const spent = this.spent.get(account) ?? 0n;
    const owed = spent - (this.vouchered.get(account) ?? 0n);
    if (owed > (this.o.clientCredit ?? 1_000_000_000n)) {
      throw insufficientQuota(
        `Usage not covered by a voucher (${owed} nanoton) exceeds the credit limit: sign a voucher for your usage (POST /v1/billing/vouchers).`,
      );
    }
    const cached = this.credit.get(account);
    const age = cached ? this.now() - cached.at : Infinity;
    const refreshMs = this.o.refreshMs ?? 10_000;
    let credit: bigint;
    // A reading older than a few refresh periods (the chain unreachable since) is not trusted: the
    // client may have closed its channel meanwhile. Waiting for a fresh one fails closed.
    if (!cached || age > 6 * refreshMs) credit = await this.freshCredit(account);
    else {
      credit = cached.amount;
      if (age > refreshMs) void this.refreshCredit(account).catch(() => {});
    }
    if (credit > spent) return;
    if (cached && age > 1_000) credit = await this.freshCredit(account);
    if (credit <= spent) {
      throw insufficientQuota(
        `This key's deposits (${credit} nanoton) are used up (${spent} nanoton spent). Deposit TON into a payment channel to the operator and bind it with POST /v1/billing/deposits.`,
      );
    }
  }

  /** `refreshCredit` for a request waiting on it: a chain that cannot be read is a retryable 503. */
  private async freshCredit(account: string): Promise<bigint> {
    try {
      return await this.refreshCredit(account);
    } catch {
      throw new ApiError(503, 'server_error', 'billing_unavailable', 'The gateway cannot read deposits on chain right now.', null, 5);
    }
  }

  /** Re-reads the account's deposit channels; concurrent callers share one read. */
  private refreshCredit(account: string): Promise<bigint> {
    const running = this.refreshing.get(account);
    if (running) return running;
    const p = (async () => {
      const channels = await this.o.storage.listDeposits(account);
      const vouchers = new Map((await this.o.storage.listVouchers(account)).map((v) => [v.channel, v.cumulative]));
      let total = 0n;
      for (const ch of channels) {
        const view = await this.o.chain!.readChannel(Address.parse(ch));
        if (view) total += channelCredit(view, vouchers.get(ch) ?? 0n);
      }
      this.credit.set(account, { amount: total, at: this.now() });
      return total;
    })().finally(() => this.refreshing.delete(account));
    this.refreshing.set(account, p);
    return p;
  }

  /**
   * Counts a worker's verified receipt batch: each receipt must name this
   * worker, an account, and the worker's registered price for its model;
   * those that do are stored with their charge and the worker's payout channel,
   * once per (worker, request). Resolves only after storage has committed them,
   * so whoever acknowledges the batch afterwards cannot lose a receipt.
   */
  async recordBatch(batch: VerifiedReceiptBatch, worker: { id: string; prices: Map<string, Price>; payoutChannel: string | null }): Promise<BatchOutcome> {
    await this.load();
    const refused: BatchOutcome['refused'] = [];
    const rows: StoredReceipt[] = [];
    for (const r of batch.receipts) {
      const price = worker.prices.get(r.model);
      const charge = receiptCharge(r);
      const problem =
        r.workerId !== worker.id
          ? 'receipt names another worker'
          : !/^acct_[0-9a-f]{32}$/.test(r.account)
            ? 'receipt names no account'
            : !price || price.prompt !== r.price.prompt || price.completion !== r.price.completion
              ? "receipt's price is not the worker's registered price for its model"
              : charge > MAX_CHARGE
                ? 'receipt charges more than 10^18 nanoton'
                : null;
      if (problem) refused.push({ requestId: r.requestId, message: problem });
      else {
        const { v: _v, sig, ...fields } = r;
        rows.push({ ...fields, sig: sig ?? '', charge, payoutChannel: worker.payoutChannel });
      }
    }
    const inserted = rows.length
      ? await this.o.storage.insertReceipts({ id: toHex(sha256(utf8(batch.sig))), workerId: batch.workerId, body: batch.body, sig: batch.sig, createdAt: this.now() }, rows)
      : new Set<string>();
    const stored: StoredReceipt[] = [];
    for (const row of rows) {
      if (!inserted.has(row.requestId)) continue;
      stored.push(row);
      this.spent.set(row.account, (this.spent.get(row.account) ?? 0n) + row.charge);
    }
    return { stored, duplicates: rows.length - stored.length, refused };
  }

  /** The account's credit, spending and vouchers. */
  async summary(account: string): Promise<AccountSummary> {
    await this.load();
    const credit = this.enabled ? await this.refreshCredit(account) : 0n;
    const spent = this.spent.get(account) ?? 0n;
    return {
      account,
      credit: credit.toString(),
      spent: spent.toString(),
      vouchered: (this.vouchered.get(account) ?? 0n).toString(),
      balance: (credit - spent).toString(),
      deposits: await this.o.storage.listDeposits(account),
      vouchers: (await this.o.storage.listVouchers(account)).map((v) => ({ channel: v.channel, cumulative: v.cumulative.toString(), seq: v.seq.toString() })),
      operator:
        this.enabled && this.o.operator
          ? { address: this.o.operator.address.toRawString(), publicKey: toHex(this.o.operator.publicKey), paymentChannelCodeHash: PAYMENT_CHANNEL_CODE_HASH }
          : null,
    };
  }

  /**
   * Binds a client's deposit channel to its account after checking on chain that
   * it is open and pays the operator (address and key).
   */
  async bindDeposit(account: string, channel: unknown): Promise<AccountSummary> {
    if (!this.enabled) throw billingOff();
    const raw = rawAddress(channel, 'channel');
    const view = await this.readGenuine(raw, 'channel');
    if (view.state !== 'open') throw invalidRequest('The channel is not open.', 'channel', 'channel_not_open');
    if (!view.payee.equals(this.o.operator!.address) || !sameBytes(view.payeePublicKey, this.o.operator!.publicKey)) {
      throw invalidRequest("The channel's payee is not this gateway's operator.", 'channel', 'wrong_payee');
    }
    const minWindow = this.o.minDisputeWindow ?? 86_400;
    if (view.disputeWindow < minWindow) {
      throw invalidRequest(`The channel's dispute window is under ${minWindow} seconds.`, 'channel', 'dispute_window_too_short');
    }
    if (!(await this.o.storage.bindDeposit(raw, account, this.now()))) {
      throw invalidRequest('The channel is already bound to another key.', 'channel', 'channel_taken');
    }
    this.credit.delete(account);
    return this.summary(account);
  }

  /**
   * Takes a client's voucher on one of its deposit channels: signed by the
   * channel's payer key, for this channel, newer than the stored one, and not
   * for more than the account has spent (a voucher is a payment, not a promise).
   */
  async acceptVoucher(account: string, input: unknown): Promise<AccountSummary> {
    if (!this.enabled) throw billingOff();
    const v = input as { cell?: unknown; signature?: unknown } | null;
    let cell: Cell;
    let signature: Buffer;
    try {
      cell = Cell.fromBoc(Buffer.from(fromBase64(String(v?.cell))))[0]!;
      signature = Buffer.from(fromBase64(String(v?.signature)));
    } catch {
      throw invalidRequest('voucher must be {"cell": base64 BOC, "signature": base64}.', 'cell', 'invalid_voucher');
    }
    let parsed;
    try {
      parsed = parseVoucher(cell);
    } catch {
      throw invalidRequest('Not a sealgate voucher cell.', 'cell', 'invalid_voucher');
    }
    const channel = parsed.channel.toRawString();
    if (!(await this.o.storage.listDeposits(account)).includes(channel)) {
      throw invalidRequest('The voucher is for a channel not bound to this key.', 'cell', 'channel_not_bound');
    }
    const view = await this.o.chain!.readChannel(parsed.channel);
    if (!view || !verifyVoucher({ cell, signature }, parsed.channel, Buffer.from(view.payerPublicKey))) {
      throw invalidRequest("The voucher's signature does not verify with the channel's payer key.", 'signature', 'invalid_voucher');
    }
    await this.load();
    const spent = this.spent.get(account) ?? 0n;
    const others = (await this.o.storage.listVouchers(account)).filter((x) => x.channel !== channel).reduce((n, x) => n + x.cumulative, 0n);
    if (others + parsed.cumulative > spent) {
      throw invalidRequest(`The vouchers would pay ${others + parsed.cumulative} nanoton for ${spent} spent.`, 'cell', 'voucher_exceeds_usage');
    }
    const kept = await this.o.storage.putVoucher({
      channel,
      account,
      cumulative: parsed.cumulative,
      seq: parsed.seq,
      cell: toBase64(cell.toBoc()),
      signature: toBase64(signature),
      createdAt: this.now(),
    });
    if (!kept) throw invalidRequest('A voucher with a higher amount and sequence number is already held.', 'cell', 'stale_voucher');
    this.vouchered.set(account, others + parsed.cumulative);
    return this.summary(account);
  }

  /**
   * The operator's voucher for a provider's payout channel: cumulative = every
   * stored receipt of workers paid through it, seq = their count. Both only
   * grow, and the voucher can never exceed what the receipts add up to.
   */
  async payoutVoucher(channel: unknown): Promise<PayoutVoucher> {
    if (!this.o.operator) throw billingOff();
    const raw = rawAddress(channel, 'channel');
    const { total, receipts } = await this.o.storage.payoutTotal(raw);
    if (receipts === 0) throw notFound('No receipts are counted for that payout channel yet.');
    const signed = signVoucher({ channel: Address.parse(raw), cumulative: total, seq: BigInt(receipts) }, Buffer.from(this.o.operator.secretKey));
    return {
      channel: raw,
      cumulative: total.toString(),
      seq: String(receipts),
      receipts,
      cell: toBase64(signed.cell.toBoc()),
      signature: toBase64(signed.signature),
    };
  }

  /**
   * Reads a channel and makes sure it runs sealgate's payment channel code: its
   * get methods are only worth believing then (anyone can deploy a contract that
   * reports a large balance).
   */
  private async readGenuine(raw: string, param: string): Promise<ChannelView> {
    const view = await this.o.chain!.readChannel(Address.parse(raw));
    if (!view) throw invalidRequest('No payment channel is deployed at that address.', param, 'channel_not_found');
    if (toHex(view.codeHash) !== PAYMENT_CHANNEL_CODE_HASH) {
      throw invalidRequest("The contract at that address does not run sealgate's payment channel code.", param, 'not_a_payment_channel');
    }
    return view;
  }

  /**
   * Checks a worker's payout channel on chain: it must pay from the operator's
   * wallet with the operator's key. A no-op when billing is off.
   */
  async checkPayoutChannel(channel: string): Promise<void> {
    if (!this.enabled) return;
    const view = await this.readGenuine(channel, 'payoutChannel');
    if (view.state !== 'open') throw invalidRequest('The payout channel is not open.', 'payoutChannel', 'channel_not_open');
    if (!view.payer.equals(this.o.operator!.address) || !sameBytes(view.payerPublicKey, this.o.operator!.publicKey)) {
      throw invalidRequest("The payout channel's payer is not this gateway's operator.", 'payoutChannel', 'wrong_payer');
    }
  }
}

/** What a deposit channel secures: all of it while open; once closing, only what the operator can still claim. */
function channelCredit(view: ChannelView, vouchered: bigint): bigint {
  const total = view.paid + view.available;
  if (view.state === 'open') return total;
  return view.paid > vouchered ? view.paid : vouchered < total ? vouchered : total;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
