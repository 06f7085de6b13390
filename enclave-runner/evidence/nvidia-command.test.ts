import { describe, expect, it } from 'vitest';
import { ATTESTATION_TESTDATA } from '../../test/testdata.ts';
import { join } from 'node:path';
import { verifySpdmEvidence } from '../../attestation/nvidia/index.ts';
import { fromHex, toHex } from '../../attestation/util/bytes.ts';
import { EvidenceProviderError } from './errors.ts';
import { NvidiaCommandProvider } from './nvidia-command.ts';

const NODE = process.execPath;
const nonce = Uint8Array.from({ length: 32 }, (_, i) => 255 - i);

async function code(p: Promise<unknown>): Promise<string> {
  const e = await p.then(
    () => 'resolved',
    (err: unknown) => err,
  );
  if (!(e instanceof EvidenceProviderError)) throw new Error(`expected EvidenceProviderError, got ${String(e)}`);
  return e.code;
}

describe('NvidiaCommandProvider', () => {
  it('passes the nonce as an argument and in the environment, without a shell, and parses stdout JSON', async () => {
    const script = `process.stdout.write(JSON.stringify({ args: process.argv.slice(1), env: process.env.SEALGATE_GPU_NONCE, extra: process.env.EXTRA }))`;
    const gpu = new NvidiaCommandProvider({
      argv: [NODE, '-e', script, '--', '--nonce', '{nonce}', 'literal;$(echo no-shell)|`x`', 'n={nonce}'],
      env: { EXTRA: 'yes' },
    });
    expect(gpu.kind).toBe('nvidia-spdm');
    const { kind, evidence } = await gpu.collect(nonce);
    expect(kind).toBe('nvidia-spdm');
    expect(evidence).toEqual({
      args: ['--nonce', toHex(nonce), 'literal;$(echo no-shell)|`x`', `n=${toHex(nonce)}`],
      env: toHex(nonce),
      extra: 'yes',
    });
  });

  it('honours a custom nonce variable, kind and a clean environment', async () => {
    const script = `process.stdout.write(JSON.stringify([process.env.MY_NONCE, process.env.HOME ?? null]))`;
    const gpu = new NvidiaCommandProvider({ argv: [NODE, '-e', script], nonceEnv: 'MY_NONCE', kind: 'nvidia-nras', inheritEnv: false });
    const r = await gpu.collect(nonce);
    expect(r).toEqual({ kind: 'nvidia-nras', evidence: [toHex(nonce), null] });
  });

  it('end to end: a collector printing real nvtrust-format evidence that then verifies', async () => {
    const sample = join(ATTESTATION_TESTDATA, 'nvidia', 'attestation-sdk', 'hopper_evidence.json');
    const sampleNonce = fromHex('e97b23a1718095a0e9e35edca810768c70a6a5a389b705e753b197912bc11576');
    const script = `const fs=require('node:fs'); if (process.argv[1] !== 'e97b23a1718095a0e9e35edca810768c70a6a5a389b705e753b197912bc11576') process.exit(3); process.stdout.write(fs.readFileSync(process.argv[2]))`;
    const gpu = new NvidiaCommandProvider({ argv: [NODE, '-e', script, '{nonce}', sample] });
    const { evidence } = await gpu.collect(sampleNonce);
    const { gpus } = await verifySpdmEvidence(evidence, { nonce: sampleNonce, now: 1_782_698_883 });
    expect(gpus).toHaveLength(1);
  });

  it('reports a failing command with its stderr', async () => {
    const gpu = new NvidiaCommandProvider({ argv: [NODE, '-e', `process.stderr.write('no GPU in CC mode'); process.exit(2)`] });
    const err = await gpu.collect(nonce).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EvidenceProviderError);
    expect((err as EvidenceProviderError).code).toBe('GPU_COMMAND_FAILED');
    expect((err as Error).message).toContain('no GPU in CC mode');
    expect((err as Error).message).toContain('status 2');
  });

  it('kills a command that runs too long', async () => {
    const started = Date.now();
    const gpu = new NvidiaCommandProvider({ argv: [NODE, '-e', 'setTimeout(() => {}, 20000)'], timeoutMs: 300 });
    expect(await code(gpu.collect(nonce))).toBe('GPU_COMMAND_TIMEOUT');
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('kills a command whose output exceeds the limit', async () => {
    const gpu = new NvidiaCommandProvider({
      argv: [NODE, '-e', `const b = Buffer.alloc(65536, 0x20); (function w(){ while (process.stdout.write(b)); process.stdout.once('drain', w); })()`],
      maxBytes: 1024 * 1024,
      timeoutMs: 10_000,
    });
    expect(await code(gpu.collect(nonce))).toBe('GPU_COMMAND_OUTPUT_TOO_LARGE');
  });

  it('rejects output that is not JSON, not UTF-8 or not an object', async () => {
    for (const script of [
      `process.stdout.write('not json')`,
      `process.stdout.write(Buffer.from([0xff, 0xfe, 0x7b]))`,
      `process.stdout.write('42')`,
      `process.stdout.write('null')`,
      ``,
    ]) {
      expect(await code(new NvidiaCommandProvider({ argv: [NODE, '-e', script] }).collect(nonce))).toBe(
        'GPU_COMMAND_OUTPUT_INVALID',
      );
    }
  });

  it('reports a command that cannot start', async () => {
    const gpu = new NvidiaCommandProvider({ argv: ['/nonexistent/sealgate-gpu-collector'] });
    expect(await code(gpu.collect(nonce))).toBe('GPU_COMMAND_SPAWN_FAILED');
  });

  it('rejects bad configuration and nonces of the wrong length', async () => {
    expect(() => new NvidiaCommandProvider({ argv: [''] })).toThrow(EvidenceProviderError);
    expect(() => new NvidiaCommandProvider({ argv: [NODE, 'a\0b'] })).toThrow(EvidenceProviderError);
    const gpu = new NvidiaCommandProvider({ argv: [NODE, '-e', '0'] });
    expect(await code(gpu.collect(new Uint8Array(16)))).toBe('EVIDENCE_BAD_INPUT');
    expect(await code(gpu.collect(new Uint8Array(64)))).toBe('EVIDENCE_BAD_INPUT');
  });
});
