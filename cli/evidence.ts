import { writeFileSync } from 'node:fs';
import { gpuNonceFor, reportDataFor } from '../attestation/binding.ts';
import type { BindingClaims, EvidenceBundle } from '../attestation/types.ts';
import { toBase64, toHex } from '../attestation/util/bytes.ts';
import { boundKeys, generateWorkerKeys } from '../enclave-runner/keys.ts';
import { parse, UsageError } from './args.ts';
import { buildBackend, buildGpus, buildTee, NODE_OPTIONS } from './worker.ts';

export const EVIDENCE_HELP = `sealgate evidence — collect this node's evidence bundle, as a worker would register it

  --tee <kind>            configfs-tsm, tdx, sev-snp or simulated (as for sealgate worker)
  --tsm-root <dir>        configfs-tsm report root
  --gpu-evidence-cmd <p>, --gpu-evidence-arg <a>, --gpu-evidence-kind <k>   as for sealgate worker
  --backend, --upstream, --model   the models to bind (as for sealgate worker; default the demo model)
  --nonce <hex>           32-byte nonce to bind (default: random, printed)
  --out <file>            write the bundle JSON there (default stdout)

The keys in the bundle are fresh throw-away keys: use it with \`sealgate verify\`
to check a node and its policy before registering it.`;

/** Collects an evidence bundle for throw-away keys and a given or random nonce. */
export async function runEvidence(argv: string[]): Promise<void> {
  const { values } = parse(argv, {
    ...NODE_OPTIONS,
    nonce: { type: 'string' },
    out: { type: 'string' },
  });
  const nonce = (values.nonce ?? toHex(crypto.getRandomValues(new Uint8Array(32)))).toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(nonce)) throw new UsageError('--nonce must be 32 bytes of hex');
  const tee = await buildTee(values.tee, values['tsm-root']);
  const backend = await buildBackend(values);
  const binding: BindingClaims = {
    keys: boundKeys(generateWorkerKeys()),
    nonce,
    models: backend.models().map((m) => ({ id: m.id, digest: m.digest })),
    issuedAt: Math.floor(Date.now() / 1000),
  };
  const reportData = await reportDataFor(binding);
  const collected = await tee.collect(reportData);
  const gpuNonce = await gpuNonceFor(reportData);
  const gpus = await Promise.all(buildGpus(values).map((g) => g.collect(gpuNonce)));
  const bundle: EvidenceBundle = {
    version: 1,
    tee: {
      kind: collected.kind,
      evidence: toBase64(collected.evidence),
      ...(collected.collateral !== undefined ? { collateral: collected.collateral } : {}),
    },
    ...(gpus.length ? { gpus } : {}),
    binding,
  };
  const json = JSON.stringify(bundle, null, 2) + '\n';
  if (values.out) {
    writeFileSync(values.out, json);
    console.error(`wrote ${values.out} (nonce ${nonce})`);
  } else {
    process.stdout.write(json);
  }
}
