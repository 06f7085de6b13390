import { Address, Cell } from '@ton/core';
import { openTonChain, claimOnChain } from '../contracts/chain/index.ts';
import { verifyVoucher } from '../contracts/wrappers/PaymentChannel.ts';
import type { PayoutVoucher } from '../gateway/billing/index.ts';
import { parse, readSeedKey, UsageError } from './args.ts';

/** What `sealgate worker payouts` prints (JSON, one object). */
export interface PayoutReport {
  channel: string;
  /** Receipts the gateway counted for this channel, and what they add up to (nanoton). */
  receipts: number;
  owed: string;
  /** Paid out on chain so far and still claimable (with --ton-endpoint). */
  paid?: string;
  claimable?: string;
  /** What this run claimed (with --claim). */
  claimed?: string;
}

/**
 * `sealgate worker payouts`: fetches the operator's newest voucher for the
 * provider's channel, checks it against the channel's payer key on chain, and
 * with `--claim` claims it from the provider's wallet.
 */
export async function runPayouts(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    gateway: { type: 'string' },
    channel: { type: 'string' },
    'ton-endpoint': { type: 'string' },
    'ton-api-key': { type: 'string' },
    claim: { type: 'boolean' },
    'wallet-key': { type: 'string' },
  });
  const gateway = (values.gateway ?? process.env.SEALGATE_GATEWAY)?.replace(/\/+$/, '');
  if (!gateway) throw new UsageError('--gateway <url> is required');
  if (!values.channel) throw new UsageError('--channel <address> is required');
  let channel: Address;
  try {
    channel = Address.parse(values.channel);
  } catch {
    throw new UsageError('--channel must be a TON address');
  }
  const endpoint = values['ton-endpoint'] ?? process.env.SEALGATE_TON_ENDPOINT;
  if (values.claim && (!endpoint || !values['wallet-key'])) throw new UsageError('--claim needs --ton-endpoint and --wallet-key');

  const res = await fetch(`${gateway}/v1/payouts/${encodeURIComponent(channel.toRawString())}`);
  if (res.status === 404) {
    console.log(JSON.stringify({ channel: channel.toRawString(), receipts: 0, owed: '0' } satisfies PayoutReport));
    return 0;
  }
  if (!res.ok) throw new Error(`gateway answered ${res.status}: ${await res.text()}`);
  const v = (await res.json()) as PayoutVoucher;
  const report: PayoutReport = { channel: channel.toRawString(), receipts: v.receipts, owed: v.cumulative };
  if (!endpoint) {
    console.log(JSON.stringify(report));
    return 0;
  }
  const chain = openTonChain({ endpoint, apiKey: values['ton-api-key'] ?? process.env.SEALGATE_TON_API_KEY });
  const onChain = await chain.readChannel(channel);
  if (!onChain) throw new Error(`no payment channel is deployed at ${channel.toString()}`);
  const signed = { cell: Cell.fromBoc(Buffer.from(v.cell, 'base64'))[0]!, signature: Buffer.from(v.signature, 'base64') };
  const voucher = verifyVoucher(signed, channel, onChain.payerPublicKey);
  if (!voucher || voucher.cumulative.toString() !== v.cumulative) {
    throw new Error("the gateway's voucher does not verify with the channel's payer key");
  }
  report.paid = onChain.paid.toString();
  report.claimable = (voucher.cumulative > onChain.paid ? voucher.cumulative - onChain.paid : 0n).toString();
  if (values.claim && voucher.cumulative > onChain.paid) {
    const { claimed } = await claimOnChain(chain, readSeedKey(values['wallet-key']!, 'wallet-key'), channel, signed);
    report.claimed = claimed.toString();
  }
  console.log(JSON.stringify(report));
  return 0;
}
