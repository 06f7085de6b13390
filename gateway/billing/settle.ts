import { Address, Cell } from '@ton/core';
import type { SignedVoucher } from '../../contracts/wrappers/PaymentChannel.ts';
import type { Storage } from '../storage/types.ts';

/** What settling needs from the chain: reading a channel and claiming from the operator's wallet. */
export interface SettleChain {
  readChannel(address: Address): Promise<{ state: 'open' | 'closing' | 'closed'; paid: bigint; lastSeq: bigint; available: bigint } | null>;
  claim(channel: Address, voucher: SignedVoucher): Promise<void>;
}

export type SettleResult =
  | { channel: string; claimed: string }
  | { channel: string; skipped: 'paid' | 'gone' | 'closed' }
  | { channel: string; error: string };

/**
 * The operator collects what clients owe: for every held client voucher above
 * what its channel has paid, a claim (while the channel still accepts one —
 * open, or closing inside its dispute window). One failure does not stop the rest.
 *
 * @example
 * const results = await settleClientVouchers(storage, { readChannel: chain.readChannel, claim: (ch, v) => claimOnChain(chain, operatorKey, ch, v).then(() => {}) });
 */
export async function settleClientVouchers(storage: Storage, chain: SettleChain): Promise<SettleResult[]> {
  const out: SettleResult[] = [];
  for (const v of await storage.listVouchers()) {
    const channel = Address.parse(v.channel);
    try {
      const c = await chain.readChannel(channel);
      if (!c) out.push({ channel: v.channel, skipped: 'gone' });
      else if (c.paid >= v.cumulative || c.lastSeq >= v.seq) out.push({ channel: v.channel, skipped: 'paid' });
      else if (c.state === 'closed' || c.available === 0n) out.push({ channel: v.channel, skipped: 'closed' });
      else {
        await chain.claim(channel, { cell: Cell.fromBase64(v.cell), signature: Buffer.from(v.signature, 'base64') });
        out.push({ channel: v.channel, claimed: (v.cumulative - c.paid).toString() });
      }
    } catch (e) {
      out.push({ channel: v.channel, error: e instanceof Error ? e.message : String(e) });
    }
  }
  return out;
}
