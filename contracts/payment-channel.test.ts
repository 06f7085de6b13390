/**
 * Sandbox tests for contracts/payment-channel.tolk.
 *
 * Every value check is exact to the nanoton: the channel's balance is compared with what it held
 * before, minus exactly what the path must pay out, minus the storage fee the transaction collected
 * (0 unless time was advanced); outgoing values are checked against the transaction's own fees
 * (value in = value out + fees, with `fees` = total fees + the forward fees carried by out messages).
 *
 * Gas (compute phase) per operation is collected in `gas` and printed at the end; bench/RESULTS.md
 * ("TON payment channel gas") records the numbers from `npx vitest run contracts/payment-channel.test.ts`.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Blockchain, type BlockchainTransaction, type SandboxContract, type TreasuryContract } from '@ton/sandbox';
import { Address, beginCell, Cell, contractAddress, toNano, type Message } from '@ton/core';
import { keyPairFromSeed, type KeyPair } from '@ton/crypto';
import { compileContract } from './compile.ts';
import {
  ChannelError,
  ChannelState,
  CLOSED_RESERVE,
  closeAgreementCell,
  DEFAULT_GAS_VALUE,
  Op,
  PaymentChannel,
  signCloseAgreement,
  signVoucher,
  topUpBody,
  verifyVoucher,
  voucherCell,
  type PaymentChannelConfig,
} from './wrappers/PaymentChannel.ts';

const T0 = 1_800_000_000;
const WINDOW = 3600;
const FEE_BPS = 250; // 2.5 %

let code: Cell;
interface GasRow {
  gasUsed: bigint;
  computeFee: bigint;
  /** compute + action fees + forward fees of the messages it sent (or of the bounce) */
  txFees: bigint;
}
const gas = new Map<string, GasRow>();

beforeAll(async () => {
  code = (await compileContract('payment-channel')).code;
});

const ton = (n: bigint): string => {
  const s = n.toString().padStart(10, '0');
  return `${s.slice(0, -9)}.${s.slice(-9)}`.replace(/0+$/, '').replace(/\.$/, '');
};

afterAll(() => {
  const rows = [...gas.entries()].map(([op, g]) => `| ${op} | ${g.gasUsed} | ${ton(g.computeFee)} | ${ton(g.txFees)} |`);
  console.log(
    [
      'payment-channel gas (compute phase of the channel transaction; basechain gas price 400 nanoton/gas)',
      '| operation | gas used | compute fee (TON) | channel tx fees incl. forward fees (TON) |',
      '|---|---|---|---|',
      ...rows,
    ].join('\n'),
  );
});

// ---------------------------------------------------------------------------------------------
// helpers

interface Compute {
  success: boolean;
  exitCode: number;
  gasUsed: bigint;
}

function compute(tx: BlockchainTransaction): Compute {
  const d = tx.description;
  if (d.type !== 'generic') throw new Error(`unexpected transaction type ${d.type}`);
  if (d.computePhase.type !== 'vm') return { success: false, exitCode: -1, gasUsed: 0n };
  return { success: d.computePhase.success && !d.aborted, exitCode: d.computePhase.exitCode, gasUsed: d.computePhase.gasUsed };
}

function storageFee(tx: BlockchainTransaction): bigint {
  const d = tx.description;
  return d.type === 'generic' ? (d.storagePhase?.storageFeesCollected ?? 0n) : 0n;
}

/** The single transaction executed on `addr` in `txs` (throws if none or several). */
function txOn(txs: BlockchainTransaction[], addr: Address): BlockchainTransaction {
  const found = txs.filter((t) => t.inMessage?.info.dest instanceof Address && t.inMessage.info.dest.equals(addr));
  if (found.length !== 1) throw new Error(`expected one transaction on ${addr.toString()}, got ${found.length}`);
  return found[0]!;
}

interface Out {
  dest: Address;
  value: bigint;
  fwdFee: bigint;
  bounce: boolean;
  op: number | null;
}

function outs(tx: BlockchainTransaction): Out[] {
  return tx.outMessages.values().map((m: Message) => {
    if (m.info.type !== 'internal') throw new Error('unexpected external out message');
    const s = m.body.beginParse();
    return {
      dest: m.info.dest,
      value: m.info.value.coins,
      fwdFee: m.info.forwardFee,
      bounce: m.info.bounce,
      op: s.remainingBits >= 32 ? s.loadUint(32) : null,
    };
  });
}

function inValue(tx: BlockchainTransaction): bigint {
  const info = tx.inMessage?.info;
  if (info?.type !== 'internal') throw new Error('not an internal message');
  return info.value.coins;
}

/** Everything the transaction burnt or prepaid: total fees + forward fees carried by its out messages. */
function allFees(tx: BlockchainTransaction): bigint {
  return tx.totalFees.coins + outs(tx).reduce((a, o) => a + o.fwdFee, 0n);
}

function expectSuccess(tx: BlockchainTransaction): Compute {
  const c = compute(tx);
  expect({ exitCode: c.exitCode, success: c.success }).toEqual({ exitCode: 0, success: true });
  return c;
}

function expectFailure(tx: BlockchainTransaction, exitCode: number): void {
  const c = compute(tx);
  expect({ exitCode: c.exitCode, success: c.success }).toEqual({ exitCode, success: false });
}

/**
 * A failed transaction bounced the whole value back minus its gas and forward fees (the storage fee,
 * if any, is the channel's own and comes from its balance, not from the message).
 */
function expectBouncedBack(tx: BlockchainTransaction, sender: Address): void {
  const o = outs(tx);
  expect(o).toHaveLength(1);
  expect(o[0]!.dest.equals(sender)).toBe(true);
  expect(o[0]!.value).toBe(inValue(tx) - (allFees(tx) - storageFee(tx)));
}

