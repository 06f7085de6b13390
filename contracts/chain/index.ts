/**
 * Chain access for the payment channel: reads channels and balances and sends messages from a
 * WalletContractV4, through `@ton/ton`'s `TonClient` (toncenter API v2 JSON-RPC).
 *
 * Node-only (axios underneath): import it from Node adapters and the CLI, never from the gateway core.
 *
 * @example
 * const chain = openTonChain({ endpoint: 'https://toncenter.com/api/v2/jsonRPC', apiKey });
 * const channel = await chain.readChannel(Address.parse(addr));
 * if (channel?.state === 'open') await claimOnChain(chain, payeeKey, channel.address, voucher);
 */
import { type Address, beginCell, Cell, external, internal, SendMode, storeMessage, type StateInit } from '@ton/core';
import type { KeyPair } from '@ton/crypto';
import { TonClient, WalletContractV4 } from '@ton/ton';
import {
  claimBody,
  DEFAULT_GAS_VALUE,
  PaymentChannel,
  topUpBody,
  verifyVoucher,
  type ChannelConfigView,
  type ChannelStateView,
  type PaymentChannelConfig,
  type SignedVoucher,
} from '../wrappers/PaymentChannel.ts';
import { ChainError, transportError } from './errors.ts';

export { ChainError, type ChainErrorCode } from './errors.ts';
export { DEFAULT_GAS_VALUE } from '../wrappers/PaymentChannel.ts';

/** A payment channel as read from its get methods (`channelState` + `channelConfig`), state by name. */
export interface ChannelOnChain extends Omit<ChannelStateView, 'state'>, ChannelConfigView {
  address: Address;
  /** Hash of the account's code cell: compare it with `contracts/build/payment-channel.ts` before trusting the get methods. */
  codeHash: Buffer;
  state: 'open' | 'closing' | 'closed';
}

/** An internal message sent by a wallet. */
export interface WalletMessage {
  to: Address;
  value: bigint;
  body?: Cell;
  /** StateInit of the destination (deploys it). */
  init?: StateInit;
  /** Default true (bounceable). */
  bounce?: boolean;
}

export interface TonChain {
  /** The channel at `address`, or null when the account is not active (never deployed, or frozen). */
  readChannel(address: Address): Promise<ChannelOnChain | null>;
  /** Balance in nanoton (0 for an account that does not exist). */
  balance(address: Address): Promise<bigint>;
  /** The WalletContractV4 address (workchain 0, default wallet id) of an Ed25519 public key. */
  walletAddress(publicKey: Buffer): Address;
  /**
   * Signs an external message for `key`'s WalletContractV4 (with the wallet's StateInit when it is not
   * deployed yet) carrying one internal message, and resolves once the wallet's seqno has advanced.
   * Throws `ChainError` (INSUFFICIENT_BALANCE, CHAIN_REJECTED, CHAIN_TIMEOUT, CHAIN_UNAVAILABLE, ...).
   */
  sendFromWallet(key: KeyPair, msg: WalletMessage): Promise<void>;
}

