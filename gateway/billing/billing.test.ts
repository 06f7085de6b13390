/**
 * The billing ledger and balance rules over real SQLite storage. Channels are read through a
 * `ChannelReader` over a plain map here: the on-chain reads themselves are covered by
 * contracts/chain/chain.test.ts and test/billing-e2e.test.ts (real sandbox chain).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Address, Cell } from '@ton/core';
import { keyPairFromSeed, type KeyPair } from '@ton/crypto';
import { createClient } from '@libsql/client';
import { signVoucher, verifyVoucher } from '../../contracts/wrappers/PaymentChannel.ts';
import { signReceipt, type Receipt } from '../../sdk/protocol/index.ts';
import { ApiError } from '../errors/index.ts';
import { openLibsqlStorage } from '../storage/libsql.ts';
import type { SqlStorage } from '../storage/sql.ts';
import { Billing, parsePriceCap, withinCap, type ChannelView } from './index.ts';
import { codeHashHex } from '../../contracts/build/payment-channel.ts';

const key = (): KeyPair => keyPairFromSeed(Buffer.from(crypto.getRandomValues(new Uint8Array(32))));
const addr = (n: number) => new Address(0, Buffer.alloc(32, n));

let dir: string;
let storage: SqlStorage;
let operator: KeyPair;
let payer: KeyPair;
let channels: Map<string, ChannelView>;
let now: number;
const ACCOUNT = 'acct_' + 'ab'.repeat(16);
let chainDown = false;
const reader = {
  readChannel: async (a: Address) => {
    if (chainDown) throw new Error('chain unreachable');
    return channels.get(a.toRawString()) ?? null;
  },
};

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sealgate-billing-'));
  storage = await openLibsqlStorage(join(dir, 'g.db'));
  operator = key();
  payer = key();
  now = 1_000_000;
  chainDown = false;
  channels = new Map([
    [addr(1).toRawString(), { codeHash: Buffer.from(codeHashHex, 'hex'), state: 'open', disputeWindow: 86_400, paid: 0n, available: 1000n, payer: addr(9), payee: addr(7), payerPublicKey: payer.publicKey, payeePublicKey: operator.publicKey }],
  ]);
});
afterEach(async () => {
  await storage.close();
  rmSync(dir, { recursive: true, force: true });
});

const billing = (o: { clientCredit?: bigint } = {}) =>
  new Billing({ storage, chain: reader, operator: { address: addr(7), publicKey: operator.publicKey, secretKey: operator.secretKey }, now: () => now, ...o });

/** Counts receipts as one verified batch from worker wk_1 (the batch signature is checked by the route, not here). */
function record(b: Billing, receipts: Receipt[], payoutChannel: string | null = null, prices: Record<string, { prompt: string; completion: string }> = { m: { prompt: '2', completion: '3' } }) {
  return b.recordBatch({ v: 1, workerId: 'wk_1', receipts, sig: `sig-${seq++}`, body: '{}' }, { id: 'wk_1', prices: new Map(Object.entries(prices)), payoutChannel });
}

let seq = 0;
async function receipt(promptTokens: number, completionTokens: number, account = ACCOUNT): Promise<Receipt> {
  return signReceipt(
    {
      v: 1,
      requestId: `req_${seq++}`,
      workerId: 'wk_1',
      model: 'm',
      endpoint: 'chat.completions',
      promptTokens,
      completionTokens,
      requestDigest: '00',
      responseDigest: '00',
      time: 1,
      account,
      price: { prompt: '2', completion: '3' },
    },
    crypto.getRandomValues(new Uint8Array(32)),
  );
}

