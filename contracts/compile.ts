import { readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Cell } from '@ton/core';
import { runTolkCompiler } from '@ton/tolk-js';

/** Folder holding the `.tolk` sources (this folder). */
export const CONTRACTS_DIR = dirname(fileURLToPath(import.meta.url));

/** A compiled contract: its code cell and the code hash. */
export interface Compiled {
  code: Cell;
  hashHex: string;
}

const cache = new Map<string, Promise<Compiled>>();

/**
 * Compiles `contracts/<entry>.tolk` with @ton/tolk-js (imports resolved inside
 * `contracts/`); cached per process. Compilation errors throw with the compiler's message.
 *
 * @example
 * const { code } = await compileContract('payment-channel');
 */
export function compileContract(entry: string): Promise<Compiled> {
  let p = cache.get(entry);
  if (!p) {
    p = (async () => {
      const r = await runTolkCompiler({
        entrypointFileName: `${entry}.tolk`,
        fsReadCallback: (path: string) => {
          const file = normalize(join(CONTRACTS_DIR, path));
          if (!file.startsWith(CONTRACTS_DIR)) throw new Error(`import outside contracts/: ${path}`);
          return readFileSync(file, 'utf8');
        },
      });
      if (r.status !== 'ok') throw new Error(`tolk: ${entry}.tolk: ${r.message}`);
      return { code: Cell.fromBase64(r.codeBoc64), hashHex: r.codeHashHex };
    })();
    cache.set(entry, p);
  }
  return p;
}
