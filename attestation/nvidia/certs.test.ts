import { describe, expect, it } from 'vitest';
import { readSampleText } from '../../test/testdata.ts';
import { pemToDer, verifyChainToRoot } from './certs.ts';
import { NVIDIA_DEVICE_ROOT_PEM } from './roots.ts';
import { codeOf } from '../testkit.ts';

/** Inside every certificate window of the nvtrust GH100 chain. */
const NOW = 1_782_698_883;
const chain = pemToDer(readSampleText('nvidia/nvtrust/hopperCertChain.txt'));
const root = pemToDer(NVIDIA_DEVICE_ROOT_PEM)[0]!;


describe('NVIDIA certificate chains (verifyChainToRoot)', () => {
  it('verifies the GH100 chain to the pinned root, with or without the root in the chain', async () => {
    expect((await verifyChainToRoot(chain, root, NOW)).length).toBe(5);
    expect((await verifyChainToRoot(chain.slice(0, -1), root, NOW)).length).toBe(5);
  });

  it('keeps its error codes: broken links, root not last, another root, ECDSA only, times, garbage', async () => {
    expect(await codeOf(() => verifyChainToRoot([chain[0]!, chain[2]!], root, NOW))).toBe('CERT_CHAIN_INVALID');
    expect(await codeOf(() => verifyChainToRoot([...chain, chain[1]!], root, NOW))).toBe('CERT_CHAIN_INVALID');
    expect(await codeOf(() => verifyChainToRoot(chain, chain[1]!, NOW))).toBe('CERT_CHAIN_INVALID');
    expect(await codeOf(() => verifyChainToRoot([], root, NOW))).toBe('CERT_CHAIN_INVALID');
    expect(await codeOf(() => verifyChainToRoot(Array(9).fill(chain[0]!), root, NOW))).toBe('CERT_CHAIN_INVALID');
    const [ask, ark] = pemToDer(readSampleText('sev-snp/go-sev-guest/ask_ark_milan.pem')); // RSA-PSS
    expect(await codeOf(() => verifyChainToRoot([ask!], ark!, 1_735_689_600))).toBe('CERT_CHAIN_INVALID');
    expect(await codeOf(() => verifyChainToRoot(chain, root, 0))).toBe('CERT_NOT_YET_VALID');
    expect(await codeOf(() => verifyChainToRoot(chain, root, 1e12))).toBe('CERT_EXPIRED');
    expect(await codeOf(() => verifyChainToRoot([new Uint8Array([0x30, 0x00])], root, NOW))).toBe('MALFORMED_EVIDENCE');
    expect(await codeOf(() => pemToDer('no PEM here'))).toBe('MALFORMED_EVIDENCE');
  });
});
