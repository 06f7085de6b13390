/**
 * A loopback toncenter API v2 (JSON-RPC) backed by an `@ton/sandbox` `Blockchain`, so that the real
 * `TonClient` (and `contracts/chain`) can be tested end to end over HTTP.
 *
 * Serves `POST /api/v2/jsonRPC` with `{id, jsonrpc, method, params}` and answers like toncenter:
 * `200 {ok: true, result, jsonrpc, id}`, or `{ok: false, error, code}` with `code` as HTTP status.
 * Methods (the ones TonClient calls for account state, get methods and sending, plus trivial relatives):
 *   getAddressInformation, getAddressBalance, getAddressState, runGetMethod, sendBoc, sendBocReturnHash.
 * Anything else: 404 `{ok: false, error: "method not found: ..."}`.
 *
 * Every sendBoc is processed to completion (the whole message chain) before it answers, so the result
 * is visible to the next request: one "block" per external message. Time is the sandbox's:
 * `blockchain.now` if set, else the wall clock; advance it by setting `blockchain.now`.
 *
 * @example
 * const blockchain = await Blockchain.create();
 * const server = await startTonSandboxServer(blockchain);
 * const chain = openTonChain({ endpoint: server.url });
 * ...
 * await server.close();
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Address, beginCell, Cell, loadMessage, type TupleItem } from '@ton/core';
import type { Blockchain } from '@ton/sandbox';

export interface TonSandboxServer {
  /** The JSON-RPC endpoint, `http://127.0.0.1:<port>/api/v2/jsonRPC`. */
  url: string;
  close(): Promise<void>;
}

export interface TonSandboxServerOptions {
  /** When set, requests must carry `X-API-Key: <apiKey>` (401 otherwise, as toncenter does). */
  apiKey?: string;
}

/** A toncenter-style failure: `code` is the HTTP status. */
class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

const ZERO_HASH = Buffer.alloc(32).toString('base64');

function hash256(n: bigint): string {
  return Buffer.from(n.toString(16).padStart(64, '0'), 'hex').toString('base64');
}

function param(params: Record<string, unknown>, name: string): string {
  const v = params[name];
  if (typeof v !== 'string' || v === '') throw new RpcError(422, `${name}: field required`);
  return v;
}

function parseAddress(params: Record<string, unknown>): Address {
  const s = param(params, 'address');
  try {
    return Address.parse(s);
  } catch {
    throw new RpcError(416, `Incorrect address: ${s}`);
  }
}

function parseBoc(b64: string, name: string): Cell {
  try {
    return Cell.fromBase64(b64);
  } catch {
    throw new RpcError(422, `${name}: invalid boc`);
  }
}

/** Input stack: `[["num", "123" | "0x7b"], ["tvm.Cell" | "cell", boc], ["tvm.Slice" | "slice", boc], ...]`. */
function parseInputStack(raw: unknown): TupleItem[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) throw new RpcError(422, 'stack: must be a list');
  return raw.map((e): TupleItem => {
    if (!Array.isArray(e) || e.length !== 2 || typeof e[0] !== 'string') throw new RpcError(422, 'stack: entries are [type, value]');
    const [type, value] = e as [string, unknown];
    const text = typeof value === 'number' ? String(value) : value;
    if (typeof text !== 'string') throw new RpcError(422, `stack: bad ${type} value`);
    switch (type) {
      case 'num':
      case 'number':
      case 'int':
        return { type: 'int', value: text.startsWith('-') ? -BigInt(text.slice(1)) : BigInt(text) };
      case 'tvm.Cell':
      case 'cell':
        return { type: 'cell', cell: parseBoc(text, 'stack') };
      case 'tvm.Slice':
      case 'slice':
        return { type: 'slice', cell: parseBoc(text, 'stack') };
      case 'tvm.Builder':
      case 'builder':
        return { type: 'builder', cell: parseBoc(text, 'stack') };
      default:
        throw new RpcError(422, `stack: unsupported entry type ${type}`);
    }
  });
}

const hex = (n: bigint): string => (n < 0n ? `-0x${(-n).toString(16)}` : `0x${n.toString(16)}`);
const cellObject = (c: Cell) => ({ bytes: c.toBoc().toString('base64') });

