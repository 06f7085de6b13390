import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { createClient, type InValue } from '@libsql/client';
import { SqlStorage, type SqlExecutor } from './sql.ts';

/** Default storage file, relative to the working directory. */
export const DEFAULT_DB_PATH = '.sealgate/sealgate.db';

/**
 * Node adapter: SQLite file through @libsql/client, created on first use.
 *
 * @example
 * const storage = await openLibsqlStorage('.sealgate/sealgate.db');
 */
export async function openLibsqlStorage(path = DEFAULT_DB_PATH): Promise<SqlStorage> {
  const file = resolve(path);
  mkdirSync(dirname(file), { recursive: true });
  const client = createClient({ url: `file:${file}` });
  await client.execute('PRAGMA journal_mode = WAL');
  await client.execute('PRAGMA busy_timeout = 5000');
  const exec: SqlExecutor = {
    async execute(sql, args = []) {
      const r = await client.execute({ sql, args: args as InValue[] });
      return { rows: r.rows as unknown as Array<Record<string, unknown>>, rowsAffected: r.rowsAffected };
    },
    async batch(statements) {
      await client.batch(
        statements.map((s) => ({ sql: s.sql, args: s.args as InValue[] })),
        'write',
      );
    },
    async close() {
      client.close();
    },
  };
  const storage = new SqlStorage(exec);
  await storage.migrate();
  return storage;
}
