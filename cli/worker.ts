import { DemoBackend } from '../enclave-runner/backends/demo/index.ts';
import { OpenAIBackend } from '../enclave-runner/backends/openai.ts';
import type { Backend } from '../enclave-runner/backends/types.ts';
import { SimulatedTeeProvider } from '../enclave-runner/evidence/simulated.ts';
import { ConfigfsTsmProvider } from '../enclave-runner/evidence/configfs-tsm.ts';
import { NvidiaCommandProvider } from '../enclave-runner/evidence/nvidia-command.ts';
import type { GpuEvidenceProvider, TeeEvidenceProvider } from '../enclave-runner/evidence/types.ts';
import { startWorker, type RunningWorker } from '../enclave-runner/node.ts';
import type { WorkerEvent } from '../enclave-runner/worker.ts';
import { pooledFetch } from '../gateway/node.ts';
import { int, parse, UsageError } from './args.ts';
import type { Price } from '../sdk/protocol/receipt.ts';

export const WORKER_HELP = `sealgate worker — run an enclave worker (inside the TEE VM)

  --gateway <url>         gateway base URL (env SEALGATE_GATEWAY); required
  --port <n>              listen port (default: any free port)
  --host <addr>           listen address (default 127.0.0.1)
  --public-url <url>      URL the gateway reaches this worker at (default http://<host>:<port>)
  --tee <kind>            evidence provider: configfs-tsm (Linux configfs-tsm, TDX or SNP detected),
                          tdx, sev-snp, or simulated (default; development only, insecure)
  --tsm-root <dir>        configfs-tsm report root (default /sys/kernel/config/tsm/report)
  --gpu-evidence-cmd <p>  program that prints NVIDIA GPU evidence JSON for the nonce in
                          $SEALGATE_GPU_NONCE (or an argument containing {nonce})
  --gpu-evidence-arg <a>  argument for that program (repeatable)
  --gpu-evidence-kind <k> nvidia-spdm (default) or nvidia-nras
  --backend <name>        demo (built-in, default) or openai
  --upstream <url>        openai backend: base URL, e.g. http://127.0.0.1:8000/v1
  --upstream-key <key>    openai backend: API key for the upstream (env SEALGATE_UPSTREAM_KEY)
  --model <id[=digest]>   openai backend: served model and its weights digest (repeatable)
  --demo-delay-ms <n>     demo backend: delay between streamed tokens
  --price <model>=<p>,<c> price of a model in nanoton per prompt and per completion token (repeatable;
                          a model without one is free). Fixed for as long as this worker runs
  --payout-channel <addr> your payment channel from the gateway operator: receipts are paid through it

sealgate worker payouts — what the gateway owes you, and claiming it on TON

  --gateway <url>         gateway base URL (env SEALGATE_GATEWAY); required
  --channel <addr>        your payout channel; required
  --ton-endpoint <url>    toncenter v2 JSON-RPC URL (env SEALGATE_TON_ENDPOINT): show what is paid
  --ton-api-key <key>     (env SEALGATE_TON_API_KEY)
  --claim                 claim what is owed with the newest voucher
  --wallet-key <file>     the payee wallet's Ed25519 seed, 64 hex digits (needed for --claim)`;

/** Options shared by `worker` and `evidence`: where evidence comes from and which models are bound. */
export const NODE_OPTIONS = {
  tee: { type: 'string' },
  'tsm-root': { type: 'string' },
  'gpu-evidence-cmd': { type: 'string' },
  'gpu-evidence-arg': { type: 'string', multiple: true },
  'gpu-evidence-kind': { type: 'string' },
  backend: { type: 'string' },
  upstream: { type: 'string' },
  model: { type: 'string', multiple: true },
} as const;

export function workerLogger(e: WorkerEvent): void {
  console.error(JSON.stringify({ t: new Date().toISOString(), ...e }));
}

