/**
 * Typed wrapper for `contracts/registry.tolk`: the operator-controlled list of
 * allowed enclave measurement hashes and model hashes, where every change
 * takes effect only after a published delay. Layouts: `contracts/registry.tlb`.
 */
import {
  Address,
  beginCell,
  Builder,
  Cell,
  contractAddress,
  Dictionary,
  SendMode,
  Slice,
  type Contract,
  type ContractProvider,
  type DictionaryValue,
  type Sender,
} from '@ton/core';

/** What a hash identifies. */
export enum RegistryKind {
  Measurement = 0,
  Model = 1,
}

/** A proposed change. */
export enum RegistryAction {
  Add = 1,
  Remove = 2,
}

export const RegistryOp = {
  propose: 0x52470001,
  cancel: 0x52470002,
  apply: 0x52470003,
  changeOwner: 0x52470004,
  acceptOwner: 0x52470005,
  withdraw: 0x52470006,
  topUp: 0x52470007,
} as const;

/** Exit codes thrown by the contract. */
export const RegistryError = {
  notOwner: 100,
  badKind: 101,
  badAction: 102,
  alreadyAllowed: 103,
  notAllowed: 104,
  pendingExists: 105,
  noPending: 106,
  tooEarly: 107,
  notPendingOwner: 108,
  lowValue: 109,
  unknownOp: 0xffff,
} as const;

/** Balance the contract keeps for storage fees (mirrors STORAGE_RESERVE). */
export const REGISTRY_STORAGE_RESERVE = 50_000_000n;
/** Minimum value of a state-changing message (mirrors MIN_MSG_VALUE). */
export const REGISTRY_MIN_MSG_VALUE = 10_000_000n;
/** Largest delay the wrapper accepts (10 years); the contract itself takes any uint32. */
export const REGISTRY_MAX_DELAY = 10 * 365 * 24 * 3600;
/** What the wrapper attaches by default: what a wallet normally sends. */
export const REGISTRY_DEFAULT_VALUE = 50_000_000n;

export interface RegistryConfig {
  owner: Address;
  /** Seconds between a proposal and the earliest time it can be applied. */
  delay: number;
}

export interface AllowedEntry {
  /** Unix time the addition was applied. */
  since: number;
}

export interface PendingChange {
  action: RegistryAction;
  /** Unix time from which the change can be applied. */
  effectiveAt: number;
}

/** Topic of the registry's external-out event messages (destination `addr_extern` of 256 bits: 0x00 ++ topic). */
export const REGISTRY_EVENT_TOPIC = 0x524745n;

export const RegistryEventOp = {
  proposed: 0x52471001,
  cancelled: 0x52471002,
  applied: 0x52471003,
} as const;

export type RegistryEvent =
  | { type: 'proposed'; kind: RegistryKind; hash: bigint; action: RegistryAction; effectiveAt: number }
  | { type: 'cancelled'; kind: RegistryKind; hash: bigint; action: RegistryAction }
  | { type: 'applied'; kind: RegistryKind; hash: bigint; action: RegistryAction; at: number };

/** Parses the body of a registry event (external out message); null for anything else. */
export function parseRegistryEvent(body: Cell): RegistryEvent | null {
  const s = body.beginParse();
  if (s.remainingBits < 32) return null;
  const op = s.loadUint(32);
  const read = () => ({ kind: s.loadUint(8) as RegistryKind, hash: s.loadUintBig(256), action: s.loadUint(8) as RegistryAction });
  switch (op) {
    case RegistryEventOp.proposed: {
      const b = read();
      return { type: 'proposed', ...b, effectiveAt: s.loadUint(32) };
    }
    case RegistryEventOp.cancelled:
      return { type: 'cancelled', ...read() };
    case RegistryEventOp.applied: {
      const b = read();
      return { type: 'applied', ...b, at: s.loadUint(32) };
    }
    default:
      return null;
  }
}

export const AllowedEntryValue: DictionaryValue<AllowedEntry> = {
  serialize(src: AllowedEntry, b: Builder) {
    b.storeUint(src.since, 32);
  },
  parse(s: Slice): AllowedEntry {
    return { since: s.loadUint(32) };
  },
};

export const PendingChangeValue: DictionaryValue<PendingChange> = {
  serialize(src: PendingChange, b: Builder) {
    b.storeUint(src.action, 8).storeUint(src.effectiveAt, 32);
  },
  parse(s: Slice): PendingChange {
    return { action: s.loadUint(8) as RegistryAction, effectiveAt: s.loadUint(32) };
  },
};