function recordGas(name: string, tx: BlockchainTransaction): void {
  const d = tx.description;
  const computeFee = d.type === 'generic' && d.computePhase.type === 'vm' ? d.computePhase.gasFees : 0n;
  gas.set(name, { gasUsed: compute(tx).gasUsed, computeFee, txFees: allFees(tx) - storageFee(tx) });
}

interface World {
  bc: Blockchain;
  payer: SandboxContract<TreasuryContract>;
  payee: SandboxContract<TreasuryContract>;
  feeTo: SandboxContract<TreasuryContract>;
  stranger: SandboxContract<TreasuryContract>;
  payerKeys: KeyPair;
  payeeKeys: KeyPair;
  config: PaymentChannelConfig;
  channel: SandboxContract<PaymentChannel>;
}

async function world(opts: { feeBps?: number; withFee?: boolean; deposit?: bigint; channelId?: bigint } = {}): Promise<World> {
  const bc = await Blockchain.create();
  bc.now = T0;
  const payer = await bc.treasury('payer');
  const payee = await bc.treasury('payee');
  const feeTo = await bc.treasury('fee-recipient');
  const stranger = await bc.treasury('stranger');
  const payerKeys = keyPairFromSeed(Buffer.alloc(32, 0x11));
  const payeeKeys = keyPairFromSeed(Buffer.alloc(32, 0x22));
  const config: PaymentChannelConfig = {
    channelId: opts.channelId ?? 7n,
    payer: payer.address,
    payee: payee.address,
    payerPublicKey: payerKeys.publicKey,
    payeePublicKey: payeeKeys.publicKey,
    feeRecipient: opts.withFee ? feeTo.address : null,
    feeBps: opts.withFee ? (opts.feeBps ?? FEE_BPS) : 0,
    disputeWindow: WINDOW,
  };
  const channel = bc.openContract(PaymentChannel.fromInit(config, code));
  if (opts.deposit !== undefined) {
    const r = await channel.sendDeposit(payer.getSender(), opts.deposit);
    expectSuccess(txOn(r.transactions, channel.address));
  }
  return { bc, payer, payee, feeTo, stranger, payerKeys, payeeKeys, config, channel };
}

async function balanceOf(bc: Blockchain, addr: Address): Promise<bigint> {
  return (await bc.getContract(addr)).balance;
}

// ---------------------------------------------------------------------------------------------

describe('payment channel: deposit and top-up', () => {
  it('deposit deploys the channel; its balance is the value minus the deploy gas, to the nanoton', async () => {
    const w = await world();
    const value = toNano('2');
    const r = await w.channel.sendDeposit(w.payer.getSender(), value);
    const tx = txOn(r.transactions, w.channel.address);
    expectSuccess(tx);
    recordGas('deposit (deploy + TopUp)', tx);
    expect(outs(tx)).toHaveLength(0);
    expect(await balanceOf(w.bc, w.channel.address)).toBe(value - tx.totalFees.coins);
    const st = await w.channel.getChannelState();
    expect(st).toMatchObject({ state: ChannelState.open, lastSeq: 0n, paid: 0n, funds: value - tx.totalFees.coins });
    expect(st.available).toBe(value - tx.totalFees.coins - CLOSED_RESERVE);
    const cfg = await w.channel.getChannelConfig();
    expect(cfg.channelId).toBe(7n);
    expect(cfg.payer.equals(w.payer.address)).toBe(true);
    expect(cfg.payee.equals(w.payee.address)).toBe(true);
    expect(cfg.payerPublicKey.equals(w.payerKeys.publicKey)).toBe(true);
    expect(cfg.payeePublicKey.equals(w.payeeKeys.publicKey)).toBe(true);
    expect(cfg.feeRecipient).toBeNull();
    expect(cfg.disputeWindow).toBe(WINDOW);
  });

  it('top-up (op and plain transfer) adds value minus gas; strangers and a closing channel are refused and refunded', async () => {
    const w = await world({ deposit: toNano('1') });
    let before = await balanceOf(w.bc, w.channel.address);
    let r = await w.channel.sendTopUp(w.payer.getSender(), toNano('0.5'));
    let tx = txOn(r.transactions, w.channel.address);
    expectSuccess(tx);
    recordGas('top-up (TopUp op)', tx);
    expect(await balanceOf(w.bc, w.channel.address)).toBe(before + toNano('0.5') - tx.totalFees.coins);

    // a plain wallet transfer (empty body) from the payer is a top-up too
    before = await balanceOf(w.bc, w.channel.address);
    r = await w.payer.send({ to: w.channel.address, value: toNano('0.25'), bounce: true });
    tx = txOn(r.transactions, w.channel.address);
    expectSuccess(tx);
    recordGas('top-up (plain transfer)', tx);
    expect(await balanceOf(w.bc, w.channel.address)).toBe(before + toNano('0.25') - tx.totalFees.coins);

    // a stranger's top-up bounces back, the channel keeps exactly what it had
    before = await balanceOf(w.bc, w.channel.address);
    r = await w.channel.sendTopUp(w.stranger.getSender(), toNano('0.5'));
    tx = txOn(r.transactions, w.channel.address);
    expectFailure(tx, ChannelError.notPayer);
    expectBouncedBack(tx, w.stranger.address);
    expect(await balanceOf(w.bc, w.channel.address)).toBe(before);

    // an unknown op bounces
    r = await w.payer.send({ to: w.channel.address, value: toNano('0.05'), bounce: true, body: beginCell().storeUint(0x1234, 32).endCell() });
    tx = txOn(r.transactions, w.channel.address);
    expectFailure(tx, ChannelError.unknownOp);
    expectBouncedBack(tx, w.payer.address);

    // no top-up once closing
    await w.channel.sendStartClose(w.payer.getSender());
    before = await balanceOf(w.bc, w.channel.address);
    r = await w.channel.sendTopUp(w.payer.getSender(), toNano('0.5'));
    tx = txOn(r.transactions, w.channel.address);
    expectFailure(tx, ChannelError.notOpen);
    expectBouncedBack(tx, w.payer.address);
    expect(await balanceOf(w.bc, w.channel.address)).toBe(before);
  });

  it('a channel whose fee share exceeds 100 % cannot take a deposit', async () => {
    const w = await world();
    // the wrapper refuses it...
    expect(() => PaymentChannel.fromInit({ ...w.config, feeBps: 10001 }, code)).toThrow();
    // ...and so does the contract when the init data is built by hand
    const data = beginCell()
      .storeUint(0, 2)
      .storeUint(0, 64)
      .storeCoins(0)
      .storeUint(0, 32)
      .storeRef(
        beginCell()
          .storeUint(99n, 64)
          .storeBuffer(w.payerKeys.publicKey)
          .storeBuffer(w.payeeKeys.publicKey)
          .storeUint(10001, 16)
          .storeUint(WINDOW, 32)
          .storeRef(beginCell().storeAddress(w.payer.address).storeAddress(w.payee.address).storeAddress(w.feeTo.address).endCell())
          .endCell(),
      )
      .endCell();
    const init = { code, data };
    const addr = contractAddress(0, init);
    const r = await w.payer.send({ to: addr, value: toNano('1'), bounce: true, init, body: topUpBody() });
    const tx = txOn(r.transactions, addr);
    expectFailure(tx, ChannelError.badConfig);
    expectBouncedBack(tx, w.payer.address);
    // the account may be activated by the init, but it holds nothing
    expect(await balanceOf(w.bc, addr)).toBe(0n);
  });
});