export interface TonChainOptions {
  /** toncenter v2 JSON-RPC URL, e.g. `https://toncenter.com/api/v2/jsonRPC`. */
  endpoint: string;
  /** Sent as `X-API-Key`. Without one, toncenter allows 1 request per second. */
  apiKey?: string;
  /** Per HTTP request (default 15 s). */
  requestTimeoutMs?: number;
  /** How long `sendFromWallet` waits for the seqno to advance (default 90 s). */
  confirmTimeoutMs?: number;
  /** Polling interval while waiting (default 2 s). */
  pollIntervalMs?: number;
  /** The signed message is valid for this many seconds of chain time (default 60). */
  messageTtlSeconds?: number;
  /** How often a call answered 429 (rate limited) is retried (default 3). */
  rateLimitRetries?: number;
  /** Delay before the first such retry, growing linearly (default 1.1 s: keyless toncenter allows 1 rps). */
  rateLimitDelayMs?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const STATES = ['open', 'closing', 'closed'] as const;

/**
 * Opens chain access over toncenter API v2.
 *
 * @example
 * const chain = openTonChain({ endpoint: 'https://testnet.toncenter.com/api/v2/jsonRPC', apiKey: process.env.TONCENTER_KEY });
 * const wallet = chain.walletAddress(key.publicKey);
 * console.log(await chain.balance(wallet));
 */
export function openTonChain(opts: TonChainOptions): TonChain {
  const client = new TonClient({ endpoint: opts.endpoint, apiKey: opts.apiKey, timeout: opts.requestTimeoutMs ?? 15_000 });
  const confirmTimeoutMs = opts.confirmTimeoutMs ?? 90_000;
  const pollIntervalMs = opts.pollIntervalMs ?? 2_000;
  const ttl = opts.messageTtlSeconds ?? 60;

  const retries = opts.rateLimitRetries ?? 3;
  const retryDelayMs = opts.rateLimitDelayMs ?? 1_100;

  /** One API call, errors mapped to ChainError; a 429 is retried (it means nothing was done). */
  async function call<T>(what: string, fn: () => Promise<T>, sending = false): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        const err = transportError(e, what, sending) ?? new ChainError('CHAIN_BAD_RESPONSE', `${what}: ${(e as Error).message}`, { cause: e });
        if (err.status !== 429 || attempt >= retries) throw err;
        await sleep(retryDelayMs * (attempt + 1));
      }
    }
  }

  const accountState = (address: Address) => call('getAddressInformation', () => client.getContractState(address));

  async function seqnoOf(address: Address): Promise<number> {
    const st = await accountState(address);
    if (st.state !== 'active') return 0;
    const r = await call('runGetMethod seqno', () => client.runMethod(address, 'seqno'));
    return r.stack.readNumber();
  }

  async function readChannel(address: Address): Promise<ChannelOnChain | null> {
    const st = await accountState(address);
    if (st.state !== 'active') return null;
    const channel = client.open(PaymentChannel.createFromAddress(address));
    try {
      const codeHash = st.code ? Cell.fromBoc(st.code)[0]!.hash() : Buffer.alloc(32);
      const s = await channel.getChannelState();
      const c = await channel.getChannelConfig();
      return { address, codeHash, ...s, state: STATES[s.state], ...c };
    } catch (e) {
      const t = transportError(e, 'runGetMethod');
      if (t) throw t;
      throw new ChainError('NOT_A_CHANNEL', `${address.toString()} is not a payment channel: ${(e as Error).message}`, { cause: e });
    }
  }

  async function sendFromWallet(key: KeyPair, msg: WalletMessage): Promise<void> {
    const wallet = WalletContractV4.create({ workchain: 0, publicKey: key.publicKey });
    const st = await accountState(wallet.address);
    if (st.state === 'frozen') throw new ChainError('CHAIN_REJECTED', `wallet ${wallet.address.toString()} is frozen`);
    if (st.balance <= msg.value) {
      throw new ChainError(
        'INSUFFICIENT_BALANCE',
        `wallet ${wallet.address.toString()} holds ${st.balance} nanoton, cannot send ${msg.value} plus fees`,
      );
    }
    const deployed = st.state === 'active';
    const seqno = deployed ? await seqnoOf(wallet.address) : 0;
    // valid_until in chain time (the node's last block time), so a skewed local clock does not matter
    const chainNow = st.timestampt > 0 ? st.timestampt : Math.floor(Date.now() / 1000);
    const validUntil = chainNow + ttl;
    const transfer = wallet.createTransfer({
      seqno,
      secretKey: key.secretKey,
      sendMode: SendMode.PAY_GAS_SEPARATELY | SendMode.IGNORE_ERRORS,
      timeout: validUntil,
      messages: [internal({ to: msg.to, value: msg.value, bounce: msg.bounce ?? true, body: msg.body, init: msg.init })],
    });
    const ext = external({ to: wallet.address, init: deployed ? null : wallet.init, body: transfer });
    const boc = beginCell().store(storeMessage(ext)).endCell().toBoc();
    await call('sendBoc', () => client.sendFile(boc), true);

    const deadline = Date.now() + confirmTimeoutMs;
    for (;;) {
      try {
        if ((await seqnoOf(wallet.address)) > seqno) return;
      } catch (e) {
        // a rate limit or a hiccup while polling is not a failure of the send
        if (!(e instanceof ChainError && e.retryable)) throw e;
      }
      if (Date.now() >= deadline) {
        throw new ChainError(
          'CHAIN_TIMEOUT',
          `wallet ${wallet.address.toString()}: seqno still ${seqno} after ${confirmTimeoutMs} ms (the message is valid until ${validUntil})`,
        );
      }
      await sleep(pollIntervalMs);
    }
  }

  return {
    readChannel,
    balance: async (address) => (await accountState(address)).balance,
    walletAddress: (publicKey) => WalletContractV4.create({ workchain: 0, publicKey }).address,
    sendFromWallet,
  };
}

export interface WaitOptions {
  /** Default 90 s. */
  timeoutMs?: number;
  /** Default 2 s. */
  pollIntervalMs?: number;
}

/**
 * Polls `readChannel` until `until(channel)` holds; throws CHAIN_TIMEOUT otherwise.
 *
 * @example
 * await waitForChannel(chain, addr, (c) => c !== null && c.lastSeq >= 5n);
 */