/** Initial storage (TL-B `registry_storage`): owner, no pending owner, delay, four empty maps. */
export function registryConfigToCell(config: RegistryConfig): Cell {
  // now + delay is stored as uint32: a delay this large would make every proposal overflow (exit code 5)
  if (!Number.isInteger(config.delay) || config.delay < 0 || config.delay > REGISTRY_MAX_DELAY) {
    throw new RangeError(`registry delay must be an integer in [0, ${REGISTRY_MAX_DELAY}] seconds, got ${config.delay}`);
  }
  return beginCell()
    .storeAddress(config.owner)
    .storeAddress(null) // pendingOwner: addr_none
    .storeUint(config.delay, 32)
    .storeBit(false) // measurements.allowed
    .storeBit(false) // measurements.pending
    .storeBit(false) // models.allowed
    .storeBit(false) // models.pending
    .endCell();
}

function hashToBigint(hash: bigint | Uint8Array): bigint {
  if (typeof hash === 'bigint') {
    if (hash < 0n || hash >= 1n << 256n) throw new RangeError('hash must be a uint256');
    return hash;
  }
  if (hash.length !== 32) throw new RangeError(`hash must be 32 bytes, got ${hash.length}`);
  return BigInt('0x' + Buffer.from(hash).toString('hex'));
}

export type Hash256 = bigint | Uint8Array;

export interface SendOpts {
  value?: bigint;
  queryId?: bigint;
}

export class Registry implements Contract {
  constructor(
    readonly address: Address,
    readonly init?: { code: Cell; data: Cell },
  ) {}

  static createFromAddress(address: Address): Registry {
    return new Registry(address);
  }

  static fromInit(config: RegistryConfig, code: Cell, workchain = 0): Registry {
    const data = registryConfigToCell(config);
    const init = { code, data };
    return new Registry(contractAddress(workchain, init), init);
  }

  /** Deploys with an empty body; the value stays as the storage reserve. */
  async sendDeploy(provider: ContractProvider, via: Sender, value: bigint = REGISTRY_STORAGE_RESERVE) {
    await provider.internal(via, { value, sendMode: SendMode.PAY_GAS_SEPARATELY, body: beginCell().endCell() });
  }

  private async send(provider: ContractProvider, via: Sender, body: Cell, value?: bigint) {
    await provider.internal(via, {
      value: value ?? REGISTRY_DEFAULT_VALUE,
      sendMode: SendMode.PAY_GAS_SEPARATELY,
      body,
    });
  }

  static proposeBody(action: RegistryAction, kind: RegistryKind, hash: Hash256, queryId = 0n): Cell {
    return beginCell()
      .storeUint(RegistryOp.propose, 32)
      .storeUint(queryId, 64)
      .storeUint(action, 8)
      .storeUint(kind, 8)
      .storeUint(hashToBigint(hash), 256)
      .endCell();
  }

  private static kindHashBody(op: number, kind: RegistryKind, hash: Hash256, queryId: bigint): Cell {
    return beginCell()
      .storeUint(op, 32)
      .storeUint(queryId, 64)
      .storeUint(kind, 8)
      .storeUint(hashToBigint(hash), 256)
      .endCell();
  }

  /** Owner only: propose adding or removing `hash`; effective after the delay. */
  async sendPropose(
    provider: ContractProvider,
    via: Sender,
    action: RegistryAction,
    kind: RegistryKind,
    hash: Hash256,
    opts: SendOpts = {},
  ) {
    await this.send(provider, via, Registry.proposeBody(action, kind, hash, opts.queryId ?? 0n), opts.value);
  }

  /** Owner only: drop the pending change for `hash`. */
  async sendCancel(provider: ContractProvider, via: Sender, kind: RegistryKind, hash: Hash256, opts: SendOpts = {}) {
    await this.send(provider, via, Registry.kindHashBody(RegistryOp.cancel, kind, hash, opts.queryId ?? 0n), opts.value);
  }

  /** Anyone: apply the pending change for `hash` once its effective time has come. */
  async sendApply(provider: ContractProvider, via: Sender, kind: RegistryKind, hash: Hash256, opts: SendOpts = {}) {
    await this.send(provider, via, Registry.kindHashBody(RegistryOp.apply, kind, hash, opts.queryId ?? 0n), opts.value);
  }