describe('payment channel: claims', () => {
  it('the newest voucher pays (cumulative - paid); stale seq and stale amounts are rejected', async () => {
    const w = await world({ deposit: toNano('3') });
    const ch = w.channel.address;
    const v = (cumulative: string, seq: bigint) => signVoucher({ channel: ch, cumulative: toNano(cumulative), seq }, w.payerKeys.secretKey);

    // seq 2 pays 0.4 at once (vouchers need not be claimed in order, only the newest matters)
    let before = await balanceOf(w.bc, ch);
    let r = await w.channel.sendClaim(w.payee.getSender(), { voucher: v('0.4', 2n) });
    let tx = txOn(r.transactions, ch);
    expectSuccess(tx);
    recordGas('claim (no fee share)', tx);
    expect(await balanceOf(w.bc, ch)).toBe(before - toNano('0.4'));
    let o = outs(tx);
    expect(o).toHaveLength(1);
    expect(o[0]!.dest.equals(w.payee.address)).toBe(true);
    expect(o[0]!.op).toBe(Op.payout);
    expect(o[0]!.bounce).toBe(false);
    // payee gets the payout plus the unspent part of its 0.05 TON
    expect(o[0]!.value).toBe(toNano('0.4') + DEFAULT_GAS_VALUE - allFees(tx));
    expect(await w.channel.getChannelState()).toMatchObject({ lastSeq: 2n, paid: toNano('0.4') });

    // the same voucher again: stale seq
    before = await balanceOf(w.bc, ch);
    r = await w.channel.sendClaim(w.payee.getSender(), { voucher: v('0.4', 2n) });
    tx = txOn(r.transactions, ch);
    expectFailure(tx, ChannelError.staleSeq);
    expectBouncedBack(tx, w.payee.address);
    recordGas('claim rejected (stale seq)', tx);

    // an older voucher (seq 1), even with a larger amount: stale seq
    r = await w.channel.sendClaim(w.payee.getSender(), { voucher: v('0.9', 1n) });
    expectFailure(txOn(r.transactions, ch), ChannelError.staleSeq);

    // a newer seq that does not raise the cumulative amount: stale amount
    r = await w.channel.sendClaim(w.payee.getSender(), { voucher: v('0.4', 3n) });
    expectFailure(txOn(r.transactions, ch), ChannelError.staleAmount);
    r = await w.channel.sendClaim(w.payee.getSender(), { voucher: v('0.3', 4n) });
    expectFailure(txOn(r.transactions, ch), ChannelError.staleAmount);
    expect(await balanceOf(w.bc, ch)).toBe(before);

    // the next newer voucher pays only the difference
    r = await w.channel.sendClaim(w.payee.getSender(), { voucher: v('1.1', 9n) });
    tx = txOn(r.transactions, ch);
    expectSuccess(tx);
    expect(await balanceOf(w.bc, ch)).toBe(before - toNano('0.7'));
    expect(outs(tx)[0]!.value).toBe(toNano('0.7') + DEFAULT_GAS_VALUE - allFees(tx));
    expect(await w.channel.getChannelState()).toMatchObject({ lastSeq: 9n, paid: toNano('1.1') });
  });

  it('a voucher above what the channel holds (minus the closed reserve) is rejected, the exact maximum pays', async () => {
    const w = await world({ deposit: toNano('1') });
    const ch = w.channel.address;
    const { available } = await w.channel.getChannelState();
    let r = await w.channel.sendClaim(w.payee.getSender(), {
      voucher: signVoucher({ channel: ch, cumulative: available + 1n, seq: 1n }, w.payerKeys.secretKey),
    });
    expectFailure(txOn(r.transactions, ch), ChannelError.insufficientFunds);
    r = await w.channel.sendClaim(w.payee.getSender(), {
      voucher: signVoucher({ channel: ch, cumulative: available, seq: 1n }, w.payerKeys.secretKey),
    });
    expectSuccess(txOn(r.transactions, ch));
    expect(await balanceOf(w.bc, ch)).toBe(CLOSED_RESERVE);
    expect((await w.channel.getChannelState()).available).toBe(0n);
    // the drained channel still closes: the payer gets back the change of its own 0.05 TON
    await w.channel.sendStartClose(w.payer.getSender());
    w.bc.now = T0 + WINDOW;
    const fin = txOn((await w.channel.sendFinishClose(w.payer.getSender())).transactions, ch);
    expectSuccess(fin);
    expect(outs(fin)[0]!.value).toBe(DEFAULT_GAS_VALUE - (allFees(fin) - storageFee(fin)));
    expect(await balanceOf(w.bc, ch)).toBe(CLOSED_RESERVE - storageFee(fin));
  });

  it('forged and tampered signatures are rejected', async () => {
    const w = await world({ deposit: toNano('1') });
    const ch = w.channel.address;
    const before = await balanceOf(w.bc, ch);
    // signed by the payee's key, not the payer's
    let r = await w.channel.sendClaim(w.payee.getSender(), {
      voucher: signVoucher({ channel: ch, cumulative: toNano('0.5'), seq: 1n }, w.payeeKeys.secretKey),
    });
    let tx = txOn(r.transactions, ch);
    expectFailure(tx, ChannelError.badSignature);
    expectBouncedBack(tx, w.payee.address);
    recordGas('claim rejected (forged signature)', tx);
    // a genuine signature over 0.1 TON presented with a voucher cell for 0.9 TON
    const real = signVoucher({ channel: ch, cumulative: toNano('0.1'), seq: 1n }, w.payerKeys.secretKey);
    r = await w.channel.sendClaim(w.payee.getSender(), {
      voucher: { cell: voucherCell({ channel: ch, cumulative: toNano('0.9'), seq: 1n }), signature: real.signature },
    });
    expectFailure(txOn(r.transactions, ch), ChannelError.badSignature);
    // random bytes
    r = await w.channel.sendClaim(w.payee.getSender(), { voucher: { cell: real.cell, signature: Buffer.alloc(64, 7) } });
    expectFailure(txOn(r.transactions, ch), ChannelError.badSignature);
    // a payer-signed cell that is not a voucher (wrong domain tag)
    const notVoucher = beginCell().storeUint(0x12345678, 32).storeAddress(ch).storeCoins(toNano('0.5')).storeUint(1, 64).endCell();
    r = await w.channel.sendClaim(w.payee.getSender(), { voucher: { cell: notVoucher, signature: Buffer.alloc(64) } });
    expectFailure(txOn(r.transactions, ch), ChannelError.badTag);
    expect(await balanceOf(w.bc, ch)).toBe(before);
    expect(await w.channel.getChannelState()).toMatchObject({ lastSeq: 0n, paid: 0n });

    // the off-chain check agrees with the contract
    const ok = verifyVoucher(real, ch, w.payerKeys.publicKey);
    expect(ok?.channel.equals(ch)).toBe(true);
    expect({ cumulative: ok?.cumulative, seq: ok?.seq }).toEqual({ cumulative: toNano('0.1'), seq: 1n });
    expect(verifyVoucher(real, ch, w.payeeKeys.publicKey)).toBeNull();
    expect(verifyVoucher({ cell: voucherCell({ channel: ch, cumulative: toNano('0.9'), seq: 1n }), signature: real.signature }, ch, w.payerKeys.publicKey)).toBeNull();
    expect(verifyVoucher(real, w.payee.address, w.payerKeys.publicKey)).toBeNull();
    expect(verifyVoucher({ cell: notVoucher, signature: real.signature }, ch, w.payerKeys.publicKey)).toBeNull();
  });

  it('only the payee can claim', async () => {
    const w = await world({ deposit: toNano('1') });
    const voucher = signVoucher({ channel: w.channel.address, cumulative: toNano('0.5'), seq: 1n }, w.payerKeys.secretKey);
    const r = await w.channel.sendClaim(w.stranger.getSender(), { voucher });
    const tx = txOn(r.transactions, w.channel.address);
    expectFailure(tx, ChannelError.notPayee);
    expectBouncedBack(tx, w.stranger.address);
  });

  it('a voucher for another channel (other id, same parties and keys) is rejected', async () => {
    const w = await world({ deposit: toNano('1') });
    const other = w.bc.openContract(PaymentChannel.fromInit({ ...w.config, channelId: 8n }, code));
    await other.sendDeposit(w.payer.getSender(), toNano('1'));
    expect(other.address.equals(w.channel.address)).toBe(false);
    const forOther = signVoucher({ channel: other.address, cumulative: toNano('0.5'), seq: 1n }, w.payerKeys.secretKey);
    const before = await balanceOf(w.bc, w.channel.address);
    const r = await w.channel.sendClaim(w.payee.getSender(), { voucher: forOther });
    const tx = txOn(r.transactions, w.channel.address);
    expectFailure(tx, ChannelError.wrongChannel);
    expectBouncedBack(tx, w.payee.address);
    expect(await balanceOf(w.bc, w.channel.address)).toBe(before);
    // it is still good on its own channel
    const r2 = await other.sendClaim(w.payee.getSender(), { voucher: forOther });
    expectSuccess(txOn(r2.transactions, other.address));
  });

  it('fee share: the fee recipient gets floor(payout*bps/10000), the payee the rest, adding up to the nanoton', async () => {
    const w = await world({ withFee: true, deposit: toNano('5') });
    const ch = w.channel.address;
    let paid = 0n;
    let seq = 0n;
    // odd amounts so the floor matters
    for (const payout of [1_234_567_891n, 7n, 399n, 1_000_000_001n]) {
      const before = await balanceOf(w.bc, ch);
      paid += payout;
      seq += 1n;
      const r = await w.channel.sendClaim(w.payee.getSender(), {
        voucher: signVoucher({ channel: ch, cumulative: paid, seq }, w.payerKeys.secretKey),
      });
      const tx = txOn(r.transactions, ch);
      expectSuccess(tx);
      if (payout === 1_234_567_891n) recordGas('claim (with fee share)', tx);
      const fee = (payout * BigInt(FEE_BPS)) / 10000n;
      const o = outs(tx);
      const feeMsg = o.find((m) => m.dest.equals(w.feeTo.address));
      const payeeMsg = o.find((m) => m.dest.equals(w.payee.address));
      // the channel lost exactly the payout
      expect(await balanceOf(w.bc, ch)).toBe(before - payout);
      if (fee === 0n) {
        expect(feeMsg).toBeUndefined();
        expect(o).toHaveLength(1);
      } else {
        expect(o).toHaveLength(2);
        expect(feeMsg!.value).toBe(fee);
        expect(feeMsg!.op).toBe(Op.feePayout);
        expect(feeMsg!.bounce).toBe(false);
      }
      // payee: payout - fee, plus the unspent part of its attached value (all fees paid from that)
      expect(payeeMsg!.value).toBe(payout - fee + DEFAULT_GAS_VALUE - allFees(tx));
      expect((feeMsg?.value ?? 0n) + (payeeMsg!.value - DEFAULT_GAS_VALUE + allFees(tx))).toBe(payout);
    }
    expect(await w.channel.getChannelState()).toMatchObject({ paid, lastSeq: seq });
  });
});