export async function waitForChannel(
  chain: TonChain,
  address: Address,
  until: (c: ChannelOnChain | null) => boolean,
  opts: WaitOptions = {},
): Promise<ChannelOnChain | null> {
  const deadline = Date.now() + (opts.timeoutMs ?? 90_000);
  for (;;) {
    try {
      const c = await chain.readChannel(address);
      if (until(c)) return c;
    } catch (e) {
      if (!(e instanceof ChainError && e.retryable)) throw e;
    }
    if (Date.now() >= deadline) throw new ChainError('CHAIN_TIMEOUT', `channel ${address.toString()} did not reach the expected state in time`);
    await sleep(opts.pollIntervalMs ?? 2_000);
  }
}

export interface ClaimResult {
  channel: ChannelOnChain;
  /** Gross nanoton this claim took from the channel (fee share included). */
  claimed: bigint;
}

/**
 * Claims a payer-signed voucher from the payee's wallet: checks it against the channel first (signature,
 * channel address, seq and amount above what was paid, funds), sends the wrapper's `claimBody` with
 * `gasValue` attached (the unspent part comes back with the payout), then waits until the channel has
 * booked it. Nothing is sent when a check fails.
 *
 * @example
 * const { claimed } = await claimOnChain(chain, payeeKey, channelAddress, voucher);
 */
export async function claimOnChain(
  chain: TonChain,
  payeeKey: KeyPair,
  channel: Address,
  signedVoucher: SignedVoucher,
  gasValue: bigint = DEFAULT_GAS_VALUE,
  wait: WaitOptions = {},
): Promise<ClaimResult> {
  const c = await chain.readChannel(channel);
  if (!c) throw new ChainError('NOT_A_CHANNEL', `no active account at ${channel.toString()}`);
  if (c.state === 'closed' || (c.state === 'closing' && c.available === 0n)) {
    throw new ChainError('CHANNEL_NOT_OPEN', `channel ${channel.toString()} no longer accepts claims (${c.state})`);
  }
  if (!chain.walletAddress(payeeKey.publicKey).equals(c.payee)) {
    throw new ChainError('WALLET_MISMATCH', `the key's wallet is not the payee ${c.payee.toString()}`);
  }
  const v = verifyVoucher(signedVoucher, channel, c.payerPublicKey);
  if (!v) throw new ChainError('INVALID_VOUCHER', `voucher is not signed by the payer of ${channel.toString()}`);
  if (v.seq <= c.lastSeq || v.cumulative <= c.paid) {
    throw new ChainError('STALE_VOUCHER', `voucher seq ${v.seq} / cumulative ${v.cumulative} is not above seq ${c.lastSeq} / paid ${c.paid}`);
  }
  const claimed = v.cumulative - c.paid;
  if (claimed > c.available) {
    throw new ChainError('INSUFFICIENT_CHANNEL_FUNDS', `voucher asks ${claimed} nanoton, the channel can pay ${c.available}`);
  }
  await chain.sendFromWallet(payeeKey, { to: channel, value: gasValue, bounce: true, body: claimBody(signedVoucher) });
  const after = await waitForChannel(chain, channel, (x) => x !== null && x.lastSeq >= v.seq, wait);
  return { channel: after!, claimed };
}

/**
 * Deposits `value` into the channel described by `channelConfig` from the payer's wallet: the first
 * deposit deploys the channel (StateInit from the wrapper, with the compiled `code`), later ones top it
 * up. Resolves with the channel once its balance shows the deposit.
 *
 * @example
 * const { code } = await compileContract('payment-channel');
 * const channel = await depositOnChain(chain, payerKey, config, toNano('10'), code);
 */
export async function depositOnChain(
  chain: TonChain,
  payerKey: KeyPair,
  channelConfig: PaymentChannelConfig,
  value: bigint,
  code: Cell,
  wait: WaitOptions = {},
): Promise<ChannelOnChain> {
  if (!chain.walletAddress(payerKey.publicKey).equals(channelConfig.payer)) {
    throw new ChainError('WALLET_MISMATCH', `the key's wallet is not the payer ${channelConfig.payer.toString()}`);
  }
  const pc = PaymentChannel.fromInit(channelConfig, code);
  const before = await chain.readChannel(pc.address);
  if (before && before.state !== 'open') throw new ChainError('CHANNEL_NOT_OPEN', `channel ${pc.address.toString()} is ${before.state}`);
  await chain.sendFromWallet(payerKey, {
    to: pc.address,
    value,
    bounce: true,
    body: topUpBody(),
    ...(before ? {} : { init: pc.init! }),
  });
  const fundsBefore = before?.funds ?? 0n;
  const after = await waitForChannel(chain, pc.address, (c) => c !== null && c.funds > fundsBefore, wait);
  return after!;
}
