import { Address, Cell, fromNano, toNano } from '@ton/core';
import type { KeyPair } from '@ton/crypto';
import { codeBoc64 } from '../contracts/build/payment-channel.ts';
import { depositOnChain, openTonChain, claimOnChain, type TonChain } from '../contracts/chain/index.ts';
import { finishCloseBody, signVoucher, startCloseBody, topUpBody, DEFAULT_GAS_VALUE } from '../contracts/wrappers/PaymentChannel.ts';
import type { AccountSummary } from '../gateway/billing/index.ts';
import { settleClientVouchers } from '../gateway/billing/settle.ts';
import { DEFAULT_DB_PATH, openLibsqlStorage } from '../gateway/storage/libsql.ts';
import { int, parse, readSeedKey, UsageError } from './args.ts';

export const BILLING_HELP = `sealgate billing — TON deposits and payments for an API key (and the operator's collection)

  sealgate billing status                 the key's credit, spending, vouchers and the operator's address
  sealgate billing deposit --amount <TON> deploy a payment channel to the operator with that deposit and
                                          bind it to the key (or top up --channel)
  sealgate billing pay                    sign a voucher for the usage not yet paid and hand it to the gateway
  sealgate billing close --channel <addr> start closing a deposit channel; run again after the dispute
                                          window to take back what the operator has not claimed
  sealgate billing collect                operator: claim every client voucher held in --db (the gateway
                                          does this every --settle-seconds on its own)
  sealgate billing open-payout            operator: deploy a payout channel to a provider (--payee <wallet>
                                          --payee-key <hex>) with --amount, or top up --channel

  --gateway <url>          gateway base URL (env SEALGATE_GATEWAY)
  --api-key <key>          the API key (env SEALGATE_API_KEY)
  --wallet-key <file>      your wallet's Ed25519 seed, 64 hex digits (payer of the deposit channel)
  --ton-endpoint <url>     toncenter v2 JSON-RPC URL (env SEALGATE_TON_ENDPOINT); --ton-api-key <key>
  --channel <addr>         the deposit channel (default: the key's first)
  --dispute-window <s>     deposit: seconds the operator has to claim after you start a close (default 86400)
  --db <file>, --operator-key <file>   collect: the gateway's storage; the operator's seed (collect, open-payout)
  --fee-bps <n>            open-payout: the operator's share of each payout, basis points (default 0)`;

