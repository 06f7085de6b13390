import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateApiKey } from '../gateway/auth/index.ts';
import { openLibsqlStorage } from '../gateway/storage/libsql.ts';

/** Repository root. */
export const ROOT = new URL('..', import.meta.url).pathname;

/** Starts `node <args>` in the repository and resolves once its output matches `ready`. */
export function start(args: string[], ready: RegExp): Promise<{ proc: ChildProcess; match: RegExpMatchArray }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const onData = (d: Buffer) => {
      out += d;
      const m = out.match(ready);
      if (m) resolve({ proc, match: m });
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', (d) => (out += d));
    proc.on('exit', (c) => reject(new Error(`exited ${c}: ${out}`)));
  });
}

/** The p-th percentile (nearest rank) of `xs`. */
export function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

/**
 * A temporary folder with a gateway database holding one unlimited API key,
 * and `policy.json` accepting simulated workers (benchmarks only).
 */
export async function benchState(): Promise<{ dir: string; db: string; key: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'sealgate-bench-'));
  const db = join(dir, 'bench.db');
  const storage = await openLibsqlStorage(db);
  const { key, record } = await generateApiKey('bench', { rpm: 10_000_000, tpm: 1_000_000_000 });
  await storage.createApiKey(record);
  await storage.close();
  writeFileSync(join(dir, 'policy.json'), JSON.stringify({ allowSimulated: true }));
  return { dir, db, key };
}

/**
 * CPU time a process has used so far, ns, summed over its threads (Linux
 * `/proc/<pid>/task/<tid>/schedstat`); null where that is not available.
 * On-CPU time per request is steadier than latency on a shared machine.
 */
export function cpuNs(pid: number): number | null {
  try {
    let t = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        t += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        // thread gone
      }
    }
    return t;
  } catch {
    return null;
  }
}