/** Entries inside tuples/lists use tonlib's typed form. */
function tonlibEntry(item: TupleItem): unknown {
  switch (item.type) {
    case 'int':
      return { '@type': 'tvm.stackEntryNumber', number: { '@type': 'tvm.numberDecimal', number: item.value.toString() } };
    case 'cell':
      return { '@type': 'tvm.stackEntryCell', cell: { '@type': 'tvm.cell', ...cellObject(item.cell) } };
    case 'slice':
      return { '@type': 'tvm.stackEntrySlice', slice: { '@type': 'tvm.slice', ...cellObject(item.cell) } };
    case 'tuple':
      return { '@type': 'tvm.stackEntryTuple', tuple: { '@type': 'tvm.tuple', elements: item.items.map(tonlibEntry) } };
    default:
      throw new RpcError(500, `cannot serialize stack entry of type ${item.type}`);
  }
}

/** Result stack as toncenter renders it: numbers in hex, cells and slices as `["cell", {bytes}]`. */
function renderStack(items: TupleItem[]): unknown[] {
  return items.map((item) => {
    switch (item.type) {
      case 'int':
        return ['num', hex(item.value)];
      case 'null':
        return ['null'];
      case 'cell':
      case 'slice':
        return ['cell', cellObject(item.cell)];
      case 'builder':
        return ['builder', cellObject(item.cell)];
      case 'tuple':
        return ['tuple', { '@type': 'tvm.tuple', elements: item.items.map(tonlibEntry) }];
      default:
        throw new RpcError(500, `cannot serialize stack entry of type ${item.type}`);
    }
  });
}

/** TEP-467 normalized hash of an external-in message (src none, import_fee 0, no init, body in a ref). */
function normalizedHash(dest: Address, body: Cell): string {
  const c = beginCell().storeUint(0b10, 2).storeUint(0, 2).storeAddress(dest).storeCoins(0).storeBit(false).storeBit(true).storeRef(body).endCell();
  return c.hash().toString('base64');
}

/**
 * Starts the server on 127.0.0.1 (random port).
 *
 * @example
 * const { url, close } = await startTonSandboxServer(await Blockchain.create());
 */
