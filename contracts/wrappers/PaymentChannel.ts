/**
 * Typed wrapper for `contracts/payment-channel.tolk` (TL-B in `contracts/payment-channel.tlb`).
 *
 * @example
 * const { code } = await compileContract('payment-channel');
 * const channel = blockchain.openContract(
 *   PaymentChannel.fromInit({ channelId, payer, payee, payerPublicKey, payeePublicKey, disputeWindow: 3600 }, code),
 * );
 * await channel.sendDeposit(payerWallet.getSender(), toNano('10'));
 * const voucher = signVoucher({ channel: channel.address, cumulative: toNano('1'), seq: 1n }, payerSecretKey);
 * await channel.sendClaim(payeeWallet.getSender(), { voucher });
 *
 * Channel ids must never be reused by a payer (a fresh random uint64 per channel): the id is what
 * makes the address, and so every voucher, unique to one channel.
 */
import {
  Address,
  beginCell,
  Cell,
  contractAddress,
  SendMode,
  toNano,
  type Contract,
  type ContractProvider,
  type Sender,
  type StateInit,
} from '@ton/core';
import { sign, signVerify } from '@ton/crypto';

/** Message opcodes and signed-payload tags (32-bit prefixes). */
export const Op = {
  topUp: 0x53470001,
  claim: 0x53470002,
  startClose: 0x53470003,
  finishClose: 0x53470004,
  cooperativeClose: 0x53470005,
  payout: 0x53470011,
  feePayout: 0x53470012,
  refund: 0x53470013,
  channelClosed: 0x53470014,
  excesses: 0xd53276db,
} as const;

/** Domain tags: "SGV1" for vouchers, "SGC1" for cooperative-close agreements. */
export const Tag = {
  voucher: 0x53475631,
  closeAgreement: 0x53474331,
} as const;

/** Exit codes thrown by the contract. */
export const ChannelError = {
  notPayer: 101,
  notPayee: 102,
  badSignature: 103,
  wrongChannel: 104,
  badTag: 105,
  staleSeq: 106,
  staleAmount: 107,
  insufficientFunds: 108,
  notOpen: 109,
  notClosing: 110,
  disputeWindowOpen: 111,
  disputeWindowOver: 112,
  channelClosed: 113,
  badPayeeSignature: 114,
  badConfig: 115,
  unknownOp: 0xffff,
} as const;

export const ChannelState = { open: 0, closing: 1, closed: 2 } as const;
export type ChannelStateValue = (typeof ChannelState)[keyof typeof ChannelState];

/** Balance kept on a closed channel for its storage rent (CLOSED_RESERVE in the contract). */
export const CLOSED_RESERVE = toNano('0.01');

/** What a normal wallet attaches for gas to a claim or close; the unspent part comes back. */
export const DEFAULT_GAS_VALUE = toNano('0.05');

export interface PaymentChannelConfig {
  /** Unique per payer: part of the init data, so each id gives a different address. */
  channelId: bigint;
  payer: Address;
  payee: Address;
  /** 32-byte Ed25519 public key that signs vouchers and close agreements. */
  payerPublicKey: Buffer;
  /** 32-byte Ed25519 public key of the payee (co-signs cooperative closes). */
  payeePublicKey: Buffer;
  feeRecipient?: Address | null;
  /** Fee share in basis points (0..10000), taken from each payout. */
  feeBps?: number;
  /** Seconds the payee has to claim after the payer starts a close. */
  disputeWindow: number;
}

function key256(k: Buffer, name: string): bigint {
  if (k.length !== 32) throw new Error(`${name} must be 32 bytes`);
  return BigInt('0x' + k.toString('hex'));
}

/** The init data cell (TL-B `Storage` with state OPEN, seq 0, paid 0). */
export function paymentChannelData(c: PaymentChannelConfig): Cell {
  const feeBps = c.feeBps ?? 0;
  if (!Number.isInteger(feeBps) || feeBps < 0 || feeBps > 10000) throw new Error('feeBps must be an integer in 0..10000');
  if (!Number.isInteger(c.disputeWindow) || c.disputeWindow < 0 || c.disputeWindow >= 2 ** 32) throw new Error('disputeWindow must be uint32 seconds');
  if (c.channelId < 0n || c.channelId >= 1n << 64n) throw new Error('channelId must be uint64');
  const parties = beginCell()
    .storeAddress(c.payer)
    .storeAddress(c.payee)
    .storeAddress(c.feeRecipient ?? null)
    .endCell();
  const config = beginCell()
    .storeUint(c.channelId, 64)
    .storeUint(key256(c.payerPublicKey, 'payerPublicKey'), 256)
    .storeUint(key256(c.payeePublicKey, 'payeePublicKey'), 256)
    .storeUint(feeBps, 16)
    .storeUint(c.disputeWindow, 32)
    .storeRef(parties)
    .endCell();
  return beginCell()
    .storeUint(ChannelState.open, 2)
    .storeUint(0, 64)
    .storeCoins(0)
    .storeUint(0, 32)
    .storeRef(config)
    .endCell();
}

