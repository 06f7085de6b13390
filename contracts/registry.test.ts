import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Blockchain, internal, type SandboxContract, type SendMessageResult, type TreasuryContract } from '@ton/sandbox';
import { type Address, beginCell, type Cell, fromNano, toNano, type Transaction } from '@ton/core';
import { compileContract } from './compile.ts';
import {
  Registry,
  RegistryAction,
  RegistryError,
  RegistryKind,
  REGISTRY_EVENT_TOPIC,
  REGISTRY_STORAGE_RESERVE,
  parseRegistryEvent,
  type RegistryEvent,
} from './wrappers/Registry.ts';

const DELAY = 3 * 24 * 3600; // 3 days
const T0 = 1_800_000_000;
const WALLET_VALUE = toNano('0.05'); // what a wallet normally attaches

const M1 = 0x1111111111111111111111111111111111111111111111111111111111111111n;
const M2 = 0x2222222222222222222222222222222222222222222222222222222222222222n;
const MODEL1 = new Uint8Array(32).fill(0xab);
const MODEL1_INT = BigInt('0x' + 'ab'.repeat(32));

/** Gas per operation (compute phase of the registry's transaction), collected for bench/RESULTS.md. */
const gas = new Map<string, { gasUsed: number; gasFees: bigint; totalFees: bigint }[]>();

function record(op: string | undefined, tx: Transaction) {
  if (!op) return;
  const d = tx.description;
  if (d.type !== 'generic' || d.computePhase.type !== 'vm') return;
  const arr = gas.get(op) ?? [];
  arr.push({ gasUsed: Number(d.computePhase.gasUsed), gasFees: d.computePhase.gasFees, totalFees: tx.totalFees.coins });
  gas.set(op, arr);
}

function isTo(tx: Transaction, addr: Address): boolean {
  const info = tx.inMessage?.info;
  return info?.type === 'internal' && info.dest.equals(addr);
}

function computeOf(tx: Transaction): { exitCode: number; success: boolean; aborted: boolean } {
  const d = tx.description;
  if (d.type !== 'generic') throw new Error(`unexpected tx type ${d.type}`);
  const c = d.computePhase;
  if (c.type !== 'vm') throw new Error(`compute phase skipped: ${c.reason}`);
  return { exitCode: c.exitCode, success: c.success, aborted: d.aborted };
}

/** The registry's transaction in `res` (exactly one). */
function registryTx(res: SendMessageResult, registry: Address): Transaction {
  const txs = res.transactions.filter((t) => isTo(t, registry));
  expect(txs).toHaveLength(1);
  return txs[0]!;
}

function expectOk(res: SendMessageResult, registry: Address, op?: string): Transaction {
  const tx = registryTx(res, registry);
  const c = computeOf(tx);
  expect(c.exitCode, `exit code of ${op ?? 'op'}`).toBe(0);
  expect(c.aborted).toBe(false);
  record(op, tx);
  return tx;
}

function expectFail(res: SendMessageResult, registry: Address, exitCode: number, op?: string): Transaction {
  const tx = registryTx(res, registry);
  const c = computeOf(tx);
  expect(c.exitCode).toBe(exitCode);
  expect(c.aborted).toBe(true);
  record(op, tx);
  return tx;
}

/** Value of the messages the registry sent to `to` in `res`. */
function paidTo(res: SendMessageResult, registry: Address, to: Address): bigint {
  let sum = 0n;
  for (const tx of res.transactions) {
    const info = tx.inMessage?.info;
    if (info?.type === 'internal' && info.src.equals(registry) && info.dest.equals(to)) sum += info.value.coins;
  }
  return sum;
}

let code: Cell;

beforeAll(async () => {
  code = (await compileContract('registry')).code;
});

afterAll(() => {
  // printed for bench/RESULTS.md ("## TON registry gas"): one row per labelled operation
  const lines = ['| operation | runs | gas used | compute fee (TON) | registry tx total fees (TON) |', '|---|---|---|---|---|'];
  for (const [op, v] of gas) {
    const g = [...new Set(v.map((x) => x.gasUsed))].join(' / ');
    const f = [...new Set(v.map((x) => fromNano(x.gasFees)))].join(' / ');
    const t = [...new Set(v.map((x) => fromNano(x.totalFees)))].join(' / ');
    lines.push(`| ${op} | ${v.length} | ${g} | ${f} | ${t} |`);
  }
  console.log('REGISTRY_GAS\n' + lines.join('\n'));
});

