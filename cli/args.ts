import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { keyPairFromSeed, type KeyPair } from '@ton/crypto';

/** A usage error: printed with the command's help, exit code 2. */
export class UsageError extends Error {}

/** parseArgs with strict checking, turning its errors into `UsageError`. */
export function parse<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T, allowPositionals = false) {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
}

/** Parses a positive integer flag value. */
export function int(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${name} must be a non-negative integer`);
  return n;
}

/** Reads an Ed25519 key file: a 32-byte seed as 64 hex digits (a TON wallet's key pair). */
export function readSeedKey(path: string, name: string): KeyPair {
  let text: string;
  try {
    text = readFileSync(path, 'utf8').trim();
  } catch (e) {
    throw new UsageError(`cannot read --${name} ${path}: ${e instanceof Error ? e.message : e}`);
  }
  if (!/^[0-9a-fA-F]{64}$/.test(text)) throw new UsageError(`--${name} ${path} must hold a 32-byte seed as 64 hex digits`);
  return keyPairFromSeed(Buffer.from(text, 'hex'));
}
