import { SqlStorage, type SqlExecutor } from './sql.ts';

/**
 * Cloudflare Workers adapter: `SqlExecutor` over a Durable Object's built-in
 * SQLite (`ctx.storage.sql`). Web standards only; the Cloudflare types it needs
 * are declared here, minimally, instead of depending on @cloudflare/workers-types.
 *
 * The Durable Object's SQLite is synchronous and lives in the object itself:
 * every statement is committed when `exec` returns (implicit transaction), a
 * `batch` runs in one `transactionSync`, and the runtime's output gate holds
 * the object's next response until its writes are durable, so a receipt is
 * acknowledged only once it is stored.
 */

/** The cursor `sql.exec` returns (only what this adapter reads). */
export interface DoSqlCursor {
  toArray(): Array<Record<string, unknown>>;
}

/** `ctx.storage.sql` of a SQLite-backed Durable Object. */
export interface DoSql {
  exec(query: string, ...bindings: unknown[]): DoSqlCursor;
}

/** `ctx.storage` of a SQLite-backed Durable Object (the parts used here). */
export interface DoSqlStorage {
  sql: DoSql;
  transactionSync<T>(fn: () => T): T;
}

/** Values Durable Object SQLite binds: string, number, null, ArrayBuffer (bigint and booleans are converted). */
function bindable(v: unknown): unknown {
  if (v === undefined || v === null) return null;
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (v instanceof Uint8Array) return v.slice().buffer;
  return v;
}

/**
 * `SqlExecutor` over Durable Object SQLite. `rowsAffected` is SQLite's own
 * count of rows changed by the statement (`total_changes()` before and after),
 * so it counts neither index writes nor rows a read returns.
 *
 * @example
 * const exec = doSqlExecutor(ctx.storage);
 */
export function doSqlExecutor(storage: DoSqlStorage): SqlExecutor {
  const sql = storage.sql;
  const totalChanges = () => Number(sql.exec('SELECT total_changes() AS n').toArray()[0]?.n ?? 0);
  const run = (query: string, args: unknown[]) => {
    const before = totalChanges();
    const rows = sql.exec(query, ...args.map(bindable)).toArray();
    return { rows, rowsAffected: totalChanges() - before };
  };
  return {
    async execute(query, args = []) {
      return run(query, args);
    },
    async batch(statements) {
      storage.transactionSync(() => {
        for (const s of statements) sql.exec(s.sql, ...s.args.map(bindable)).toArray();
      });
    },
    async close() {
      // The storage belongs to the Durable Object; nothing to close.
    },
  };
}

/**
 * `Storage` over a Durable Object's SQLite, migrated (call it once, e.g. inside
 * `ctx.blockConcurrencyWhile`).
 *
 * @example
 * const storage = await openDoSqliteStorage(ctx.storage);
 */
export async function openDoSqliteStorage(storage: DoSqlStorage): Promise<SqlStorage> {
  const s = new SqlStorage(doSqlExecutor(storage));
  await s.migrate();
  return s;
}
