import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Cell } from '@ton/core';
import { buildModule, CONTRACTS } from './build.ts';
import { CONTRACTS_DIR } from './compile.ts';
import * as paymentChannel from './build/payment-channel.ts';

describe('contracts/build', () => {
  for (const name of CONTRACTS) {
    it(`${name}: the committed code is what the sources compile to (run contracts/build.ts after changing them)`, async () => {
      expect(readFileSync(join(CONTRACTS_DIR, 'build', `${name}.ts`), 'utf8')).toBe(await buildModule(name));
    });
  }

  it('the committed hash is the code cell hash', () => {
    expect(Cell.fromBase64(paymentChannel.codeBoc64).hash().toString('hex')).toBe(paymentChannel.codeHashHex);
  });
});
