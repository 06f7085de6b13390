import { generateApiKey } from '../gateway/auth/index.ts';
import { DEFAULT_DB_PATH, openLibsqlStorage } from '../gateway/storage/libsql.ts';
import { int, parse, UsageError } from './args.ts';

export const KEYS_HELP = `sealgate keys — manage API keys (stored only as SHA-256 hashes)

  sealgate keys create [--name <name>] [--rpm <n>] [--tpm <n>]   prints the new key once
  sealgate keys list [--json]
  sealgate keys revoke <id or name>
  common: --db <file> (env SEALGATE_DB, default .sealgate/sealgate.db)`;

export async function runKeys(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  const { values, positionals } = parse(
    rest,
    { db: { type: 'string' }, name: { type: 'string' }, rpm: { type: 'string' }, tpm: { type: 'string' }, json: { type: 'boolean' } },
    true,
  );
  const storage = await openLibsqlStorage(values.db ?? process.env.SEALGATE_DB ?? DEFAULT_DB_PATH);
  try {
    if (sub === 'create') {
      const { key, record } = await generateApiKey(values.name ?? 'default', {
        rpm: int(values.rpm, 'rpm') ?? null,
        tpm: int(values.tpm, 'tpm') ?? null,
      });
      await storage.createApiKey(record);
      if (values.json) console.log(JSON.stringify({ id: record.id, name: record.name, key }));
      else console.log(`created ${record.id} (${record.name})\n${key}\nStore it now: it is not shown again.`);
    } else if (sub === 'list') {
      const keys = await storage.listApiKeys();
      if (values.json) {
        console.log(JSON.stringify(keys.map(({ hash: _h, ...k }) => k)));
      } else {
        for (const k of keys) {
          const state = k.revokedAt ? `revoked ${new Date(k.revokedAt).toISOString()}` : 'active';
          console.log(`${k.id}\t${k.name}\t${k.prefix}…\t${state}\trpm=${k.rpm ?? 'default'}\ttpm=${k.tpm ?? 'default'}`);
        }
      }
    } else if (sub === 'revoke') {
      const target = positionals[0];
      if (!target) throw new UsageError('keys revoke needs <id or name>');
      const n = await storage.revokeApiKey(target, Date.now());
      if (n === 0) throw new UsageError(`no active key with id or name ${target}`);
      console.log(`revoked ${n} key(s)`);
    } else {
      throw new UsageError(`unknown keys subcommand ${sub ?? '(none)'}`);
    }
  } finally {
    await storage.close();
  }
}