describe('payment channel: closing', () => {
  it('payer starts a close (gas change returned); payee claims inside the window; finish waits for the window', async () => {
    const w = await world({ deposit: toNano('2') });
    const ch = w.channel.address;

    // only the payer can start
    let r = await w.channel.sendStartClose(w.payee.getSender());
    expectFailure(txOn(r.transactions, ch), ChannelError.notPayer);
    // finish before start
    r = await w.channel.sendFinishClose(w.payer.getSender());
    expectFailure(txOn(r.transactions, ch), ChannelError.notClosing);

    let before = await balanceOf(w.bc, ch);
    r = await w.channel.sendStartClose(w.payer.getSender());
    let tx = txOn(r.transactions, ch);
    expectSuccess(tx);
    recordGas('start close', tx);
    expect(await balanceOf(w.bc, ch)).toBe(before); // nothing taken from the channel
    let o = outs(tx);
    expect(o).toHaveLength(1);
    expect(o[0]!.op).toBe(Op.excesses);
    expect(o[0]!.value).toBe(DEFAULT_GAS_VALUE - allFees(tx));
    expect(await w.channel.getChannelState()).toMatchObject({ state: ChannelState.closing, closeStartedAt: T0, closeDeadline: T0 + WINDOW });

    // a second start is refused
    r = await w.channel.sendStartClose(w.payer.getSender());
    expectFailure(txOn(r.transactions, ch), ChannelError.notOpen);

    // payee claims inside the window
    w.bc.now = T0 + WINDOW - 1;
    before = await balanceOf(w.bc, ch);
    r = await w.channel.sendClaim(w.payee.getSender(), {
      voucher: signVoucher({ channel: ch, cumulative: toNano('0.6'), seq: 1n }, w.payerKeys.secretKey),
    });
    tx = txOn(r.transactions, ch);
    expectSuccess(tx);
    recordGas('claim (closing, inside window)', tx);
    expect(await balanceOf(w.bc, ch)).toBe(before - toNano('0.6') - storageFee(tx));

    // finish inside the window is refused
    r = await w.channel.sendFinishClose(w.payer.getSender());
    tx = txOn(r.transactions, ch);
    expectFailure(tx, ChannelError.disputeWindowOpen);
    expectBouncedBack(tx, w.payer.address);

    // after the window: claims are refused, the payer finishes and gets everything but the reserve
    w.bc.now = T0 + WINDOW;
    r = await w.channel.sendClaim(w.payee.getSender(), {
      voucher: signVoucher({ channel: ch, cumulative: toNano('0.7'), seq: 2n }, w.payerKeys.secretKey),
    });
    expectFailure(txOn(r.transactions, ch), ChannelError.disputeWindowOver);
    expect((await w.channel.getChannelState()).available).toBe(0n);
    // only the payer can finish
    r = await w.channel.sendFinishClose(w.stranger.getSender());
    expectFailure(txOn(r.transactions, ch), ChannelError.notPayer);

    before = await balanceOf(w.bc, ch);
    r = await w.channel.sendFinishClose(w.payer.getSender()); // 0.05 TON, what a wallet sends
    tx = txOn(r.transactions, ch);
    expectSuccess(tx);
    recordGas('finish close (refund to payer)', tx);
    const funds = before - storageFee(tx);
    o = outs(tx);
    expect(o).toHaveLength(1);
    expect(o[0]!.dest.equals(w.payer.address)).toBe(true);
    expect(o[0]!.op).toBe(Op.refund);
    expect(o[0]!.bounce).toBe(false);
    expect(o[0]!.value).toBe(funds - CLOSED_RESERVE + DEFAULT_GAS_VALUE - (allFees(tx) - storageFee(tx)));
    expect(await balanceOf(w.bc, ch)).toBe(CLOSED_RESERVE);
    expect(await w.channel.getChannelState()).toMatchObject({ state: ChannelState.closed, paid: toNano('0.6'), available: 0n });

    // the payer's wallet really received it (the refund is non-bounceable: nothing can send it back)
    const payerTx = txOn(r.transactions.filter((t) => t !== tx && outs(t).length === 0), w.payer.address);
    expectSuccess(payerTx);
  });

  it('the refund works with the value a wallet normally sends, and with less', async () => {
    for (const value of [toNano('0.05'), toNano('0.02')]) {
      const w = await world({ deposit: toNano('1') });
      const ch = w.channel.address;
      await w.channel.sendStartClose(w.payer.getSender(), { value });
      w.bc.now = T0 + WINDOW;
      const before = await balanceOf(w.bc, ch);
      const r = await w.channel.sendFinishClose(w.payer.getSender(), { value });
      const tx = txOn(r.transactions, ch);
      expectSuccess(tx);
      const o = outs(tx);
      expect(o[0]!.value).toBe(before - storageFee(tx) - CLOSED_RESERVE + value - (allFees(tx) - storageFee(tx)));
      expect(await balanceOf(w.bc, ch)).toBe(CLOSED_RESERVE);
    }
  });

  it('a channel holding less than the reserve still closes; the payer gets its change back', async () => {
    const w = await world({ deposit: toNano('0.004') });
    const ch = w.channel.address;
    await w.channel.sendStartClose(w.payer.getSender());
    w.bc.now = T0 + WINDOW;
    const before = await balanceOf(w.bc, ch);
    expect(before).toBeLessThan(CLOSED_RESERVE);
    const tx = txOn((await w.channel.sendFinishClose(w.payer.getSender())).transactions, ch);
    expectSuccess(tx);
    expect(outs(tx)[0]!.value).toBe(DEFAULT_GAS_VALUE - (allFees(tx) - storageFee(tx)));
    expect(await balanceOf(w.bc, ch)).toBe(before - storageFee(tx));
    expect((await w.channel.getChannelState()).state).toBe(ChannelState.closed);
  });

  it('a claim after the close is finished is rejected and bounced', async () => {
    const w = await world({ deposit: toNano('1') });
    const ch = w.channel.address;
    const voucher = signVoucher({ channel: ch, cumulative: toNano('0.3'), seq: 1n }, w.payerKeys.secretKey);
    await w.channel.sendStartClose(w.payer.getSender());
    w.bc.now = T0 + WINDOW;
    expectSuccess(txOn((await w.channel.sendFinishClose(w.payer.getSender())).transactions, ch));
    const r = await w.channel.sendClaim(w.payee.getSender(), { voucher });
    const tx = txOn(r.transactions, ch);
    expectFailure(tx, ChannelError.channelClosed);
    expectBouncedBack(tx, w.payee.address);
    recordGas('message to a closed channel (bounced)', tx);
    expect(await balanceOf(w.bc, ch)).toBe(CLOSED_RESERVE);
  });
});