export async function startTonSandboxServer(blockchain: Blockchain, opts: TonSandboxServerOptions = {}): Promise<TonSandboxServer> {
  let seqno = 1;
  // one request at a time against the sandbox (a get method never sees half a message chain)
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const p = queue.then(fn, fn);
    queue = p.catch(() => undefined);
    return p;
  };

  const now = (): number => blockchain.now ?? Math.floor(Date.now() / 1000);
  const blockId = () => ({
    '@type': 'ton.blockIdExt',
    workchain: -1,
    shard: '-9223372036854775808',
    seqno,
    root_hash: ZERO_HASH,
    file_hash: ZERO_HASH,
  });

  async function account(address: Address) {
    const c = await blockchain.getContract(address);
    const st = c.accountState;
    const state = st?.type === 'active' ? 'active' : st?.type === 'frozen' ? 'frozen' : 'uninitialized';
    return { c, st, state } as const;
  }

  async function sendBoc(params: Record<string, unknown>) {
    const cell = parseBoc(param(params, 'boc'), 'boc');
    let msg;
    try {
      msg = loadMessage(cell.beginParse());
    } catch {
      throw new RpcError(422, 'boc: not a message');
    }
    if (msg.info.type !== 'external-in') throw new RpcError(422, 'boc: not an inbound external message');
    try {
      await blockchain.sendMessage(msg);
    } catch (e) {
      const why = e instanceof Error ? e.message.split('\n')[0] : String(e);
      throw new RpcError(500, `LITE_SERVER_UNKNOWN: cannot apply external message to current state : External message was not accepted (${why})`);
    }
    seqno++;
    return { cell, dest: msg.info.dest, body: msg.body };
  }

  const methods: Record<string, (params: Record<string, unknown>) => Promise<unknown>> = {
    async getAddressInformation(params) {
      const { c, st, state } = await account(parseAddress(params));
      return {
        '@type': 'raw.fullAccountState',
        balance: c.balance.toString(),
        extra_currencies: [],
        code: st?.type === 'active' && st.state.code ? st.state.code.toBoc().toString('base64') : '',
        data: st?.type === 'active' && st.state.data ? st.state.data.toBoc().toString('base64') : '',
        last_transaction_id: {
          '@type': 'internal.transactionId',
          lt: c.lastTransactionLt.toString(),
          hash: c.lastTransactionLt === 0n ? ZERO_HASH : hash256(c.lastTransactionHash),
        },
        block_id: blockId(),
        frozen_hash: st?.type === 'frozen' ? hash256(st.stateHash) : '',
        sync_utime: now(),
        state,
      };
    },
    async getAddressBalance(params) {
      return (await account(parseAddress(params))).c.balance.toString();
    },
    async getAddressState(params) {
      return (await account(parseAddress(params))).state;
    },
    async runGetMethod(params) {
      const address = parseAddress(params);
      const m = params.method;
      if (typeof m !== 'string' && typeof m !== 'number') throw new RpcError(422, 'method: field required');
      const stack = parseInputStack(params.stack);
      const base = { '@type': 'smc.runResult', block_id: blockId(), last_transaction_id: { '@type': 'internal.transactionId', lt: '0', hash: ZERO_HASH } };
      const { c, state } = await account(address);
      // toncenter answers ok with exit code -13 for an account without code
      if (state !== 'active') return { ...base, gas_used: 0, stack: [], exit_code: -13 };
      try {
        const r = await c.get(m, stack);
        return { ...base, gas_used: Number(r.gasUsed), stack: renderStack(r.stack), exit_code: r.exitCode };
      } catch (e) {
        const exit = (e as { exitCode?: unknown }).exitCode;
        if (typeof exit === 'number') return { ...base, gas_used: Number((e as { gasUsed?: bigint }).gasUsed ?? 0n), stack: [], exit_code: exit };
        throw new RpcError(500, `runGetMethod: ${(e as Error).message}`);
      }
    },
    async sendBoc(params) {
      await sendBoc(params);
      return { '@type': 'ok' };
    },
    async sendBocReturnHash(params) {
      const { cell, dest, body } = await sendBoc(params);
      return { '@type': 'raw.extMessageInfo', hash: cell.hash().toString('base64'), hash_norm: normalizedHash(dest as Address, body) };
    },
  };

  function reply(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'POST' || path !== '/api/v2/jsonRPC') {
      return reply(res, 404, { ok: false, error: `not found: ${req.method} ${path} (this sandbox serves POST /api/v2/jsonRPC)`, code: 404 });
    }
    if (opts.apiKey !== undefined && req.headers['x-api-key'] !== opts.apiKey) {
      return reply(res, 401, { ok: false, error: 'API key does not exist', code: 401 });
    }
    let rpc: { id?: unknown; method?: unknown; params?: unknown };
    try {
      rpc = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return reply(res, 400, { ok: false, error: 'invalid JSON body', code: 400, jsonrpc: '2.0', id: null });
    }
    const envelope = { jsonrpc: '2.0', id: rpc?.id ?? null };
    const method = typeof rpc?.method === 'string' ? rpc.method : '';
    const fn = Object.hasOwn(methods, method) ? methods[method] : undefined;
    if (!fn) {
      return reply(res, 404, { ok: false, error: `method not found: ${JSON.stringify(rpc?.method ?? null)} (served: ${Object.keys(methods).join(', ')})`, code: 404, ...envelope });
    }
    const params = rpc.params && typeof rpc.params === 'object' && !Array.isArray(rpc.params) ? (rpc.params as Record<string, unknown>) : {};
    try {
      const result = await serial(() => fn(params));
      reply(res, 200, { ok: true, result, ...envelope });
    } catch (e) {
      const code = e instanceof RpcError ? e.code : 500;
      reply(res, code, { ok: false, error: (e as Error).message, code, ...envelope });
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e) => {
      if (!res.headersSent) reply(res, 500, { ok: false, error: String(e), code: 500 });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/api/v2/jsonRPC`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