export interface Voucher {
  channel: Address;
  /** Total nanoton owed to the payee on this channel so far (fee included). */
  cumulative: bigint;
  seq: bigint;
}

/** The voucher cell whose hash the payer signs (TL-B `Voucher`). */
export function voucherCell(v: Voucher): Cell {
  return beginCell().storeUint(Tag.voucher, 32).storeAddress(v.channel).storeCoins(v.cumulative).storeUint(v.seq, 64).endCell();
}

export interface SignedVoucher {
  cell: Cell;
  signature: Buffer;
}

/** Signs `voucherCell(v)`'s hash with the payer's 64-byte Ed25519 secret key (as from @ton/crypto). */
export function signVoucher(v: Voucher, payerSecretKey: Buffer): SignedVoucher {
  const cell = voucherCell(v);
  return { cell, signature: sign(cell.hash(), payerSecretKey) };
}

/** Reads a voucher cell back (throws on a wrong tag or trailing data). */
export function parseVoucher(cell: Cell): Voucher {
  const s = cell.beginParse();
  if (s.loadUint(32) !== Tag.voucher) throw new Error('not a voucher (wrong domain tag)');
  const v = { channel: s.loadAddress(), cumulative: s.loadCoins(), seq: s.loadUintBig(64) };
  s.endParse();
  return v;
}

/**
 * Checks a voucher the way the contract will: the tag, the channel address and the payer's signature
 * over the cell hash. (Whether it is newer than what was claimed is for the caller to compare.)
 */
export function verifyVoucher(v: SignedVoucher, channel: Address, payerPublicKey: Buffer): Voucher | null {
  let parsed: Voucher;
  try {
    parsed = parseVoucher(v.cell);
  } catch {
    return null;
  }
  if (!parsed.channel.equals(channel) || v.signature.length !== 64) return null;
  return signVerify(v.cell.hash(), v.signature, payerPublicKey) ? parsed : null;
}

/** The cooperative-close agreement cell both parties sign (TL-B `CloseAgreement`). */
export function closeAgreementCell(a: { channel: Address; cumulative: bigint }): Cell {
  return beginCell().storeUint(Tag.closeAgreement, 32).storeAddress(a.channel).storeCoins(a.cumulative).endCell();
}

/** Signs a close agreement with one party's 64-byte Ed25519 secret key. */
export function signCloseAgreement(a: { channel: Address; cumulative: bigint }, secretKey: Buffer): Buffer {
  return sign(closeAgreementCell(a).hash(), secretKey);
}

function queryIdOf(q?: bigint): bigint {
  return q ?? 0n;
}

export function topUpBody(queryId?: bigint): Cell {
  return beginCell().storeUint(Op.topUp, 32).storeUint(queryIdOf(queryId), 64).endCell();
}

export function claimBody(voucher: SignedVoucher, queryId?: bigint): Cell {
  if (voucher.signature.length !== 64) throw new Error('signature must be 64 bytes');
  return beginCell()
    .storeUint(Op.claim, 32)
    .storeUint(queryIdOf(queryId), 64)
    .storeBuffer(voucher.signature)
    .storeRef(voucher.cell)
    .endCell();
}

export function startCloseBody(queryId?: bigint): Cell {
  return beginCell().storeUint(Op.startClose, 32).storeUint(queryIdOf(queryId), 64).endCell();
}

export function finishCloseBody(queryId?: bigint): Cell {
  return beginCell().storeUint(Op.finishClose, 32).storeUint(queryIdOf(queryId), 64).endCell();
}

export interface CooperativeCloseArgs {
  agreement: Cell;
  payerSignature: Buffer;
  payeeSignature: Buffer;
  queryId?: bigint;
}

export function cooperativeCloseBody(a: CooperativeCloseArgs): Cell {
  if (a.payerSignature.length !== 64 || a.payeeSignature.length !== 64) throw new Error('signatures must be 64 bytes');
  return beginCell()
    .storeUint(Op.cooperativeClose, 32)
    .storeUint(queryIdOf(a.queryId), 64)
    .storeBuffer(a.payerSignature)
    .storeRef(beginCell().storeBuffer(a.payeeSignature).endCell())
    .storeRef(a.agreement)
    .endCell();
}

export interface ChannelStateView {
  state: ChannelStateValue;
  lastSeq: bigint;
  /** Cumulative nanoton paid out (payee share + fee). */
  paid: bigint;
  closeStartedAt: number;
  /** Unix time after which the payer can finish the close (0 unless closing). */
  closeDeadline: number;
  /** Channel balance. */
  funds: bigint;
  /** What a claim can still take: funds minus the closed-channel reserve (0 once closed). */
  available: bigint;
}