/** `sealgate billing …`: prints one JSON object; returns the exit code. */
export async function runBilling(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const { values } = parse(rest, {
    gateway: { type: 'string' },
    'api-key': { type: 'string' },
    'wallet-key': { type: 'string' },
    'ton-endpoint': { type: 'string' },
    'ton-api-key': { type: 'string' },
    channel: { type: 'string' },
    amount: { type: 'string' },
    'dispute-window': { type: 'string' },
    db: { type: 'string' },
    'operator-key': { type: 'string' },
    payee: { type: 'string' },
    'payee-key': { type: 'string' },
    'fee-bps': { type: 'string' },
  });
  const chain = (): TonChain => {
    const endpoint = values['ton-endpoint'] ?? process.env.SEALGATE_TON_ENDPOINT;
    if (!endpoint) throw new UsageError('--ton-endpoint <url> is required');
    return openTonChain({ endpoint, apiKey: values['ton-api-key'] ?? process.env.SEALGATE_TON_API_KEY });
  };
  const wallet = (): KeyPair => {
    if (!values['wallet-key']) throw new UsageError('--wallet-key <file> is required');
    return readSeedKey(values['wallet-key'], 'wallet-key');
  };
  const print = (x: unknown) => console.log(JSON.stringify(x, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)));

  if (sub === 'collect') {
    if (!values['operator-key']) throw new UsageError('--operator-key <file> is required');
    const key = readSeedKey(values['operator-key'], 'operator-key');
    const c = chain();
    const storage = await openLibsqlStorage(values.db ?? process.env.SEALGATE_DB ?? DEFAULT_DB_PATH);
    try {
      const results = await settleClientVouchers(storage, {
        readChannel: (a) => c.readChannel(a),
        claim: async (ch, v) => {
          await claimOnChain(c, key, ch, v);
        },
      });
      print({ results });
      return results.some((r) => 'error' in r) ? 1 : 0;
    } finally {
      await storage.close();
    }
  }

  if (sub === 'open-payout') {
    if (!values['operator-key']) throw new UsageError('--operator-key <file> is required');
    if (!values.amount || !/^\d+(\.\d{1,9})?$/.test(values.amount)) throw new UsageError('--amount <TON> is required');
    const key = readSeedKey(values['operator-key'], 'operator-key');
    const c = chain();
    if (values.channel) {
      await c.sendFromWallet(key, { to: parseAddress(values.channel), value: toNano(values.amount), body: topUpBody() });
      print(await c.readChannel(parseAddress(values.channel)));
      return 0;
    }
    if (!values.payee || !/^[0-9a-fA-F]{64}$/.test(values['payee-key'] ?? '')) throw new UsageError('--payee <wallet> and --payee-key <64 hex> are required');
    const operator = c.walletAddress(key.publicKey);
    const feeBps = int(values['fee-bps'], 'fee-bps') ?? 0;
    const channel = await depositOnChain(
      c,
      key,
      {
        channelId: randomChannelId(),
        payer: operator,
        payee: parseAddress(values.payee),
        payerPublicKey: key.publicKey,
        payeePublicKey: Buffer.from(values['payee-key']!, 'hex'),
        disputeWindow: int(values['dispute-window'], 'dispute-window') ?? 86_400,
        ...(feeBps > 0 ? { feeRecipient: operator, feeBps } : {}),
      },
      toNano(values.amount),
      Cell.fromBase64(codeBoc64),
    );
    print({ channel: channel.address.toRawString(), funds: channel.funds, payee: channel.payee.toRawString(), feeBps });
    return 0;
  }

  if (sub === 'close') {
    if (!values.channel) throw new UsageError('--channel <address> is required');
    const c = chain();
    const address = parseAddress(values.channel);
    const before = await c.readChannel(address);
    if (!before) throw new Error(`no payment channel at ${values.channel}`);
    const key = wallet();
    if (before.state === 'open') {
      await c.sendFromWallet(key, { to: address, value: DEFAULT_GAS_VALUE, body: startCloseBody() });
    } else if (before.state === 'closing') {
      // The contract refuses (and bounces the gas back) until the dispute window is over: the chain's clock decides.
      await c.sendFromWallet(key, { to: address, value: DEFAULT_GAS_VALUE, body: finishCloseBody() });
    }
    const after = await c.readChannel(address);
    print({ channel: address.toRawString(), state: after?.state ?? 'gone', paid: after?.paid, closeDeadline: after?.closeDeadline });
    return 0;
  }

  const gateway = (values.gateway ?? process.env.SEALGATE_GATEWAY)?.replace(/\/+$/, '');
  if (!gateway) throw new UsageError('--gateway <url> is required');
  const apiKey = values['api-key'] ?? process.env.SEALGATE_API_KEY;
  if (!apiKey) throw new UsageError('--api-key <key> (or SEALGATE_API_KEY) is required');
  const call = async <T>(path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${gateway}/v1/billing${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const json = (await res.json().catch(() => null)) as { error?: { message: string; code: string } } | null;
    if (!res.ok) throw Object.assign(new Error(json?.error?.message ?? `gateway answered ${res.status}`), { code: json?.error?.code });
    return json as T;
  };

  if (sub === 'status') {
    print(await call<AccountSummary>(''));
    return 0;
  }

  if (sub === 'deposit') {
    if (!values.amount || !/^\d+(\.\d{1,9})?$/.test(values.amount)) throw new UsageError('--amount <TON> is required (e.g. 2.5)');
    const value = toNano(values.amount);
    const status = await call<AccountSummary>('');
    if (!status.operator) throw new Error('this gateway does not take TON deposits (billing is off)');
    const c = chain();
    const key = wallet();
    if (values.channel) {
      const address = parseAddress(values.channel);
      await c.sendFromWallet(key, { to: address, value, body: topUpBody() });
      print(await call<AccountSummary>(''));
      return 0;
    }
    const channel = await depositOnChain(
      c,
      key,
      {
        channelId: randomChannelId(),
        payer: c.walletAddress(key.publicKey),
        payee: Address.parse(status.operator.address),
        payerPublicKey: key.publicKey,
        payeePublicKey: Buffer.from(status.operator.publicKey, 'hex'),
        disputeWindow: int(values['dispute-window'], 'dispute-window') ?? 86_400,
      },
      value,
      Cell.fromBase64(codeBoc64),
    );
    const bound = await call<AccountSummary>('/deposits', { channel: channel.address.toRawString() });
    print({ channel: channel.address.toRawString(), deposited: fromNano(value), ...bound });
    return 0;
  }

  if (sub === 'pay') {
    const status = await call<AccountSummary>('');
    const owed = BigInt(status.spent) - BigInt(status.vouchered);
    if (owed <= 0n) {
      print({ paid: '0', ...status });
      return 0;
    }
    const channel = values.channel ? parseAddress(values.channel).toRawString() : status.deposits[0];
    if (!channel) throw new Error('the key has no deposit channel: run sealgate billing deposit first');
    const held = status.vouchers.find((v) => v.channel === channel);
    const voucher = signVoucher(
      { channel: Address.parse(channel), cumulative: BigInt(held?.cumulative ?? 0) + owed, seq: BigInt(held?.seq ?? 0) + 1n },
      wallet().secretKey,
    );
    const after = await call<AccountSummary>('/vouchers', { cell: voucher.cell.toBoc().toString('base64'), signature: voucher.signature.toString('base64') });
    print({ paid: owed.toString(), ...after });
    return 0;
  }

  throw new UsageError(`unknown billing command ${sub ?? ''}`.trim());
}

function parseAddress(s: string): Address {
  try {
    return Address.parse(s);
  } catch {
    throw new UsageError(`${s} is not a TON address`);
  }
}

/** A fresh random channel id: ids are what make each channel's address, and so its vouchers, unique. */
function randomChannelId(): bigint {
  return BigInt('0x' + Buffer.from(crypto.getRandomValues(new Uint8Array(8))).toString('hex'));
}