export async function buildBackend(values: {
  backend?: string;
  upstream?: string;
  'upstream-key'?: string;
  model?: string[];
  'demo-delay-ms'?: string;
}): Promise<Backend> {
  const name = values.backend ?? 'demo';
  if (name === 'demo') return new DemoBackend({ tokenDelayMs: int(values['demo-delay-ms'], 'demo-delay-ms') ?? 0 });
  if (name === 'openai') {
    if (!values.upstream) throw new UsageError('--backend openai needs --upstream <url>');
    if (!values.model?.length) throw new UsageError('--backend openai needs at least one --model <id[=digest]>');
    return new OpenAIBackend({
      baseUrl: values.upstream,
      apiKey: values['upstream-key'] ?? process.env.SEALGATE_UPSTREAM_KEY,
      fetch: pooledFetch().fetch,
      models: values.model.map((m) => {
        const [id, digest] = m.split('=', 2) as [string, string | undefined];
        return { id, ...(digest ? { digest } : {}) };
      }),
    });
  }
  throw new UsageError(`unknown backend ${name}`);
}

export async function buildTee(kind: string | undefined, tsmRoot?: string): Promise<TeeEvidenceProvider> {
  const root = tsmRoot ? { root: tsmRoot } : {};
  if (kind === undefined || kind === 'simulated') return SimulatedTeeProvider.create();
  if (kind === 'configfs-tsm') return ConfigfsTsmProvider.detect(root);
  if (kind === 'tdx' || kind === 'sev-snp') return new ConfigfsTsmProvider({ kind, ...root });
  throw new UsageError(`unknown --tee ${kind}`);
}

export function buildGpus(values: { 'gpu-evidence-cmd'?: string; 'gpu-evidence-arg'?: string[]; 'gpu-evidence-kind'?: string }): GpuEvidenceProvider[] {
  const cmd = values['gpu-evidence-cmd'];
  if (!cmd) return [];
  const kind = values['gpu-evidence-kind'] ?? 'nvidia-spdm';
  if (kind !== 'nvidia-spdm' && kind !== 'nvidia-nras') throw new UsageError(`unknown --gpu-evidence-kind ${kind}`);
  return [new NvidiaCommandProvider({ argv: [cmd, ...(values['gpu-evidence-arg'] ?? [])], kind })];
}

export async function runWorker(argv: string[]): Promise<RunningWorker> {
  const { values } = parse(argv, {
    gateway: { type: 'string' },
    port: { type: 'string' },
    host: { type: 'string' },
    'public-url': { type: 'string' },
    ...NODE_OPTIONS,
    'upstream-key': { type: 'string' },
    'demo-delay-ms': { type: 'string' },
    price: { type: 'string', multiple: true },
    'payout-channel': { type: 'string' },
  });
  const gatewayUrl = values.gateway ?? process.env.SEALGATE_GATEWAY;
  if (!gatewayUrl) throw new UsageError('--gateway <url> is required');
  const tee = await buildTee(values.tee, values['tsm-root']);
  if (tee.kind === 'simulated') console.error('WARNING: simulated TEE — this worker proves nothing about hardware (development only).');
  const w = await startWorker({
    gatewayUrl,
    backend: await buildBackend(values),
    tee,
    gpus: buildGpus(values),
    port: int(values.port, 'port') ?? 0,
    host: values.host ?? '127.0.0.1',
    publicUrl: values['public-url'],
    prices: parsePrices(values.price ?? []),
    ...(values['payout-channel'] ? { payoutChannel: values['payout-channel'] } : {}),
    onEvent: workerLogger,
  });
  console.log(`sealgate worker ${w.worker.id} serving at ${w.url}`);
  return w;
}

/** `--price model=prompt,completion` values (nanoton per token). */
export function parsePrices(flags: string[]): Record<string, Price> {
  const out: Record<string, Price> = {};
  for (const f of flags) {
    const m = /^(.+)=(\d{1,19}),(\d{1,19})$/.exec(f);
    if (!m) throw new UsageError(`--price ${f}: expected <model>=<prompt nanoton>,<completion nanoton>`);
    out[m[1]!] = { prompt: BigInt(m[2]!).toString(), completion: BigInt(m[3]!).toString() };
  }
  return out;
}