describe('registry contract', () => {
  let bc: Blockchain;
  let owner: SandboxContract<TreasuryContract>;
  let other: SandboxContract<TreasuryContract>;
  let registry: SandboxContract<Registry>;

  beforeEach(async () => {
    bc = await Blockchain.create();
    bc.now = T0;
    owner = await bc.treasury('owner');
    other = await bc.treasury('other');
    registry = bc.openContract(Registry.fromInit({ owner: owner.address, delay: DELAY }, code));
    const res = await registry.sendDeploy(owner.getSender(), toNano('0.1'));
    expectOk(res as unknown as SendMessageResult, registry.address, 'deploy (empty body, 0.1 TON)');
  });

  async function propose(action: RegistryAction, kind: RegistryKind, hash: bigint | Uint8Array) {
    return (await registry.sendPropose(owner.getSender(), action, kind, hash)) as unknown as SendMessageResult;
  }

  function events(res: SendMessageResult): RegistryEvent[] {
    const out: RegistryEvent[] = [];
    for (const e of res.externals) {
      if (!e.info.src.equals(registry.address)) continue;
      expect(e.info.dest?.value).toBe(REGISTRY_EVENT_TOPIC);
      const ev = parseRegistryEvent(e.body);
      expect(ev).not.toBeNull();
      out.push(ev!);
    }
    return out;
  }

  it('emits an event for each proposal, cancellation and application', async () => {
    const r1 = await propose(RegistryAction.Add, RegistryKind.Measurement, M1);
    expect(events(r1)).toEqual([
      { type: 'proposed', kind: RegistryKind.Measurement, hash: M1, action: RegistryAction.Add, effectiveAt: T0 + DELAY },
    ]);
    const r2 = await propose(RegistryAction.Add, RegistryKind.Model, M2);
    bc.now = T0 + 5;
    const r3 = (await registry.sendCancel(owner.getSender(), RegistryKind.Model, M2)) as unknown as SendMessageResult;
    expect(events(r3)).toEqual([{ type: 'cancelled', kind: RegistryKind.Model, hash: M2, action: RegistryAction.Add }]);
    bc.now = T0 + DELAY + 7;
    const r4 = (await registry.sendApply(other.getSender(), RegistryKind.Measurement, M1)) as unknown as SendMessageResult;
    expect(events(r4)).toEqual([
      { type: 'applied', kind: RegistryKind.Measurement, hash: M1, action: RegistryAction.Add, at: T0 + DELAY + 7 },
    ]);
    // failed messages emit nothing
    const r5 = (await registry.sendApply(other.getSender(), RegistryKind.Model, M2)) as unknown as SendMessageResult;
    expect(events(r5)).toEqual([]);
    expect(events(r2)).toHaveLength(1);
  });

  it('commits the delay in its address; the wrapper refuses an unusable delay', () => {
    const a = Registry.fromInit({ owner: owner.address, delay: DELAY }, code).address;
    const b = Registry.fromInit({ owner: owner.address, delay: DELAY - 1 }, code).address;
    expect(a.equals(registry.address)).toBe(true);
    expect(a.equals(b)).toBe(false);
    expect(() => Registry.fromInit({ owner: owner.address, delay: 2 ** 32 }, code)).toThrow(RangeError);
    expect(() => Registry.fromInit({ owner: owner.address, delay: -1 }, code)).toThrow(RangeError);
  });

  it('publishes its parameters', async () => {
    const p = await registry.getParams();
    expect(p.owner.equals(owner.address)).toBe(true);
    expect(p.pendingOwner).toBeNull();
    expect(p.delay).toBe(DELAY);
    expect(p.storageReserve).toBe(REGISTRY_STORAGE_RESERVE);
    expect(await registry.getIsAllowed(RegistryKind.Measurement, M1)).toEqual({ allowed: false, since: 0 });
    expect((await registry.getAllowed(RegistryKind.Measurement)).size).toBe(0);
    expect((await registry.getPending(RegistryKind.Model)).size).toBe(0);
  });

  it('adds a measurement only after the delay; anyone can apply', async () => {
    expectOk(await propose(RegistryAction.Add, RegistryKind.Measurement, M1), registry.address, 'propose add');
    expect(await registry.getPendingChange(RegistryKind.Measurement, M1)).toEqual({
      action: RegistryAction.Add,
      effectiveAt: T0 + DELAY,
    });
    // not allowed yet, and applying early fails (by the owner and by anyone)
    expect((await registry.getIsAllowed(RegistryKind.Measurement, M1)).allowed).toBe(false);
    bc.now = T0 + DELAY - 1;
    expectFail(
      (await registry.sendApply(other.getSender(), RegistryKind.Measurement, M1)) as unknown as SendMessageResult,
      registry.address,
      RegistryError.tooEarly,
      'apply too early (rejected)',
    );
    expectFail(
      (await registry.sendApply(owner.getSender(), RegistryKind.Measurement, M1)) as unknown as SendMessageResult,
      registry.address,
      RegistryError.tooEarly,
    );
    expect((await registry.getIsAllowed(RegistryKind.Measurement, M1)).allowed).toBe(false);

    bc.now = T0 + DELAY;
    expectOk(
      (await registry.sendApply(other.getSender(), RegistryKind.Measurement, M1)) as unknown as SendMessageResult,
      registry.address,
      'apply add',
    );
    expect(await registry.getIsAllowed(RegistryKind.Measurement, M1)).toEqual({ allowed: true, since: T0 + DELAY });
    expect(await registry.getPendingChange(RegistryKind.Measurement, M1)).toBeNull();
    // kinds are separate lists
    expect((await registry.getIsAllowed(RegistryKind.Model, M1)).allowed).toBe(false);
    const all = await registry.getAllowed(RegistryKind.Measurement);
    expect([...all.keys()]).toEqual([M1]);
    expect(all.get(M1)).toEqual({ since: T0 + DELAY });
    // applying again: nothing pending
    expectFail(
      (await registry.sendApply(other.getSender(), RegistryKind.Measurement, M1)) as unknown as SendMessageResult,
      registry.address,
      RegistryError.noPending,
    );
  });

  it('removes an entry only after the delay', async () => {
    expectOk(await propose(RegistryAction.Add, RegistryKind.Model, MODEL1), registry.address);
    bc.now = T0 + DELAY;
    expectOk((await registry.sendApply(owner.getSender(), RegistryKind.Model, MODEL1)) as unknown as SendMessageResult, registry.address);
    expect((await registry.getIsAllowed(RegistryKind.Model, MODEL1_INT)).allowed).toBe(true);

    const t1 = T0 + DELAY + 100;
    bc.now = t1;
    expectOk(await propose(RegistryAction.Remove, RegistryKind.Model, MODEL1), registry.address, 'propose remove');
    expect(await registry.getPendingChange(RegistryKind.Model, MODEL1)).toEqual({
      action: RegistryAction.Remove,
      effectiveAt: t1 + DELAY,
    });
    const pending = await registry.getPending(RegistryKind.Model);
    expect(pending.get(MODEL1_INT)).toEqual({ action: RegistryAction.Remove, effectiveAt: t1 + DELAY });

    bc.now = t1 + DELAY - 1;
    expectFail(
      (await registry.sendApply(other.getSender(), RegistryKind.Model, MODEL1)) as unknown as SendMessageResult,
      registry.address,
      RegistryError.tooEarly,
    );
    // still allowed while the removal is pending
    expect((await registry.getIsAllowed(RegistryKind.Model, MODEL1)).allowed).toBe(true);

    bc.now = t1 + DELAY;
    expectOk(
      (await registry.sendApply(other.getSender(), RegistryKind.Model, MODEL1)) as unknown as SendMessageResult,
      registry.address,
      'apply remove',
    );
    expect(await registry.getIsAllowed(RegistryKind.Model, MODEL1)).toEqual({ allowed: false, since: 0 });
    expect((await registry.getAllowed(RegistryKind.Model)).size).toBe(0);
  });

  it('owner can cancel a pending change before it applies', async () => {
    expectOk(await propose(RegistryAction.Add, RegistryKind.Measurement, M1), registry.address);
    expectOk(await propose(RegistryAction.Add, RegistryKind.Measurement, M2), registry.address);
    bc.now = T0 + 10;
    expectFail(
      (await registry.sendCancel(other.getSender(), RegistryKind.Measurement, M1)) as unknown as SendMessageResult,
      registry.address,
      RegistryError.notOwner,
      'cancel by non-owner (rejected)',
    );
    expectOk(
      (await registry.sendCancel(owner.getSender(), RegistryKind.Measurement, M1)) as unknown as SendMessageResult,
      registry.address,
      'cancel',
    );
    expect(await registry.getPendingChange(RegistryKind.Measurement, M1)).toBeNull();
    expectFail(
      (await registry.sendCancel(owner.getSender(), RegistryKind.Measurement, M1)) as unknown as SendMessageResult,
      registry.address,
      RegistryError.noPending,
    );
    bc.now = T0 + DELAY + 1;
    expectFail(
      (await registry.sendApply(other.getSender(), RegistryKind.Measurement, M1)) as unknown as SendMessageResult,
      registry.address,
      RegistryError.noPending,
    );
    expect((await registry.getIsAllowed(RegistryKind.Measurement, M1)).allowed).toBe(false);
    // the other proposal is untouched and applies
    expectOk((await registry.sendApply(other.getSender(), RegistryKind.Measurement, M2)) as unknown as SendMessageResult, registry.address);
    expect((await registry.getIsAllowed(RegistryKind.Measurement, M2)).allowed).toBe(true);
    // a cancelled hash can be proposed again, with a fresh delay
    expectOk(await propose(RegistryAction.Add, RegistryKind.Measurement, M1), registry.address);
    expect((await registry.getPendingChange(RegistryKind.Measurement, M1))?.effectiveAt).toBe(T0 + 2 * DELAY + 1);
  });

  it('rejects owner-only operations from anyone else', async () => {
    expectFail(
      (await registry.sendPropose(other.getSender(), RegistryAction.Add, RegistryKind.Measurement, M1)) as unknown as SendMessageResult,
      registry.address,
      RegistryError.notOwner,
      'propose by non-owner (rejected)',
    );
    expectFail(
      (await registry.sendChangeOwner(other.getSender(), other.address)) as unknown as SendMessageResult,
      registry.address,
      RegistryError.notOwner,
    );
    expectFail(
      (await registry.sendWithdraw(other.getSender())) as unknown as SendMessageResult,
      registry.address,
      RegistryError.notOwner,
      'withdraw by non-owner (rejected)',
    );
    expectFail(
      (await registry.sendAcceptOwner(other.getSender())) as unknown as SendMessageResult,
      registry.address,
      RegistryError.notPendingOwner,
    );
    expect((await registry.getPending(RegistryKind.Measurement)).size).toBe(0);
    expect((await registry.getParams()).owner.equals(owner.address)).toBe(true);
  });

  it('a rejected message bounces its value back', async () => {
    const before = await other.getBalance();
    const res = (await registry.sendPropose(
      other.getSender(),
      RegistryAction.Add,
      RegistryKind.Measurement,
      M1,
    )) as unknown as SendMessageResult;
    expectFail(res, registry.address, RegistryError.notOwner);
    const spent = before - (await other.getBalance());
    expect(spent).toBeGreaterThan(0n);
    expect(spent).toBeLessThan(toNano('0.01'));
  });

  it('rejects duplicate proposals, adding what is allowed and removing what is absent', async () => {
    expectOk(await propose(RegistryAction.Add, RegistryKind.Measurement, M1), registry.address);
    expectFail(await propose(RegistryAction.Add, RegistryKind.Measurement, M1), registry.address, RegistryError.pendingExists, 'propose duplicate (rejected)');
    expectFail(await propose(RegistryAction.Remove, RegistryKind.Measurement, M1), registry.address, RegistryError.pendingExists);
    // the original proposal keeps its time
    expect((await registry.getPendingChange(RegistryKind.Measurement, M1))?.effectiveAt).toBe(T0 + DELAY);
    // removing something not present
    expectFail(await propose(RegistryAction.Remove, RegistryKind.Measurement, M2), registry.address, RegistryError.notAllowed, 'propose remove of absent (rejected)');
    expectFail(await propose(RegistryAction.Remove, RegistryKind.Model, M1), registry.address, RegistryError.notAllowed);
    bc.now = T0 + DELAY;
    expectOk((await registry.sendApply(owner.getSender(), RegistryKind.Measurement, M1)) as unknown as SendMessageResult, registry.address);
    // adding what is already allowed
    expectFail(await propose(RegistryAction.Add, RegistryKind.Measurement, M1), registry.address, RegistryError.alreadyAllowed);
    // bad kind, bad action, unknown op
    expectFail(await propose(RegistryAction.Add, 2 as RegistryKind, M1), registry.address, RegistryError.badKind);
    expectFail(await propose(3 as RegistryAction, RegistryKind.Model, M1), registry.address, RegistryError.badAction);
    const res = await owner.send({ to: registry.address, value: WALLET_VALUE, body: beginCell().storeUint(0xdeadbeef, 32).storeUint(0, 64).endCell() });
    expectFail(res, registry.address, RegistryError.unknownOp);
    // value too low to pay its own gas
    expectFail(
      (await registry.sendPropose(owner.getSender(), RegistryAction.Add, RegistryKind.Model, M2, { value: toNano('0.005') })) as unknown as SendMessageResult,
      registry.address,
      RegistryError.lowValue,
    );
  });

  it('returns unspent value to the sender and keeps its own balance', async () => {
    const regBefore = await registry.getBalance();
    const ownerBefore = await owner.getBalance();
    const res = await propose(RegistryAction.Add, RegistryKind.Measurement, M1);
    expectOk(res, registry.address);
    const refund = paidTo(res, registry.address, owner.address);
    // the sender gets back all but gas + forwarding (well under 0.01 TON)
    expect(refund).toBeGreaterThan(WALLET_VALUE - toNano('0.01'));
    const ownerCost = ownerBefore - (await owner.getBalance());
    expect(ownerCost).toBeLessThan(toNano('0.01'));
    console.log(`REGISTRY_NET_COST propose add, owner's wallet (sent 0.05 TON): ${fromNano(ownerCost)} TON`);
    // the registry neither gains nor pays (beyond storage fees)
    const regAfter = await registry.getBalance();
    expect(regAfter).toBeLessThanOrEqual(regBefore);
    expect(regBefore - regAfter).toBeLessThan(toNano('0.0001'));

    // the same for a stranger applying it
    bc.now = T0 + DELAY;
    const otherBefore = await other.getBalance();
    const res2 = (await registry.sendApply(other.getSender(), RegistryKind.Measurement, M1, { value: toNano('1') })) as unknown as SendMessageResult;
    expectOk(res2, registry.address);
    expect(paidTo(res2, registry.address, other.address)).toBeGreaterThan(toNano('0.99'));
    const otherCost = otherBefore - (await other.getBalance());
    expect(otherCost).toBeLessThan(toNano('0.01'));
    console.log(`REGISTRY_NET_COST apply add, a stranger's wallet (sent 1 TON): ${fromNano(otherCost)} TON`);
  });

  it('tops its balance up to the storage reserve from a message when it is below', async () => {
    // deployed with less than the reserve: the first message fills it, the rest goes back
    const low = bc.openContract(Registry.fromInit({ owner: owner.address, delay: 60 }, code));
    await low.sendDeploy(owner.getSender(), toNano('0.02'));
    expect(await low.getBalance()).toBeLessThan(REGISTRY_STORAGE_RESERVE);
    const res = (await low.sendPropose(owner.getSender(), RegistryAction.Add, RegistryKind.Model, M1, { value: toNano('0.2') })) as unknown as SendMessageResult;
    expectOk(res, low.address);
    expect(await low.getBalance()).toBe(REGISTRY_STORAGE_RESERVE);
    expect(paidTo(res, low.address, owner.address)).toBeGreaterThan(toNano('0.15'));
  });

  it('owner withdraws everything above the storage reserve', async () => {
    await registry.sendTopUp(other.getSender(), toNano('3'));
    expect(await registry.getBalance()).toBeGreaterThan(toNano('3'));
    const ownerBefore = await owner.getBalance();
    const res = (await registry.sendWithdraw(owner.getSender())) as unknown as SendMessageResult;
    expectOk(res, registry.address, 'withdraw');
    expect(await registry.getBalance()).toBe(REGISTRY_STORAGE_RESERVE);
    const gained = (await owner.getBalance()) - ownerBefore;
    expect(gained).toBeGreaterThan(toNano('3.04'));
    // a second withdraw returns the attached value (minus fees) and leaves the reserve
    const res2 = (await registry.sendWithdraw(owner.getSender())) as unknown as SendMessageResult;
    expectOk(res2, registry.address);
    expect(await registry.getBalance()).toBe(REGISTRY_STORAGE_RESERVE);
    expect(paidTo(res2, registry.address, owner.address)).toBeGreaterThan(toNano('0.04'));
  });

  it('top-up and plain transfers are kept', async () => {
    const before = await registry.getBalance();
    expectOk((await registry.sendTopUp(other.getSender(), toNano('1'))) as unknown as SendMessageResult, registry.address, 'top-up');
    expect((await registry.getBalance()) - before).toBeGreaterThan(toNano('0.99'));
  });

  it('changes owner in two steps', async () => {
    expectOk(
      (await registry.sendChangeOwner(owner.getSender(), other.address)) as unknown as SendMessageResult,
      registry.address,
      'change owner',
    );
    const p = await registry.getParams();
    expect(p.owner.equals(owner.address)).toBe(true);
    expect(p.pendingOwner?.equals(other.address)).toBe(true);
    // still the old owner until accepted
    expectFail(await registry.sendPropose(other.getSender(), RegistryAction.Add, RegistryKind.Model, M1) as unknown as SendMessageResult, registry.address, RegistryError.notOwner);
    expectFail((await registry.sendAcceptOwner(owner.getSender())) as unknown as SendMessageResult, registry.address, RegistryError.notPendingOwner);
    expectOk((await registry.sendAcceptOwner(other.getSender())) as unknown as SendMessageResult, registry.address, 'accept owner');
    const q = await registry.getParams();
    expect(q.owner.equals(other.address)).toBe(true);
    expect(q.pendingOwner).toBeNull();
    expectFail(await propose(RegistryAction.Add, RegistryKind.Model, M1), registry.address, RegistryError.notOwner);
    expectOk((await registry.sendPropose(other.getSender(), RegistryAction.Add, RegistryKind.Model, M1)) as unknown as SendMessageResult, registry.address);
    // the delay still applies to the new owner
    expectFail((await registry.sendApply(other.getSender(), RegistryKind.Model, M1)) as unknown as SendMessageResult, registry.address, RegistryError.tooEarly);
  });

  it('ignores bounced messages (they cannot change state or be refunded twice)', async () => {
    const balanceBefore = await registry.getBalance();
    const body = beginCell().storeUint(0xffffffff, 32).storeUint(0x52470001, 32).storeUint(0, 64).endCell();
    const res = await bc.sendMessage(
      internal({ from: owner.address, to: registry.address, value: WALLET_VALUE, body, bounced: true, bounce: false }),
    );
    const tx = expectOk(res, registry.address, 'bounced message (ignored)');
    expect(tx.outMessagesCount).toBe(0);
    expect((await registry.getPending(RegistryKind.Measurement)).size).toBe(0);
    expect(await registry.getBalance()).toBeGreaterThanOrEqual(balanceBefore);
  });

  it('keeps many entries readable; gas grows slowly with the list', async () => {
    const hashes = Array.from({ length: 20 }, (_, i) => BigInt(i + 1) * 0x1000000000000000000000000000000000000000000000000000000000001n);
    for (const [i, h] of hashes.entries()) {
      const label = i === hashes.length - 1 ? 'propose add (20th pending, 0 allowed)' : undefined;
      expectOk(await propose(RegistryAction.Add, RegistryKind.Measurement, h), registry.address, label);
    }
    bc.now = T0 + DELAY;
    for (const [i, h] of hashes.entries()) {
      const label = i === hashes.length - 1 ? 'apply add (20th allowed, last pending)' : undefined;
      expectOk((await registry.sendApply(other.getSender(), RegistryKind.Measurement, h)) as unknown as SendMessageResult, registry.address, label);
    }
    const all = await registry.getAllowed(RegistryKind.Measurement);
    expect(all.size).toBe(20);
    for (const h of hashes) expect(all.get(h)).toEqual({ since: T0 + DELAY });
    expect((await registry.getPending(RegistryKind.Measurement)).size).toBe(0);
    expect((await registry.getIsAllowed(RegistryKind.Measurement, hashes[7]!)).allowed).toBe(true);
  });
});
