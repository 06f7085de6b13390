/**
 * contracts/chain against a real HTTP toncenter v2 (test/ton-sandbox-server.ts) backed by @ton/sandbox:
 * the real TonClient over loopback, real WalletContractV4s deployed from generated keys, the compiled
 * payment channel. Balances are checked to the nanoton against the sandbox's transactions.
 */
import { randomBytes } from 'node:crypto';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Blockchain, type BlockchainTransaction, type SandboxContract, type TreasuryContract } from '@ton/sandbox';
import { Address, toNano, type Cell, type Message } from '@ton/core';
import { keyPairFromSeed, type KeyPair } from '@ton/crypto';
import { compileContract } from '../compile.ts';
import { codeHashHex } from '../build/payment-channel.ts';
import {
  ChannelError,
  CLOSED_RESERVE,
  claimBody,
  finishCloseBody,
  Op,
  PaymentChannel,
  signVoucher,
  startCloseBody,
  type PaymentChannelConfig,
} from '../wrappers/PaymentChannel.ts';
import { startTonSandboxServer, type TonSandboxServer } from '../../test/ton-sandbox-server.ts';
import { ChainError, claimOnChain, DEFAULT_GAS_VALUE, depositOnChain, openTonChain, type ChannelOnChain, type TonChain } from './index.ts';

const T0 = 1_800_000_000;
const FEE_BPS = 250;
const WINDOW = 3600;

let code: Cell;
let blockchain: Blockchain;
let server: TonSandboxServer;
let chain: TonChain;
let treasury: SandboxContract<TreasuryContract>;
let payerKey: KeyPair;
let payeeKey: KeyPair;
let config: PaymentChannelConfig;
let channelAddress: Address;
let fundedLt: bigint;
const feeRecipient = new Address(0, randomBytes(32));

const newKey = (): KeyPair => keyPairFromSeed(randomBytes(32));
const randomU64 = (): bigint => randomBytes(8).readBigUInt64BE();

/** Transactions of `address` whose logical time is above `sinceLt`, oldest first. */
async function txsSince(address: Address, sinceLt: bigint): Promise<BlockchainTransaction[]> {
  return (await blockchain.getTransactions(address)).filter((t) => t.lt > sinceLt).reverse();
}

function computeOf(tx: BlockchainTransaction): { success: boolean; exitCode: number } {
  const d = tx.description;
  if (d.type !== 'generic' || d.computePhase.type !== 'vm') return { success: false, exitCode: -1 };
  return { success: d.computePhase.success && !d.aborted, exitCode: d.computePhase.exitCode };
}

function valueOf(m: Message): bigint {
  if (m.info.type !== 'internal') throw new Error('not an internal message');
  return m.info.value.coins;
}

function fwdFeeOf(m: Message): bigint {
  if (m.info.type !== 'internal') throw new Error('not an internal message');
  return m.info.forwardFee;
}

/** What a transaction cost its account: total fees + the forward fees its out messages carry. */
function costOf(tx: BlockchainTransaction): bigint {
  return tx.totalFees.coins + tx.outMessages.values().reduce((s, m) => s + fwdFeeOf(m), 0n);
}

function opOf(m: Message): number {
  const s = m.body.beginParse();
  return s.remainingBits >= 32 ? s.loadUint(32) : -1;
}

/** A ChannelOnChain with its addresses as raw strings (Address objects carry caches). */
function plain(c: ChannelOnChain) {
  return { ...c, address: c.address.toRawString(), payer: c.payer.toRawString(), payee: c.payee.toRawString(), feeRecipient: c.feeRecipient?.toRawString() ?? null };
}

async function expectChainError(p: Promise<unknown>, code: string): Promise<ChainError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ChainError);
  expect((e as ChainError).code).toBe(code);
  return e as ChainError;
}

beforeAll(async () => {
  code = (await compileContract('payment-channel')).code;
  blockchain = await Blockchain.create();
  blockchain.now = T0;
  server = await startTonSandboxServer(blockchain);
  chain = openTonChain({ endpoint: server.url, pollIntervalMs: 20, confirmTimeoutMs: 5_000, requestTimeoutMs: 5_000 });
  treasury = await blockchain.treasury('funder');
  payerKey = newKey();
  payeeKey = newKey();
  // fund the (not yet deployed) wallets: non-bounceable, as one funds a fresh address
  await treasury.send({ to: chain.walletAddress(payerKey.publicKey), value: toNano('100'), bounce: false });
  await treasury.send({ to: chain.walletAddress(payeeKey.publicKey), value: toNano('5'), bounce: false });
  config = {
    channelId: randomU64(),
    payer: chain.walletAddress(payerKey.publicKey),
    payee: chain.walletAddress(payeeKey.publicKey),
    payerPublicKey: payerKey.publicKey,
    payeePublicKey: payeeKey.publicKey,
    feeRecipient,
    feeBps: FEE_BPS,
    disputeWindow: WINDOW,
  };
  channelAddress = PaymentChannel.fromInit(config, code).address;
  fundedLt = blockchain.lt;
});

