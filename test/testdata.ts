import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

/** Repository root (this file lives in `<root>/test/`). */
export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Real attestation samples, kept beside the repository in `../shared/testdata/attestation`. */
export const ATTESTATION_TESTDATA = join(REPO_ROOT, '..', 'shared', 'testdata', 'attestation');

/** Reads a sample by its path under `shared/testdata/attestation`. */
export function readSample(relPath: string): Uint8Array {
  return new Uint8Array(readFileSync(join(ATTESTATION_TESTDATA, relPath)));
}

/** Reads a text sample. */
export function readSampleText(relPath: string): string {
  return readFileSync(join(ATTESTATION_TESTDATA, relPath), 'utf8');
}