async function refusal(p: Promise<unknown>): Promise<ApiError> {
  const e = await p.then(
    () => null,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(ApiError);
  return e as ApiError;
}

const voucherBody = (cumulative: bigint, s: bigint, signer = payer, channel = addr(1)) => {
  const v = signVoucher({ channel, cumulative, seq: s }, signer.secretKey);
  return { cell: v.cell.toBoc().toString('base64'), signature: v.signature.toString('base64') };
};

describe('price caps', () => {
  it('parses `<prompt>,<completion>` and compares both parts', () => {
    expect(parsePriceCap(undefined)).toBeNull();
    expect(parsePriceCap(' 200 , 600 ')).toEqual({ prompt: 200n, completion: 600n });
    for (const bad of ['', '200', '1,2,3', '-1,2', '1.5,2', 'a,b', '1'.repeat(20) + ',1']) {
      expect(() => parsePriceCap(bad)).toThrow(ApiError);
    }
    const cap = { prompt: 200n, completion: 600n };
    expect(withinCap({ prompt: '200', completion: '600' }, cap)).toBe(true);
    expect(withinCap({ prompt: '201', completion: '1' }, cap)).toBe(false);
    expect(withinCap({ prompt: '1', completion: '601' }, cap)).toBe(false);
    expect(withinCap({ prompt: '9999', completion: '9999' }, null)).toBe(true);
  });
});

describe('ledger', () => {
  it('counts a receipt once, charges tokens × price, and rebuilds the sums from storage after a restart', async () => {
    const b = billing();
    const r = await receipt(10, 5);
    const first = await record(b, [r]);
    expect(first.stored.map((x) => [x.requestId, x.charge])).toEqual([[r.requestId, 35n]]);
    expect(await record(b, [r, await receipt(0, 1)])).toMatchObject({ duplicates: 1, refused: [] });
    await record(b, [await receipt(1, 1)], addr(5).toRawString());
    expect((await b.summary(ACCOUNT)).spent).toBe('43');
    const restarted = billing();
    expect((await restarted.summary(ACCOUNT)).spent).toBe('43');
    expect(await storage.payoutTotal(addr(5).toRawString())).toEqual({ total: 5n, receipts: 1 });
  });

  it('refuses, one by one, receipts for another worker, without an account, at another price or charging over 10^18 nanoton', async () => {
    const b = billing();
    const ok = await receipt(1, 1);
    const huge = await receipt(2 ** 40, 0);
    const out = await record(
      b,
      [
        ok,
        { ...(await receipt(1, 1)), workerId: 'wk_2' },
        await receipt(1, 1, ''),
        { ...(await receipt(1, 1)), price: { prompt: '3', completion: '3' } },
        { ...(await receipt(1, 1)), model: 'other' },
      ],
    );
    expect(out.stored.map((x) => x.requestId)).toEqual([ok.requestId]);
    expect(out.refused.map((x) => x.message)).toEqual([
      'receipt names another worker',
      'receipt names no account',
      "receipt's price is not the worker's registered price for its model",
      "receipt's price is not the worker's registered price for its model",
    ]);
    const over = await record(b, [{ ...huge, model: 'big', price: { prompt: '10000000000', completion: '0' } }], null, { big: { prompt: '10000000000', completion: '0' } });
    expect(over.refused).toEqual([{ requestId: huge.requestId, message: 'receipt charges more than 10^18 nanoton' }]);
    expect((await b.summary(ACCOUNT)).spent).toBe('5');
  });
});

describe('balances', () => {
  it('refuses an account without deposits and serves it once a bound channel covers its usage', async () => {
    const b = billing();
    expect((await refusal(b.admit(ACCOUNT))).code).toBe('insufficient_quota');
    await b.bindDeposit(ACCOUNT, addr(1).toString());
    await b.admit(ACCOUNT);
    await record(b, [await receipt(300, 134)]); // 600 + 402 = 1002 > 1000
    const e = await refusal(b.admit(ACCOUNT));
    expect(e.status).toBe(429);
    expect(e.headers()['x-should-retry']).toBe('false');
    // A top-up on chain counts as soon as the refusal re-reads it (at most once a second).
    channels.get(addr(1).toRawString())!.available = 2000n;
    now += 1001;
    await b.admit(ACCOUNT);
  });

  it('serves from a recent deposit reading while the chain is unreachable, but not from a stale one', async () => {
    const b = billing();
    await b.bindDeposit(ACCOUNT, addr(1).toString());
    await b.admit(ACCOUNT);
    chainDown = true;
    now += 50_000; // older than the 10 s refresh: served, a background refresh fails quietly
    await b.admit(ACCOUNT);
    now += 20_000; // older than six refresh periods: the gateway must read the chain again, and cannot
    const e = await refusal(b.admit(ACCOUNT));
    expect([e.status, e.code]).toEqual([503, 'billing_unavailable']);
    chainDown = false;
    await b.admit(ACCOUNT);
  });

  it('refuses usage beyond the client credit until a voucher covers it', async () => {
    const b = billing({ clientCredit: 10n });
    await b.bindDeposit(ACCOUNT, addr(1).toString());
    await record(b, [await receipt(3, 2)]); // 12
    expect((await refusal(b.admit(ACCOUNT))).message).toContain('voucher');
    await b.acceptVoucher(ACCOUNT, voucherBody(12n, 1n));
    await b.admit(ACCOUNT);
  });

  it('binds only open channels that pay the operator, each to one account', async () => {
    const b = billing();
    channels.set(addr(2).toRawString(), { ...channels.get(addr(1).toRawString())!, payee: addr(8) });
    channels.set(addr(3).toRawString(), { ...channels.get(addr(1).toRawString())!, payeePublicKey: key().publicKey });
    channels.set(addr(4).toRawString(), { ...channels.get(addr(1).toRawString())!, state: 'closing' });
    // Any contract can answer the get methods; only the payment channel's code is believed.
    channels.set(addr(6).toRawString(), { ...channels.get(addr(1).toRawString())!, codeHash: Buffer.alloc(32, 1) });
    expect((await refusal(b.bindDeposit(ACCOUNT, addr(6).toString()))).code).toBe('not_a_payment_channel');
    channels.set(addr(6).toRawString(), { ...channels.get(addr(1).toRawString())!, disputeWindow: 3600 });
    expect((await refusal(b.bindDeposit(ACCOUNT, addr(6).toString()))).code).toBe('dispute_window_too_short');
    channels.delete(addr(6).toRawString());
    expect((await refusal(b.bindDeposit(ACCOUNT, addr(2).toString()))).code).toBe('wrong_payee');
    expect((await refusal(b.bindDeposit(ACCOUNT, addr(3).toString()))).code).toBe('wrong_payee');
    expect((await refusal(b.bindDeposit(ACCOUNT, addr(4).toString()))).code).toBe('channel_not_open');
    expect((await refusal(b.bindDeposit(ACCOUNT, addr(6).toString()))).code).toBe('channel_not_found');
    expect((await refusal(b.bindDeposit(ACCOUNT, 'not an address'))).code).toBe('invalid_address');
    await b.bindDeposit(ACCOUNT, addr(1).toString());
    expect((await refusal(b.bindDeposit('acct_' + 'cd'.repeat(16), addr(1).toString()))).code).toBe('channel_taken');
  });

  it('takes only vouchers signed by the channel payer, for a bound channel, newer, and not above usage', async () => {
    const b = billing();
    await b.bindDeposit(ACCOUNT, addr(1).toString());
    await record(b, [await receipt(10, 10)]); // 50
    expect((await refusal(b.acceptVoucher(ACCOUNT, voucherBody(50n, 1n, key())))).code).toBe('invalid_voucher');
    expect((await refusal(b.acceptVoucher(ACCOUNT, voucherBody(50n, 1n, payer, addr(2))))).code).toBe('channel_not_bound');
    expect((await refusal(b.acceptVoucher(ACCOUNT, voucherBody(51n, 1n)))).code).toBe('voucher_exceeds_usage');
    expect((await refusal(b.acceptVoucher(ACCOUNT, { cell: 'AAAA', signature: '' }))).code).toBe('invalid_voucher');
    const tampered = voucherBody(40n, 1n);
    tampered.signature = Buffer.from(Buffer.from(tampered.signature, 'base64').map((x, i) => (i === 0 ? x ^ 1 : x))).toString('base64');
    expect((await refusal(b.acceptVoucher(ACCOUNT, tampered))).code).toBe('invalid_voucher');
    expect((await b.acceptVoucher(ACCOUNT, voucherBody(40n, 2n))).vouchered).toBe('40');
    expect((await refusal(b.acceptVoucher(ACCOUNT, voucherBody(45n, 2n)))).code).toBe('stale_voucher');
    expect((await refusal(b.acceptVoucher(ACCOUNT, voucherBody(30n, 3n)))).code).toBe('stale_voucher');
    expect((await b.acceptVoucher(ACCOUNT, voucherBody(50n, 3n))).vouchered).toBe('50');
  });
});

describe('payout vouchers', () => {
  it('signs the receipts sum for a payout channel with a seq that grows with them, verifiable on chain terms', async () => {
    const b = billing();
    const ch = addr(5).toRawString();
    expect((await refusal(b.payoutVoucher(ch))).status).toBe(404);
    await record(b, [await receipt(10, 0)], ch);
    await record(b, [await receipt(0, 10, 'acct_' + 'cd'.repeat(16))], ch);
    await record(b, [await receipt(100, 100)], addr(6).toRawString());
    const v = await b.payoutVoucher(addr(5).toString());
    expect(v).toMatchObject({ channel: ch, cumulative: '50', seq: '2', receipts: 2 });
    const parsed = verifyVoucher({ cell: Cell.fromBoc(Buffer.from(v.cell, 'base64'))[0]!, signature: Buffer.from(v.signature, 'base64') }, addr(5), operator.publicKey);
    expect(parsed!.channel.equals(addr(5))).toBe(true);
    expect([parsed!.cumulative, parsed!.seq]).toEqual([50n, 2n]);
    await record(b, [await receipt(1, 0)], ch);
    expect(await b.payoutVoucher(ch)).toMatchObject({ cumulative: '52', seq: '3' });
  });

  it('accepts a payout channel only when the operator pays it', async () => {
    const b = billing();
    channels.set(addr(5).toRawString(), { codeHash: Buffer.from(codeHashHex, 'hex'), state: 'open', disputeWindow: 0, paid: 0n, available: 10n, payer: addr(7), payee: addr(9), payerPublicKey: operator.publicKey, payeePublicKey: payer.publicKey });
    await b.checkPayoutChannel(addr(5).toRawString());
    expect((await refusal(b.checkPayoutChannel(addr(1).toRawString()))).code).toBe('wrong_payer');
  });
});

describe('storage migration', () => {
  it('adds the billing columns to a file made before them, keeping its rows', async () => {
    const path = join(dir, 'old.db');
    const db = createClient({ url: `file:${path}` });
    await db.execute(`CREATE TABLE receipts (
      worker_id TEXT NOT NULL, request_id TEXT NOT NULL, model TEXT NOT NULL, endpoint TEXT NOT NULL,
      prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL, request_digest TEXT NOT NULL,
      response_digest TEXT NOT NULL, time INTEGER NOT NULL, sig TEXT NOT NULL, PRIMARY KEY (worker_id, request_id))`);
    await db.execute(`INSERT INTO receipts VALUES ('wk_1', 'req_old', 'm', 'chat.completions', 1, 1, '00', '00', 1, 's')`);
    db.close();
    const migrated = await openLibsqlStorage(path);
    const [old] = await migrated.listReceipts(10);
    expect(old).toMatchObject({ requestId: 'req_old', account: '', charge: 0n, price: { prompt: '0', completion: '0' } });
    await migrated.close();
  });
});