afterAll(async () => {
  await server?.close();
});

describe('contracts/chain over a loopback toncenter', () => {
  it('funded wallets are uninitialised until their first send; balances read through the API', async () => {
    const payerWallet = await blockchain.getContract(config.payer);
    expect(payerWallet.accountState?.type).toBe('uninit');
    expect(await chain.balance(config.payer)).toBe(payerWallet.balance);
    expect(await chain.balance(config.payer)).toBe(toNano('100'));
    expect(await chain.readChannel(config.payer)).toBeNull();
  });

  it('depositOnChain deploys the payer wallet and the channel; readChannel returns every field', async () => {
    const value = toNano('10');
    const before = await chain.balance(config.payer);
    const c = await depositOnChain(chain, payerKey, config, value, code, { pollIntervalMs: 20, timeoutMs: 5_000 });
    expect(c.address.equals(channelAddress)).toBe(true);
    expect((await blockchain.getContract(config.payer)).accountState?.type).toBe('active');

    const [walletTx, ...walletRest] = await txsSince(config.payer, fundedLt);
    expect(walletRest).toHaveLength(0);
    expect(walletTx!.inMessage!.info.type).toBe('external-in');
    expect(walletTx!.inMessage!.init).toBeTruthy(); // the wallet deployed itself with this message
    const [channelTx, ...channelRest] = await txsSince(channelAddress, 0n);
    expect(channelRest).toHaveLength(0);
    expect(computeOf(channelTx!)).toEqual({ success: true, exitCode: 0 });
    expect(valueOf(channelTx!.inMessage!)).toBe(value);
    expect(channelTx!.outMessagesCount).toBe(0);

    const funds = value - channelTx!.totalFees.coins;
    expect(await chain.balance(config.payer)).toBe(before - value - costOf(walletTx!));

    const read = await chain.readChannel(channelAddress);
    expect(read).not.toBeNull();
    const r = read!;
    expect(r.address.equals(channelAddress)).toBe(true);
    expect(r.codeHash.equals(code.hash())).toBe(true);
    expect(r.codeHash.toString('hex')).toBe(codeHashHex);
    expect(r.state).toBe('open');
    expect(r.lastSeq).toBe(0n);
    expect(r.paid).toBe(0n);
    expect(r.closeStartedAt).toBe(0);
    expect(r.closeDeadline).toBe(0);
    expect(r.funds).toBe(funds);
    expect(r.funds).toBe((await blockchain.getContract(channelAddress)).balance);
    expect(r.available).toBe(funds - CLOSED_RESERVE);
    expect(r.channelId).toBe(config.channelId);
    expect(r.payerPublicKey.equals(payerKey.publicKey)).toBe(true);
    expect(r.payeePublicKey.equals(payeeKey.publicKey)).toBe(true);
    expect(r.feeBps).toBe(FEE_BPS);
    expect(r.disputeWindow).toBe(WINDOW);
    expect(r.payer.equals(config.payer)).toBe(true);
    expect(r.payee.equals(config.payee)).toBe(true);
    expect(r.feeRecipient!.equals(feeRecipient)).toBe(true);
    expect(plain(c)).toEqual(plain(r));

    // a second deposit tops up (no StateInit), through the deployed wallet's next seqno
    const lt = blockchain.lt;
    const top = await depositOnChain(chain, payerKey, config, toNano('1'), code, { pollIntervalMs: 20, timeoutMs: 5_000 });
    const [topTx] = await txsSince(channelAddress, lt);
    expect(topTx!.inMessage!.init ?? null).toBeNull();
    expect(top.funds).toBe(funds + toNano('1') - topTx!.totalFees.coins);
  });

  it('claimOnChain pays the payee exactly the voucher amount minus the fee share plus the unspent gas', async () => {
    const c0 = (await chain.readChannel(channelAddress))!;
    const payeeBefore = await chain.balance(config.payee);
    const cumulative = toNano('1.234567891');
    const voucher = signVoucher({ channel: channelAddress, cumulative, seq: 1n }, payerKey.secretKey);
    const lt = blockchain.lt;

    const { claimed, channel } = await claimOnChain(chain, payeeKey, channelAddress, voucher, DEFAULT_GAS_VALUE, { pollIntervalMs: 20, timeoutMs: 5_000 });
    expect(claimed).toBe(cumulative);
    const fee = (cumulative * BigInt(FEE_BPS)) / 10000n;

    // payee wallet: the external (deploys it and sends the claim), then the payout coming back
    const [extTx, payoutTx, ...more] = await txsSince(config.payee, lt);
    expect(more).toHaveLength(0);
    expect(extTx!.inMessage!.info.type).toBe('external-in');
    expect(extTx!.inMessage!.init).toBeTruthy();
    const claimMsg = extTx!.outMessages.get(0)!;
    expect(valueOf(claimMsg)).toBe(DEFAULT_GAS_VALUE);
    expect(opOf(claimMsg)).toBe(Op.claim);

    const [channelTx, ...channelMore] = await txsSince(channelAddress, lt);
    expect(channelMore).toHaveLength(0);
    expect(computeOf(channelTx!)).toEqual({ success: true, exitCode: 0 });
    const outs = channelTx!.outMessages.values();
    const feeMsg = outs.find((m) => opOf(m) === Op.feePayout)!;
    const payoutMsg = outs.find((m) => opOf(m) === Op.payout)!;
    expect(outs).toHaveLength(2);
    expect(valueOf(feeMsg)).toBe(fee);
    // the unspent part of the attached gas: what the channel transaction did not spend
    const gasExcess = DEFAULT_GAS_VALUE - costOf(channelTx!);
    expect(valueOf(payoutMsg)).toBe(cumulative - fee + gasExcess);
    expect(payoutTx!.inMessage!.body.hash().equals(payoutMsg.body.hash())).toBe(true);
    expect(valueOf(payoutTx!.inMessage!)).toBe(valueOf(payoutMsg));

    // the payee's balance: + payout - what its own two transactions cost - the gas it attached
    expect(await chain.balance(config.payee)).toBe(
      payeeBefore + valueOf(payoutMsg) - costOf(payoutTx!) - DEFAULT_GAS_VALUE - costOf(extTx!),
    );
    // the fee recipient (a fresh address) got exactly the fee share
    const [feeTx] = await txsSince(feeRecipient, lt);
    expect(await chain.balance(feeRecipient)).toBe(fee - feeTx!.totalFees.coins);
    // the channel paid exactly the voucher's amount, nothing of its gas
    expect(channel.funds).toBe(c0.funds - cumulative);
    expect(channel.paid).toBe(cumulative);
    expect(channel.lastSeq).toBe(1n);
    expect(channel.available).toBe(c0.funds - cumulative - CLOSED_RESERVE);
  });

  it('a stale voucher is refused before sending, and by the contract when sent anyway; no funds move', async () => {
    const c0 = (await chain.readChannel(channelAddress))!;
    const payeeBefore = await chain.balance(config.payee);
    const stale = signVoucher({ channel: channelAddress, cumulative: toNano('0.5'), seq: 1n }, payerKey.secretKey);
    const lt = blockchain.lt;

    await expectChainError(claimOnChain(chain, payeeKey, channelAddress, stale), 'STALE_VOUCHER');
    expect(blockchain.lt).toBe(lt); // nothing was sent
    expect(await chain.balance(config.payee)).toBe(payeeBefore);

    // sent raw from the payee's wallet: the channel throws 106 and the claim bounces
    await chain.sendFromWallet(payeeKey, { to: channelAddress, value: DEFAULT_GAS_VALUE, body: claimBody(stale) });
    const [channelTx, ...more] = await txsSince(channelAddress, lt);
    expect(more).toHaveLength(0);
    expect(computeOf(channelTx!)).toEqual({ success: false, exitCode: ChannelError.staleSeq });
    const c1 = (await chain.readChannel(channelAddress))!;
    expect(c1.funds).toBe(c0.funds);
    expect(c1.paid).toBe(c0.paid);
    expect(c1.lastSeq).toBe(c0.lastSeq);
    expect(c1.available).toBe(c0.available);
    // the payee only lost the fees of sending and of the bounce
    const [extTx, bounceTx] = await txsSince(config.payee, lt);
    const bounced = channelTx!.outMessages.get(0)!;
    expect(bounced.info.type === 'internal' && bounced.info.bounced).toBe(true);
    expect(await chain.balance(config.payee)).toBe(
      payeeBefore - DEFAULT_GAS_VALUE - costOf(extTx!) + valueOf(bounced) - costOf(bounceTx!),
    );
  });

  it('claimOnChain refuses a voucher of another payer, of another channel, and a wrong wallet', async () => {
    const other = newKey();
    const forged = signVoucher({ channel: channelAddress, cumulative: toNano('2'), seq: 2n }, other.secretKey);
    await expectChainError(claimOnChain(chain, payeeKey, channelAddress, forged), 'INVALID_VOUCHER');
    const elsewhere = signVoucher({ channel: feeRecipient, cumulative: toNano('2'), seq: 2n }, payerKey.secretKey);
    await expectChainError(claimOnChain(chain, payeeKey, channelAddress, elsewhere), 'INVALID_VOUCHER');
    const ok = signVoucher({ channel: channelAddress, cumulative: toNano('2'), seq: 2n }, payerKey.secretKey);
    await expectChainError(claimOnChain(chain, payerKey, channelAddress, ok), 'WALLET_MISMATCH');
    const tooMuch = signVoucher({ channel: channelAddress, cumulative: toNano('1000'), seq: 2n }, payerKey.secretKey);
    await expectChainError(claimOnChain(chain, payeeKey, channelAddress, tooMuch), 'INSUFFICIENT_CHANNEL_FUNDS');
    await expectChainError(depositOnChain(chain, payeeKey, config, toNano('1'), code), 'WALLET_MISMATCH');
  });

  it('readChannel: null for an uninitialised address, NOT_A_CHANNEL for an active non-channel', async () => {
    expect(await chain.readChannel(new Address(0, randomBytes(32)))).toBeNull();
    await expectChainError(chain.readChannel(config.payer), 'NOT_A_CHANNEL');
  });

  it('sendFromWallet: an empty wallet gives INSUFFICIENT_BALANCE; a refused external gives CHAIN_REJECTED', async () => {
    const empty = newKey();
    await expectChainError(chain.sendFromWallet(empty, { to: feeRecipient, value: toNano('1') }), 'INSUFFICIENT_BALANCE');
    // a message valid until a time already past: the wallet does not accept it, toncenter answers 500
    const late = openTonChain({ endpoint: server.url, messageTtlSeconds: -10, pollIntervalMs: 20, confirmTimeoutMs: 1_000 });
    const e = await expectChainError(late.sendFromWallet(payerKey, { to: feeRecipient, value: toNano('0.1') }), 'CHAIN_REJECTED');
    expect(e.status).toBe(500);
  });

  it('an unreachable endpoint gives CHAIN_UNAVAILABLE', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const down = openTonChain({ endpoint: `http://127.0.0.1:${port}/api/v2/jsonRPC`, requestTimeoutMs: 2_000 });
    const e = await expectChainError(down.readChannel(channelAddress), 'CHAIN_UNAVAILABLE');
    expect(e.retryable).toBe(true);
    await expectChainError(down.balance(channelAddress), 'CHAIN_UNAVAILABLE');
    await expectChainError(down.sendFromWallet(payerKey, { to: feeRecipient, value: 1n }), 'CHAIN_UNAVAILABLE');
  });
});

