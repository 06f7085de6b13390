import { describe, expect, it } from 'vitest';
import { ed25519 } from '@noble/curves/ed25519.js';
import { accountForApiKey, receiptCharge, signReceipt, signReceiptBatch, verifyReceipt, verifyReceiptBatch, type UnsignedReceipt } from './index.ts';
import { isSealError } from './errors.ts';

const sk = ed25519.utils.randomSecretKey();
const pk = ed25519.getPublicKey(sk);
const base: UnsignedReceipt = {
  v: 1,
  requestId: 'req_1',
  workerId: 'wk_1',
  model: 'm',
  endpoint: 'chat.completions',
  promptTokens: 12,
  completionTokens: 40,
  requestDigest: 'aa',
  responseDigest: 'bb',
  time: 1,
  account: accountForApiKey('sk-sg-test'),
  price: { prompt: '1000', completion: '3000' },
};

async function rejects(p: Promise<unknown>): Promise<string> {
  const e = await p.then(() => null, (x: unknown) => x);
  expect(isSealError(e)).toBe(true);
  return (e as { code: string }).code;
}

describe('receipts', () => {
  it('charge = tokens × price, exactly, beyond 2^53', () => {
    expect(receiptCharge(base)).toBe(12n * 1000n + 40n * 3000n);
    expect(receiptCharge({ promptTokens: 2 ** 40, completionTokens: 0, price: { prompt: '9999999999999', completion: '0' } })).toBe(2n ** 40n * 9999999999999n);
  });

  it('an account is acct_ + 32 hex digits of SHA-256(key)', () => {
    expect(accountForApiKey('abc')).toBe('acct_ba7816bf8f01cfea414140de5dae2223');
  });

  it('signs the account and the price: changing either breaks the signature', async () => {
    const r = await signReceipt(base, sk);
    await verifyReceipt(r, pk);
    expect(await rejects(verifyReceipt({ ...r, account: accountForApiKey('other') }, pk))).toBe('RECEIPT_INVALID');
    expect(await rejects(verifyReceipt({ ...r, price: { prompt: '1', completion: '3000' } }, pk))).toBe('RECEIPT_INVALID');
    expect(await rejects(verifyReceipt({ ...r, price: { prompt: '-1', completion: '3000' } }, pk))).toBe('RECEIPT_INVALID');
  });
});

describe('receipt batches', () => {
  it('one signature covers plain receipts and sealed ones (with their own sig); every field of every receipt is bound', async () => {
    const sealed = await signReceipt({ ...base, requestId: 'req_2' }, sk);
    const batch = await signReceiptBatch('wk_1', [base, sealed], sk);
    const ok = await verifyReceiptBatch(JSON.parse(JSON.stringify(batch)), pk);
    expect(ok.receipts.map((r) => r.sig)).toEqual([undefined, sealed.sig]);
    expect(ok.body).toContain('"workerId":"wk_1"');
    const mutations: Array<(b: typeof batch) => unknown> = [
      (b) => ({ ...b, workerId: 'wk_2' }),
      (b) => ({ ...b, receipts: [b.receipts[1], b.receipts[0]] }),
      (b) => ({ ...b, receipts: [b.receipts[0]] }),
      (b) => ({ ...b, receipts: [{ ...b.receipts[0]!, sig: 'x' }, b.receipts[1]] }),
      (b) => ({ ...b, receipts: [b.receipts[0], { ...b.receipts[1]!, sig: undefined }] }),
      (b) => ({ ...b, sig: b.sig.slice(0, -2) + (b.sig.endsWith('A') ? 'BA' : 'AA') }),
    ];
    for (const k of Object.keys(base) as Array<keyof UnsignedReceipt>) {
      if (k === 'v') continue;
      const v = base[k];
      const changed = typeof v === 'number' ? v + 1 : typeof v === 'string' ? v + '0' : { prompt: '1', completion: '1' };
      mutations.push((b) => ({ ...b, receipts: [{ ...b.receipts[0]!, [k]: changed }, b.receipts[1]] }));
    }
    for (const m of mutations) expect(await rejects(verifyReceiptBatch(m(batch), pk))).toBe('RECEIPT_INVALID');
    expect(await rejects(verifyReceiptBatch(batch, ed25519.getPublicKey(ed25519.utils.randomSecretKey())))).toBe('RECEIPT_INVALID');
  });

  it('refuses malformed batches', async () => {
    const batch = await signReceiptBatch('wk_1', [base], sk);
    for (const bad of [null, {}, { ...batch, v: 2 }, { ...batch, receipts: [] }, { ...batch, receipts: 'x' }, { ...batch, receipts: [{ ...base, promptTokens: -1 }] }, { ...batch, receipts: Array(1025).fill(base) }]) {
      expect(await rejects(verifyReceiptBatch(bad, pk))).toBe('RECEIPT_INVALID');
    }
  });
});