describe('payment channel: cooperative close', () => {
  async function coop(w: World, cumulative: bigint, via: SandboxContract<TreasuryContract>, over?: { payeeKey?: Buffer; channel?: Address }) {
    const channel = over?.channel ?? w.channel.address;
    const a = { channel, cumulative };
    return w.channel.sendCooperativeClose(via.getSender(), {
      agreement: closeAgreementCell(a),
      payerSignature: signCloseAgreement(a, w.payerKeys.secretKey),
      payeeSignature: signCloseAgreement(a, over?.payeeKey ?? w.payeeKeys.secretKey),
    });
  }

  it('settles at once with both signatures (sent by the payer): payee + fee get the rest owed, payer the remainder', async () => {
    const w = await world({ withFee: true, deposit: toNano('3') });
    const ch = w.channel.address;
    // 0.5 already claimed
    await w.channel.sendClaim(w.payee.getSender(), {
      voucher: signVoucher({ channel: ch, cumulative: toNano('0.5'), seq: 1n }, w.payerKeys.secretKey),
    });
    const before = await balanceOf(w.bc, ch);
    const r = await coop(w, toNano('1.25') + 3n, w.payer);
    const tx = txOn(r.transactions, ch);
    expectSuccess(tx);
    recordGas('cooperative close (by payer, with fee)', tx);
    const payout = toNano('0.75') + 3n;
    const fee = (payout * BigInt(FEE_BPS)) / 10000n;
    const o = outs(tx);
    const m = (a: Address) => o.find((x) => x.dest.equals(a))!;
    expect(o).toHaveLength(3);
    expect(m(w.feeTo.address).value).toBe(fee);
    expect(m(w.payee.address).value).toBe(payout - fee);
    expect(m(w.payer.address).value).toBe(before - payout - CLOSED_RESERVE + DEFAULT_GAS_VALUE - allFees(tx));
    expect(await balanceOf(w.bc, ch)).toBe(CLOSED_RESERVE);
    expect(await w.channel.getChannelState()).toMatchObject({ state: ChannelState.closed, paid: toNano('1.25') + 3n });
  });

  it('sent by the payee or by anyone: the sender gets its own share plus its unspent gas', async () => {
    // by the payee
    {
      const w = await world({ deposit: toNano('2') });
      const ch = w.channel.address;
      const before = await balanceOf(w.bc, ch);
      const r = await coop(w, toNano('0.4'), w.payee);
      const tx = txOn(r.transactions, ch);
      expectSuccess(tx);
      recordGas('cooperative close (by payee, no fee)', tx);
      const o = outs(tx);
      const m = (a: Address) => o.find((x) => x.dest.equals(a))!;
      expect(o).toHaveLength(2);
      expect(m(w.payer.address).value).toBe(before - toNano('0.4') - CLOSED_RESERVE);
      expect(m(w.payee.address).value).toBe(toNano('0.4') + DEFAULT_GAS_VALUE - allFees(tx));
      expect(await balanceOf(w.bc, ch)).toBe(CLOSED_RESERVE);
    }
    // by a third party (e.g. the gateway)
    {
      const w = await world({ deposit: toNano('2') });
      const ch = w.channel.address;
      const before = await balanceOf(w.bc, ch);
      const r = await coop(w, toNano('0.4'), w.stranger);
      const tx = txOn(r.transactions, ch);
      expectSuccess(tx);
      recordGas('cooperative close (by a third party, no fee)', tx);
      const o = outs(tx);
      const m = (a: Address) => o.find((x) => x.dest.equals(a))!;
      expect(o).toHaveLength(3);
      expect(m(w.payer.address).value).toBe(before - toNano('0.4') - CLOSED_RESERVE);
      expect(m(w.payee.address).value).toBe(toNano('0.4'));
      expect(m(w.stranger.address).value).toBe(DEFAULT_GAS_VALUE - allFees(tx));
      expect(m(w.stranger.address).op).toBe(Op.excesses);
      expect(await balanceOf(w.bc, ch)).toBe(CLOSED_RESERVE);
    }
  });

  it('with too little value for the payouts it settles nothing: the transaction rolls back and bounces', async () => {
    const w = await world({ withFee: true, deposit: toNano('1') });
    const ch = w.channel.address;
    const before = await balanceOf(w.bc, ch);
    const a = { channel: ch, cumulative: toNano('0.3') };
    // enough for the compute phase (~12k gas), not for the four forward fees
    const r = await w.channel.sendCooperativeClose(w.stranger.getSender(), {
      agreement: closeAgreementCell(a),
      payerSignature: signCloseAgreement(a, w.payerKeys.secretKey),
      payeeSignature: signCloseAgreement(a, w.payeeKeys.secretKey),
      value: toNano('0.006'),
    });
    const tx = txOn(r.transactions, ch);
    const d = tx.description;
    if (d.type !== 'generic' || d.computePhase.type !== 'vm') throw new Error('unexpected transaction');
    expect(d.computePhase.success).toBe(true);
    expect(d.actionPhase?.success).toBe(false);
    expect(d.aborted).toBe(true);
    recordGas('cooperative close by a third party with too little value (rolled back, bounced)', tx);
    expect(await balanceOf(w.bc, ch)).toBe(before);
    expect(await w.channel.getChannelState()).toMatchObject({ state: ChannelState.open, paid: 0n });
    expectBouncedBack(tx, w.stranger.address);
  });

  it('works while closing, and refuses a missing or wrong signature, another channel, or an amount below what was paid', async () => {
    const w = await world({ deposit: toNano('2') });
    const ch = w.channel.address;
    await w.channel.sendClaim(w.payee.getSender(), {
      voucher: signVoucher({ channel: ch, cumulative: toNano('0.5'), seq: 1n }, w.payerKeys.secretKey),
    });
    await w.channel.sendStartClose(w.payer.getSender());
    const before = await balanceOf(w.bc, ch);

    let r = await coop(w, toNano('0.6'), w.payer, { payeeKey: w.payerKeys.secretKey }); // payer signed twice
    let tx = txOn(r.transactions, ch);
    expectFailure(tx, ChannelError.badPayeeSignature);
    expectBouncedBack(tx, w.payer.address);

    const a = { channel: ch, cumulative: toNano('0.6') };
    r = await w.channel.sendCooperativeClose(w.payee.getSender(), {
      agreement: closeAgreementCell(a),
      payerSignature: signCloseAgreement(a, w.payeeKeys.secretKey), // payee signed twice
      payeeSignature: signCloseAgreement(a, w.payeeKeys.secretKey),
    });
    expectFailure(txOn(r.transactions, ch), ChannelError.badSignature);

    const otherAddr = PaymentChannel.fromInit({ ...w.config, channelId: 8n }, code).address;
    r = await coop(w, toNano('0.6'), w.payer, { channel: otherAddr });
    expectFailure(txOn(r.transactions, ch), ChannelError.wrongChannel);

    r = await coop(w, toNano('0.4'), w.payer);
    expectFailure(txOn(r.transactions, ch), ChannelError.staleAmount);

    // a voucher is not a close agreement (domain separation)
    const v = signVoucher({ channel: ch, cumulative: toNano('0.6'), seq: 2n }, w.payerKeys.secretKey);
    r = await w.channel.sendCooperativeClose(w.payer.getSender(), {
      agreement: v.cell,
      payerSignature: v.signature,
      payeeSignature: Buffer.from(v.signature),
    });
    expectFailure(txOn(r.transactions, ch), ChannelError.badTag);
    expect(await balanceOf(w.bc, ch)).toBe(before);

    // equal to what was paid: payout 0, the payer gets the rest
    r = await coop(w, toNano('0.5'), w.payer);
    tx = txOn(r.transactions, ch);
    expectSuccess(tx);
    const o = outs(tx);
    expect(o).toHaveLength(1);
    expect(o[0]!.value).toBe(before - CLOSED_RESERVE + DEFAULT_GAS_VALUE - allFees(tx));
    expect(await balanceOf(w.bc, ch)).toBe(CLOSED_RESERVE);

    // and the agreement cannot be replayed
    r = await coop(w, toNano('0.5'), w.payer);
    expectFailure(txOn(r.transactions, ch), ChannelError.channelClosed);
  });
});