describe('rate limits', () => {
  it('a 429 answer is retried; past the retries it is CHAIN_UNAVAILABLE with status 429', async () => {
    // a front that answers 429 to the first `limited` requests, then forwards to the sandbox server
    let limited = 2;
    const front = createHttpServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (limited > 0) {
          limited--;
          res.writeHead(429, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: false, error: 'Ratelimit exceeded', code: 429 }));
          return;
        }
        fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.concat(chunks) })
          .then(async (r) => res.writeHead(r.status, { 'content-type': 'application/json' }).end(await r.text()))
          .catch(() => res.destroy());
      });
    });
    await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(front.address() as { port: number }).port}/api/v2/jsonRPC`;
    try {
      const patient = openTonChain({ endpoint: url, rateLimitDelayMs: 5 });
      expect(await patient.balance(config.payer)).toBe((await blockchain.getContract(config.payer)).balance);
      limited = 2;
      const hasty = openTonChain({ endpoint: url, rateLimitRetries: 1, rateLimitDelayMs: 5 });
      const e = await expectChainError(hasty.balance(config.payer), 'CHAIN_UNAVAILABLE');
      expect(e.status).toBe(429);
    } finally {
      front.closeAllConnections();
      await new Promise((resolve) => front.close(resolve));
    }
  });
});

describe('ton-sandbox-server', () => {
  it('requires the API key when configured, and TonChain sends it', async () => {
    const keyed = await startTonSandboxServer(blockchain, { apiKey: 'k-123' });
    try {
      await expectChainError(openTonChain({ endpoint: keyed.url }).balance(config.payer), 'CHAIN_UNAUTHORIZED');
      expect(await openTonChain({ endpoint: keyed.url, apiKey: 'k-123' }).balance(config.payer)).toBe(
        (await blockchain.getContract(config.payer)).balance,
      );
    } finally {
      await keyed.close();
    }
  });

  it('answers unknown methods and bad requests with toncenter-style JSON errors', async () => {
    const post = async (body: string) => {
      const r = await fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      return { status: r.status, json: (await r.json()) as { ok: boolean; error?: string; code?: number; id?: unknown; result?: unknown } };
    };
    const unknown = await post(JSON.stringify({ id: '7', jsonrpc: '2.0', method: 'getBlockHeader', params: {} }));
    expect(unknown.status).toBe(404);
    expect(unknown.json).toMatchObject({ ok: false, code: 404, id: '7' });
    expect(unknown.json.error).toMatch(/method not found: "getBlockHeader"/);
    expect((await post('{not json')).status).toBe(400);
    const noAddress = await post(JSON.stringify({ id: '1', jsonrpc: '2.0', method: 'getAddressBalance', params: {} }));
    expect(noAddress).toMatchObject({ status: 422, json: { ok: false, code: 422 } });
    const bal = await post(JSON.stringify({ id: '2', jsonrpc: '2.0', method: 'getAddressBalance', params: { address: config.payer.toString() } }));
    expect(bal).toMatchObject({ status: 200, json: { ok: true, result: (await blockchain.getContract(config.payer)).balance.toString() } });
    const state = await post(JSON.stringify({ id: '3', jsonrpc: '2.0', method: 'getAddressState', params: { address: feeRecipient.toRawString() } }));
    expect(state.json.result).toBe('uninitialized');
    // a get method with arguments (the stack as TonClient serializes it), and on an uninit account
    const seqno = await post(JSON.stringify({ id: '4', jsonrpc: '2.0', method: 'runGetMethod', params: { address: config.payer.toString(), method: 'seqno', stack: [] } }));
    expect(seqno.json.result).toMatchObject({ exit_code: 0, stack: [['num', '0x2']] });
    const uninit = await post(JSON.stringify({ id: '5', jsonrpc: '2.0', method: 'runGetMethod', params: { address: feeRecipient.toString(), method: 'seqno', stack: [] } }));
    expect(uninit.json.result).toMatchObject({ exit_code: -13, stack: [] });
    const getFailed = await post(
      JSON.stringify({ id: '6', jsonrpc: '2.0', method: 'runGetMethod', params: { address: config.payer.toString(), method: 'channelState', stack: [['num', '1']] } }),
    );
    expect(getFailed.status).toBe(200);
    expect((getFailed.json.result as { exit_code: number }).exit_code).not.toBe(0);
  });
});

describe('time', () => {
  it('follows blockchain.now: a close started through the API, then the dispute window passes', async () => {
    await chain.sendFromWallet(payerKey, { to: channelAddress, value: DEFAULT_GAS_VALUE, body: startCloseBody() });
    const closing = (await chain.readChannel(channelAddress))!;
    expect(closing.state).toBe('closing');
    expect(closing.closeStartedAt).toBe(T0);
    expect(closing.closeDeadline).toBe(T0 + WINDOW);
    expect(closing.available).toBe(closing.funds - CLOSED_RESERVE);

    blockchain.now = T0 + WINDOW; // the window is over (claims need now < deadline)
    const late = signVoucher({ channel: channelAddress, cumulative: toNano('2'), seq: 2n }, payerKey.secretKey);
    await expectChainError(claimOnChain(chain, payeeKey, channelAddress, late), 'CHANNEL_NOT_OPEN');
    // wallet messages are signed valid-until chain time, so they still go through after the jump
    const lt = blockchain.lt;
    await chain.sendFromWallet(payerKey, { to: channelAddress, value: DEFAULT_GAS_VALUE, body: finishCloseBody() });
    const [finishTx] = await txsSince(channelAddress, lt);
    expect(computeOf(finishTx!)).toEqual({ success: true, exitCode: 0 });
    const closed = (await chain.readChannel(channelAddress))!;
    expect(closed.state).toBe('closed');
    expect(closed.available).toBe(0n);
    expect(closed.funds).toBe(CLOSED_RESERVE);
    await expectChainError(depositOnChain(chain, payerKey, config, toNano('1'), code), 'CHANNEL_NOT_OPEN');
  });
});