export interface ChannelConfigView {
  channelId: bigint;
  payerPublicKey: Buffer;
  payeePublicKey: Buffer;
  feeBps: number;
  disputeWindow: number;
  payer: Address;
  payee: Address;
  feeRecipient: Address | null;
}

function bigintToKey(n: bigint): Buffer {
  return Buffer.from(n.toString(16).padStart(64, '0'), 'hex');
}

export class PaymentChannel implements Contract {
  constructor(
    readonly address: Address,
    readonly init?: StateInit,
  ) {}

  static createFromAddress(address: Address): PaymentChannel {
    return new PaymentChannel(address);
  }

  static fromInit(config: PaymentChannelConfig, code: Cell, workchain = 0): PaymentChannel {
    const init = { code, data: paymentChannelData(config) };
    return new PaymentChannel(contractAddress(workchain, init), init);
  }

  /** First deposit; deploys the channel when it is not active yet (the provider attaches the init). */
  async sendDeposit(provider: ContractProvider, via: Sender, value: bigint, queryId?: bigint): Promise<void> {
    await provider.internal(via, { value, sendMode: SendMode.PAY_GAS_SEPARATELY, bounce: true, body: topUpBody(queryId) });
  }

  /** Adds funds to an open channel (payer only). The whole value minus the gas stays on the channel. */
  async sendTopUp(provider: ContractProvider, via: Sender, value: bigint, queryId?: bigint): Promise<void> {
    await provider.internal(via, { value, sendMode: SendMode.PAY_GAS_SEPARATELY, bounce: true, body: topUpBody(queryId) });
  }

  /** Payee claims `voucher.cumulative - paid`; the unspent gas comes back with the payout. */
  async sendClaim(
    provider: ContractProvider,
    via: Sender,
    opts: { voucher: SignedVoucher; value?: bigint; queryId?: bigint },
  ): Promise<void> {
    await provider.internal(via, {
      value: opts.value ?? DEFAULT_GAS_VALUE,
      sendMode: SendMode.PAY_GAS_SEPARATELY,
      bounce: true,
      body: claimBody(opts.voucher, opts.queryId),
    });
  }

  async sendStartClose(provider: ContractProvider, via: Sender, opts: { value?: bigint; queryId?: bigint } = {}): Promise<void> {
    await provider.internal(via, {
      value: opts.value ?? DEFAULT_GAS_VALUE,
      sendMode: SendMode.PAY_GAS_SEPARATELY,
      bounce: true,
      body: startCloseBody(opts.queryId),
    });
  }

  async sendFinishClose(provider: ContractProvider, via: Sender, opts: { value?: bigint; queryId?: bigint } = {}): Promise<void> {
    await provider.internal(via, {
      value: opts.value ?? DEFAULT_GAS_VALUE,
      sendMode: SendMode.PAY_GAS_SEPARATELY,
      bounce: true,
      body: finishCloseBody(opts.queryId),
    });
  }

  /** Anyone may submit a close agreement signed by both parties; the sender gets its unspent gas back. */
  async sendCooperativeClose(provider: ContractProvider, via: Sender, opts: CooperativeCloseArgs & { value?: bigint }): Promise<void> {
    await provider.internal(via, {
      value: opts.value ?? DEFAULT_GAS_VALUE,
      sendMode: SendMode.PAY_GAS_SEPARATELY,
      bounce: true,
      body: cooperativeCloseBody(opts),
    });
  }

  async getChannelState(provider: ContractProvider): Promise<ChannelStateView> {
    const r = (await provider.get('channelState', [])).stack;
    const state = r.readNumber();
    if (state !== 0 && state !== 1 && state !== 2) throw new Error(`unknown channel state ${state}`);
    return {
      state,
      lastSeq: r.readBigNumber(),
      paid: r.readBigNumber(),
      closeStartedAt: r.readNumber(),
      closeDeadline: r.readNumber(),
      funds: r.readBigNumber(),
      available: r.readBigNumber(),
    };
  }

  async getChannelConfig(provider: ContractProvider): Promise<ChannelConfigView> {
    const r = (await provider.get('channelConfig', [])).stack;
    return {
      channelId: r.readBigNumber(),
      payerPublicKey: bigintToKey(r.readBigNumber()),
      payeePublicKey: bigintToKey(r.readBigNumber()),
      feeBps: r.readNumber(),
      disputeWindow: r.readNumber(),
      payer: r.readAddress(),
      payee: r.readAddress(),
      feeRecipient: r.readAddressOpt(),
    };
  }

  async getBalance(provider: ContractProvider): Promise<bigint> {
    return (await provider.getState()).balance;
  }
}