describe('payment channel: closed channels and channel ids', () => {
  async function closedWorld(): Promise<World> {
    const w = await world({ deposit: toNano('1') });
    await w.channel.sendClaim(w.payee.getSender(), {
      voucher: signVoucher({ channel: w.channel.address, cumulative: toNano('0.2'), seq: 1n }, w.payerKeys.secretKey),
    });
    await w.channel.sendStartClose(w.payer.getSender());
    w.bc.now = T0 + WINDOW;
    expectSuccess(txOn((await w.channel.sendFinishClose(w.payer.getSender())).transactions, w.channel.address));
    w.bc.now = T0 + WINDOW + 1;
    return w;
  }

  it('every message to a closed channel is rejected; bounceable ones bounce, non-bounceable value is sent back', async () => {
    const w = await closedWorld();
    const ch = w.channel.address;
    const sends: Array<[string, () => Promise<{ transactions: BlockchainTransaction[] }>, Address]> = [
      ['top-up', () => w.channel.sendTopUp(w.payer.getSender(), toNano('1')), w.payer.address],
      ['redeploy (deposit with init)', () => w.payer.send({ to: ch, value: toNano('1'), bounce: true, init: w.channel.init, body: topUpBody() }), w.payer.address],
      ['start close', () => w.channel.sendStartClose(w.payer.getSender()), w.payer.address],
      ['finish close', () => w.channel.sendFinishClose(w.payer.getSender()), w.payer.address],
      [
        'claim',
        () => w.channel.sendClaim(w.payee.getSender(), { voucher: signVoucher({ channel: ch, cumulative: toNano('0.5'), seq: 5n }, w.payerKeys.secretKey) }),
        w.payee.address,
      ],
      ['plain transfer', () => w.stranger.send({ to: ch, value: toNano('0.3'), bounce: true }), w.stranger.address],
    ];
    for (const [name, send, sender] of sends) {
      const before = await balanceOf(w.bc, ch);
      const tx = txOn((await send()).transactions, ch);
      expect(compute(tx).exitCode, name).toBe(ChannelError.channelClosed);
      expectBouncedBack(tx, sender);
      expect(await balanceOf(w.bc, ch), name).toBe(before - storageFee(tx));
      expect(await w.channel.getChannelState(), name).toMatchObject({ state: ChannelState.closed, lastSeq: 1n, paid: toNano('0.2') });
    }

    // a non-bounceable transfer cannot bounce: the contract sends the value back itself
    const before = await balanceOf(w.bc, ch);
    const r = await w.stranger.send({ to: ch, value: toNano('0.3'), bounce: false });
    const tx = txOn(r.transactions, ch);
    expectSuccess(tx);
    recordGas('non-bounceable transfer to a closed channel (returned)', tx);
    const o = outs(tx);
    expect(o).toHaveLength(1);
    expect(o[0]!.dest.equals(w.stranger.address)).toBe(true);
    expect(o[0]!.op).toBe(Op.channelClosed);
    expect(o[0]!.value).toBe(before + toNano('0.3') - allFees(tx) - CLOSED_RESERVE);
    expect(await balanceOf(w.bc, ch)).toBe(CLOSED_RESERVE);
  });

  it('a second deployment with the same id cannot take the funds or reset the channel', async () => {
    const w = await world({ deposit: toNano('2') });
    const ch = w.channel.address;
    await w.channel.sendClaim(w.payee.getSender(), {
      voucher: signVoucher({ channel: ch, cumulative: toNano('0.3'), seq: 3n }, w.payerKeys.secretKey),
    });
    const attackerKeys = keyPairFromSeed(Buffer.alloc(32, 0x66));

    // same id, attacker as payee / payer key: a different address, holding nothing of the victim's
    const evil = w.bc.openContract(
      PaymentChannel.fromInit({ ...w.config, payee: w.stranger.address, payerPublicKey: attackerKeys.publicKey, payer: w.stranger.address }, code),
    );
    expect(evil.address.equals(ch)).toBe(false);
    await evil.sendDeposit(w.stranger.getSender(), toNano('0.1'));
    const evilBefore = await balanceOf(w.bc, evil.address);
    // a voucher the attacker signs for the victim's channel is a forgery there...
    let r = await w.channel.sendClaim(w.payee.getSender(), {
      voucher: signVoucher({ channel: ch, cumulative: toNano('1.5'), seq: 4n }, attackerKeys.secretKey),
    });
    expectFailure(txOn(r.transactions, ch), ChannelError.badSignature);
    // ...and the attacker's own channel only pays out of its own balance
    r = await evil.sendClaim(w.stranger.getSender(), {
      voucher: signVoucher({ channel: evil.address, cumulative: toNano('1.5'), seq: 1n }, attackerKeys.secretKey),
    });
    expectFailure(txOn(r.transactions, evil.address), ChannelError.insufficientFunds);
    expect(await balanceOf(w.bc, evil.address)).toBe(evilBefore);

    // the exact same init sent again (a "redeploy") is just a message to the live channel: the state is not reset
    const before = await balanceOf(w.bc, ch);
    r = await w.stranger.send({ to: ch, value: toNano('0.5'), bounce: true, init: w.channel.init, body: topUpBody() });
    const tx = txOn(r.transactions, ch);
    expectFailure(tx, ChannelError.notPayer);
    expectBouncedBack(tx, w.stranger.address);
    expect(await balanceOf(w.bc, ch)).toBe(before);
    expect(await w.channel.getChannelState()).toMatchObject({ state: ChannelState.open, lastSeq: 3n, paid: toNano('0.3') });
    // and the claimed voucher still cannot be replayed
    r = await w.channel.sendClaim(w.payee.getSender(), {
      voucher: signVoucher({ channel: ch, cumulative: toNano('0.3'), seq: 3n }, w.payerKeys.secretKey),
    });
    expectFailure(txOn(r.transactions, ch), ChannelError.staleSeq);
  });
});