  /** Owner only: nominate a new owner (it takes over once it sends AcceptOwner). */
  async sendChangeOwner(provider: ContractProvider, via: Sender, newOwner: Address, opts: SendOpts = {}) {
    const body = beginCell()
      .storeUint(RegistryOp.changeOwner, 32)
      .storeUint(opts.queryId ?? 0n, 64)
      .storeAddress(newOwner)
      .endCell();
    await this.send(provider, via, body, opts.value);
  }

  /** Nominated owner only: take over. */
  async sendAcceptOwner(provider: ContractProvider, via: Sender, opts: SendOpts = {}) {
    const body = beginCell().storeUint(RegistryOp.acceptOwner, 32).storeUint(opts.queryId ?? 0n, 64).endCell();
    await this.send(provider, via, body, opts.value);
  }

  /** Owner only: send everything above the storage reserve to the owner. */
  async sendWithdraw(provider: ContractProvider, via: Sender, opts: SendOpts = {}) {
    const body = beginCell().storeUint(RegistryOp.withdraw, 32).storeUint(opts.queryId ?? 0n, 64).endCell();
    await this.send(provider, via, body, opts.value);
  }

  /** Anyone: add `value` to the contract's balance (e.g. to pay storage). */
  async sendTopUp(provider: ContractProvider, via: Sender, value: bigint, opts: { queryId?: bigint } = {}) {
    const body = beginCell().storeUint(RegistryOp.topUp, 32).storeUint(opts.queryId ?? 0n, 64).endCell();
    await this.send(provider, via, body, value);
  }

  /** Whether `hash` of `kind` is allowed now, and since when (0 when not). */
  async getIsAllowed(provider: ContractProvider, kind: RegistryKind, hash: Hash256): Promise<{ allowed: boolean; since: number }> {
    const { stack } = await provider.get('isAllowed', [
      { type: 'int', value: BigInt(kind) },
      { type: 'int', value: hashToBigint(hash) },
    ]);
    const allowed = stack.readBoolean();
    const since = stack.readNumber();
    return { allowed, since };
  }

  /** The pending change for `hash` of `kind`, or null. */
  async getPendingChange(provider: ContractProvider, kind: RegistryKind, hash: Hash256): Promise<PendingChange | null> {
    const { stack } = await provider.get('pendingChange', [
      { type: 'int', value: BigInt(kind) },
      { type: 'int', value: hashToBigint(hash) },
    ]);
    const action = stack.readNumber();
    const effectiveAt = stack.readNumber();
    return action === 0 ? null : { action: action as RegistryAction, effectiveAt };
  }

  /** All allowed hashes of `kind` (the contract's dictionary, parsed). */
  async getAllowed(provider: ContractProvider, kind: RegistryKind): Promise<Map<bigint, AllowedEntry>> {
    const { stack } = await provider.get('allowedDict', [{ type: 'int', value: BigInt(kind) }]);
    const cell = stack.readCellOpt();
    const out = new Map<bigint, AllowedEntry>();
    if (!cell) return out;
    const d = Dictionary.loadDirect(Dictionary.Keys.BigUint(256), AllowedEntryValue, cell);
    for (const [k, v] of d) out.set(k, v);
    return out;
  }

  /** All pending changes of `kind`. */
  async getPending(provider: ContractProvider, kind: RegistryKind): Promise<Map<bigint, PendingChange>> {
    const { stack } = await provider.get('pendingDict', [{ type: 'int', value: BigInt(kind) }]);
    const cell = stack.readCellOpt();
    const out = new Map<bigint, PendingChange>();
    if (!cell) return out;
    const d = Dictionary.loadDirect(Dictionary.Keys.BigUint(256), PendingChangeValue, cell);
    for (const [k, v] of d) out.set(k, v);
    return out;
  }

  async getParams(
    provider: ContractProvider,
  ): Promise<{ owner: Address; pendingOwner: Address | null; delay: number; storageReserve: bigint }> {
    const { stack } = await provider.get('registryParams', []);
    const owner = stack.readAddress();
    const pendingOwner = stack.readAddressOpt();
    const delay = stack.readNumber();
    const storageReserve = stack.readBigNumber();
    return { owner, pendingOwner, delay, storageReserve };
  }

  async getBalance(provider: ContractProvider): Promise<bigint> {
    return (await provider.getState()).balance;
  }
}
