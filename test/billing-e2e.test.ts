/**
 * Issue 5 end to end, with every part real: `sealgate gateway` as its own process with TON billing on,
 * a demo worker with prices and a payout channel, the official `openai` client (plain) and `sealedFetch`
 * (sealed), and a TON chain (@ton/sandbox behind a loopback toncenter v2, reached through @ton/ton).
 *
 * The operator opens the provider's payout channel (`sealgate billing open-payout`). A client is refused
 * (429 insufficient_quota) until it deposits (`sealgate billing deposit`: deploys a channel to the operator
 * and binds it to its key). The gateway is killed with SIGKILL in the middle of a burst and restarted on
 * the same storage; the worker's receipt outbox delivers what the dead gateway never acknowledged. The
 * client pays with a voucher (`sealgate billing pay`), the gateway's settle loop claims it, the provider
 * claims with `sealgate worker payouts --claim`, and both channels have paid out exactly what the
 * receipts' prices add up to, to the nanoton. Finally the client closes its channel and gets the rest back.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { Blockchain, type SandboxContract, type TreasuryContract } from '@ton/sandbox';
import { Address, toNano, type Cell } from '@ton/core';
import { keyPairFromSeed, type KeyPair } from '@ton/crypto';
import { compileContract } from '../contracts/compile.ts';
import { depositOnChain, openTonChain, type TonChain } from '../contracts/chain/index.ts';
import { signVoucher, type PaymentChannelConfig } from '../contracts/wrappers/PaymentChannel.ts';
import { DemoBackend, DEMO_MODEL_ID } from '../enclave-runner/backends/demo/index.ts';
import type { Backend } from '../enclave-runner/backends/types.ts';
import { SimulatedTeeProvider } from '../enclave-runner/evidence/simulated.ts';
import { startWorker, type RunningWorker } from '../enclave-runner/node.ts';
import { accountForApiKey, receiptCharge, sealedFetch, type Receipt } from '../sdk/index.ts';
import { signReceiptBatch } from '../sdk/protocol/index.ts';
import { runCli, startCli } from './cli.ts';
import { startTonSandboxServer, type TonSandboxServer } from './ton-sandbox-server.ts';

const PRICE = { prompt: '1000', completion: '3000' }; // nanoton per token
const FEE_BPS = 500;

let dir: string;
let blockchain: Blockchain;
let server: TonSandboxServer;
let chain: TonChain;
let treasury: SandboxContract<TreasuryContract>;
let code: Cell;
const key = () => keyPairFromSeed(Buffer.from(crypto.getRandomValues(new Uint8Array(32))));
let operator: KeyPair, client: KeyPair, provider: KeyPair;
let clientChannel: Address, providerChannel: Address, strangerChannel: Address;
let port: number;
let gatewayUrl: string;
let gatewayProc: ChildProcess | undefined;
let worker: RunningWorker | undefined;
let apiKey: string;
let served = 0;

function seedFile(name: string, k: KeyPair): string {
  const path = join(dir, name);
  writeFileSync(path, k.secretKey.subarray(0, 32).toString('hex'));
  chmodSync(path, 0o600);
  return path;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return p;
}

async function startGatewayProcess(settleSeconds = 3600): Promise<void> {
  const g = await startCli(
    [
      'gateway',
      '--port', String(port),
      '--db', join(dir, 'gateway.db'),
      '--policy', join(dir, 'policy.json'),
      '--ton-endpoint', server.url,
      '--operator-key', join(dir, 'operator.key'),
      '--client-credit', '100000000',
      '--settle-seconds', String(settleSeconds),
      '--quiet',
    ],
    /listening on (http:\S+)/,
  );
  gatewayProc = g.proc;
  gatewayUrl = g.match[1]!;
}

function channelConfig(payer: KeyPair, payee: KeyPair, fee?: Address): PaymentChannelConfig {
  return {
    channelId: BigInt('0x' + Buffer.from(crypto.getRandomValues(new Uint8Array(8))).toString('hex')),
    payer: chain.walletAddress(payer.publicKey),
    payee: chain.walletAddress(payee.publicKey),
    payerPublicKey: payer.publicKey,
    payeePublicKey: payee.publicKey,
    disputeWindow: 86_400,
    ...(fee ? { feeRecipient: fee, feeBps: FEE_BPS } : {}),
  };
}

/** Runs `sealgate <args>` and parses its JSON output. */
async function cli(args: string[]): Promise<Record<string, any>> {
  const r = await runCli(args, { SEALGATE_API_KEY: apiKey ?? '' });
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

const billing = async (path: string, init: RequestInit = {}) => {
  const res = await fetch(`${gatewayUrl}/v1/billing${path}`, {
    ...init,
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', ...init.headers },
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sealgate-billing-'));
  blockchain = await Blockchain.create();
  blockchain.now = 1_800_000_000;
  server = await startTonSandboxServer(blockchain);
  chain = openTonChain({ endpoint: server.url, pollIntervalMs: 20, confirmTimeoutMs: 10_000 });
  treasury = await blockchain.treasury('treasury');
  code = (await compileContract('payment-channel')).code;
  [operator, client, provider] = [key(), key(), key()];
  for (const k of [operator, client, provider]) {
    await treasury.send({ to: chain.walletAddress(k.publicKey), value: toNano('100'), bounce: false });
  }
  seedFile('operator.key', operator);
  seedFile('client.key', client);
  seedFile('provider.key', provider);
  // A stranger's channel (to check the gateway refuses a channel that does not pay the operator).
  strangerChannel = (await depositOnChain(chain, client, channelConfig(client, provider), toNano('1'), code)).address;
  // The operator opens the provider's payout channel (5 % of each payout to the operator).
  const opened = await cli([
    'billing', 'open-payout', '--operator-key', join(dir, 'operator.key'), '--ton-endpoint', server.url, '--amount', '10',
    '--payee', chain.walletAddress(provider.publicKey).toString(), '--payee-key', provider.publicKey.toString('hex'), '--fee-bps', String(FEE_BPS),
  ]);
  providerChannel = Address.parse(opened.channel);

  writeFileSync(join(dir, 'policy.json'), JSON.stringify({ allowSimulated: true }));
  const created = await runCli(['keys', 'create', '--name', 'billing', '--json', '--db', join(dir, 'gateway.db')]);
  apiKey = (JSON.parse(created.stdout) as { key: string }).key;
  port = await freePort();
  await startGatewayProcess();

  const demo = new DemoBackend();
  const counting: Backend = {
    name: demo.name,
    models: () => demo.models(),
    handle: (endpoint, body, signal) => {
      served++;
      return demo.handle(endpoint, body, signal);
    },
  };
  worker = await startWorker({
    gatewayUrl,
    backend: counting,
    tee: await SimulatedTeeProvider.create(),
    prices: { [DEMO_MODEL_ID]: PRICE },
    payoutChannel: providerChannel.toString(),
  });
}, 60_000);

afterAll(async () => {
  await worker?.kill().catch(() => {});
  gatewayProc?.kill('SIGKILL');
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

const ask = (openai: OpenAI, i: number) =>
  openai.chat.completions.create({
    model: DEMO_MODEL_ID,
    messages: [{ role: 'user', content: `Request ${i} asks for a summary. It has a second sentence about billing. And a third one.` }],
  });

describe('TON billing end to end', () => {
  it('refuses a key without a deposit, then serves it, bills every served request exactly once across a SIGKILL, and pays out exactly', async () => {
    const openai = new OpenAI({ baseURL: `${gatewayUrl}/v1`, apiKey, maxRetries: 0 });

    // No deposit yet: 429 insufficient_quota, and the client is told not to retry.
    const refused = await ask(openai, 0).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OpenAI.APIError);
    expect((refused as InstanceType<typeof OpenAI.APIError>).status).toBe(429);
    expect((refused as InstanceType<typeof OpenAI.APIError>).code).toBe('insufficient_quota');
    expect((refused as InstanceType<typeof OpenAI.APIError>).headers?.get('x-should-retry')).toBe('false');
    expect(served).toBe(0);

    // A channel that does not pay the operator is refused; the client deposits with the CLI, which binds its channel.
    const wrong = await billing('/deposits', { method: 'POST', body: JSON.stringify({ channel: strangerChannel.toString() }) });
    expect(wrong.status).toBe(400);
    expect(wrong.body.error.code).toBe('wrong_payee');
    const deposited = await cli(['billing', 'deposit', '--gateway', gatewayUrl, '--amount', '10', '--wallet-key', join(dir, 'client.key'), '--ton-endpoint', server.url]);
    clientChannel = Address.parse(deposited.channel);
    expect(deposited.deposits).toEqual([clientChannel.toRawString()]);
    expect(BigInt(deposited.credit)).toBe((await chain.readChannel(clientChannel))!.funds - toNano('0.01'));

    // Served: plain (streamed and not) and sealed; a price cap below the worker's price finds no worker.
    const ok: string[] = [];
    for (let i = 1; i <= 3; i++) ok.push((await ask(openai, i).withResponse()).request_id!);
    const stream = await openai.chat.completions
      .create({ model: DEMO_MODEL_ID, messages: [{ role: 'user', content: 'Request 4 streams. It has two sentences.' }], stream: true, stream_options: { include_usage: true } })
      .withResponse();
    for await (const _ of stream.data);
    ok.push(stream.request_id!);
    const sealedReceipts: Receipt[] = [];
    const sealed = new OpenAI({
      baseURL: `${gatewayUrl}/v1`,
      apiKey,
      maxRetries: 0,
      fetch: sealedFetch({ policy: { allowSimulated: true }, onReceipt: (r) => sealedReceipts.push(r), maxPrice: { prompt: 1000, completion: 3000 } }),
    });
    await ask(sealed, 5);
    expect(sealedReceipts).toHaveLength(1);
    expect(sealedReceipts[0]!.account).toBe(accountForApiKey(apiKey));
    expect(sealedReceipts[0]!.price).toEqual(PRICE);
    const capped = await fetch(`${gatewayUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', 'x-sealgate-max-price': '999,3000' },
      body: JSON.stringify({ model: DEMO_MODEL_ID, messages: [{ role: 'user', content: 'x' }] }),
    });
    expect(capped.status).toBe(503);
    expect(((await capped.json()) as { error: { code: string } }).error.code).toBe('no_worker_within_price');

    // SIGKILL the gateway in the middle of a burst; some requests die with it, the worker finishes them.
    const servedBefore = served;
    const burst = Array.from({ length: 12 }, (_, i) => ask(openai, 100 + i).withResponse());
    while (served < servedBefore + 2) await new Promise((r) => setImmediate(r));
    gatewayProc!.kill('SIGKILL');
    const outcomes = await Promise.allSettled(burst);
    for (const o of outcomes) if (o.status === 'fulfilled') ok.push(o.value.request_id!);
    await startGatewayProcess(1);
    // The worker re-registers on its next heartbeat and delivers every receipt the dead gateway did not acknowledge.
    for (let i = 0; i < 200 && (worker!.worker.pendingReceipts > 0 || !(await fetch(`${gatewayUrl}/healthz`).then((r) => r.json() as Promise<{ workers: number }>)).workers); i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(worker!.worker.pendingReceipts).toBe(0);
    for (let i = 200; i < 202; i++) ok.push((await ask(openai, i).withResponse()).request_id!);
    await new Promise((r) => setTimeout(r, 300));
    expect(worker!.worker.pendingReceipts).toBe(0);

    // Exactly one receipt per request the worker served, every answered request among them, each charged its price.
    const { body: list } = await billing('/receipts?limit=1000');
    const receipts = list.data as Array<Receipt & { charge: string }>;
    expect(receipts).toHaveLength(served);
    expect(new Set(receipts.map((r) => r.requestId)).size).toBe(served);
    for (const id of ok) expect(receipts.map((r) => r.requestId)).toContain(id);
    let total = 0n;
    for (const r of receipts) {
      expect(r.account).toBe(accountForApiKey(apiKey));
      expect(r.price).toEqual(PRICE);
      expect(r.promptTokens).toBeGreaterThan(0);
      expect(BigInt(r.charge)).toBe(receiptCharge(r));
      total += BigInt(r.charge);
    }
    const summary = (await billing('')).body;
    expect(BigInt(summary.spent)).toBe(total);

    // A receipt sent twice is counted once.
    const w = worker!.worker;
    const token = (w as unknown as { token: string }).token;
    const { charge: _c, batchId: _b, sig, ...first } = receipts[0]! as Receipt & { charge: string; batchId: string };
    const again = await fetch(`${gatewayUrl}/v1/workers/${w.id}/receipts`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ batch: await signReceiptBatch(w.id!, [{ ...first, ...(sig ? { sig } : {}) }], w.keys.receipt.secretKey) }),
    });
    expect(await again.json()).toEqual({ stored: 0, duplicates: 1, refused: [] });
    expect((await billing('')).body.spent).toBe(total.toString());

    // The client pays what its receipts add up to (a voucher for more is refused); the gateway claims it on its own.
    const over = signVoucher({ channel: clientChannel, cumulative: total + 1n, seq: 1n }, client.secretKey);
    const overRes = await billing('/vouchers', { method: 'POST', body: JSON.stringify({ cell: over.cell.toBoc().toString('base64'), signature: over.signature.toString('base64') }) });
    expect(overRes.body.error.code).toBe('voucher_exceeds_usage');
    const paid = await cli(['billing', 'pay', '--gateway', gatewayUrl, '--wallet-key', join(dir, 'client.key')]);
    expect(paid).toMatchObject({ paid: total.toString(), vouchered: total.toString() });
    for (let i = 0; i < 100 && (await chain.readChannel(clientChannel))!.paid < total; i++) await new Promise((r) => setTimeout(r, 100));
    expect((await chain.readChannel(clientChannel))!.paid).toBe(total);
    const collected = await cli(['billing', 'collect', '--db', join(dir, 'gateway.db'), '--operator-key', join(dir, 'operator.key'), '--ton-endpoint', server.url]);
    expect(collected.results).toEqual([{ channel: clientChannel.toRawString(), skipped: 'paid' }]);

    // The provider sees what it is owed and claims it with the CLI; the channel pays exactly the receipts' sum.
    const before = await runCli(['worker', 'payouts', '--gateway', gatewayUrl, '--channel', providerChannel.toString(), '--ton-endpoint', server.url]);
    expect(before.code, before.stderr).toBe(0);
    expect(JSON.parse(before.stdout)).toMatchObject({ receipts: served, owed: total.toString(), paid: '0', claimable: total.toString() });
    const walletBefore = await chain.balance(chain.walletAddress(provider.publicKey));
    const claim = await runCli([
      'worker', 'payouts', '--gateway', gatewayUrl, '--channel', providerChannel.toString(),
      '--ton-endpoint', server.url, '--claim', '--wallet-key', join(dir, 'provider.key'),
    ]);
    expect(claim.code, claim.stderr).toBe(0);
    expect(JSON.parse(claim.stdout)).toMatchObject({ claimed: total.toString() });
    const after = (await chain.readChannel(providerChannel))!;
    expect(after.paid).toBe(total);
    const fee = (total * BigInt(FEE_BPS)) / 10_000n;
    const walletAfter = await chain.balance(chain.walletAddress(provider.publicKey));
    // The provider's wallet got its share (the receipts' sum less the fee), less what the claim's gas cost it.
    expect(walletAfter - walletBefore).toBeLessThanOrEqual(total - fee);
    expect(walletAfter - walletBefore).toBeGreaterThan(total - fee - toNano('0.05'));

    // The client leaves: it starts a close, and after the dispute window takes back everything not paid.
    const fundsBefore = (await chain.readChannel(clientChannel))!.funds;
    const clientBefore = await chain.balance(chain.walletAddress(client.publicKey));
    const closing = await cli(['billing', 'close', '--channel', clientChannel.toString(), '--wallet-key', join(dir, 'client.key'), '--ton-endpoint', server.url]);
    expect(closing.state).toBe('closing');
    const early = await cli(['billing', 'close', '--channel', clientChannel.toString(), '--wallet-key', join(dir, 'client.key'), '--ton-endpoint', server.url]);
    expect(early.state).toBe('closing'); // the contract refuses to finish inside the window
    blockchain.now! += 86_401;
    const closed = await cli(['billing', 'close', '--channel', clientChannel.toString(), '--wallet-key', join(dir, 'client.key'), '--ton-endpoint', server.url]);
    expect(closed).toMatchObject({ state: 'closed', paid: total.toString() });
    const left = (await chain.readChannel(clientChannel))!;
    expect(left.funds).toBe(toNano('0.01'));
    const refunded = (await chain.balance(chain.walletAddress(client.publicKey))) - clientBefore;
    // Everything but the reserve came back, less the three close messages' own fees.
    expect(refunded).toBeLessThanOrEqual(fundsBefore - toNano('0.01'));
    expect(refunded).toBeGreaterThan(fundsBefore - toNano('0.01') - toNano('0.1'));
  }, 120_000);
});
