import { DemoBackend } from '../enclave-runner/backends/demo/index.ts';
import { OpenAIBackend } from '../enclave-runner/backends/openai.ts';
import type { Backend } from '../enclave-runner/backends/types.ts';
import { SimulatedTeeProvider } from '../enclave-runner/evidence/simulated.ts';
import type { TeeEvidenceProvider } from '../enclave-runner/evidence/types.ts';
import { startWorker, type RunningWorker } from '../enclave-runner/node.ts';
import type { WorkerEvent } from '../enclave-runner/worker.ts';
import { pooledFetch } from '../gateway/node.ts';
import { int, parse, UsageError } from './args.ts';

export const WORKER_HELP = `sealgate worker — run an enclave worker (inside the TEE VM)

  --gateway <url>         gateway base URL (env SEALGATE_GATEWAY); required
  --port <n>              listen port (default: any free port)
  --host <addr>           listen address (default 127.0.0.1)
  --public-url <url>      URL the gateway reaches this worker at (default http://<host>:<port>)
  --tee <kind>            evidence provider: simulated (development only)
  --backend <name>        demo (built-in, default) or openai
  --upstream <url>        openai backend: base URL, e.g. http://127.0.0.1:8000/v1
  --upstream-key <key>    openai backend: API key for the upstream (env SEALGATE_UPSTREAM_KEY)
  --model <id[=digest]>   openai backend: served model and its weights digest (repeatable)
  --demo-delay-ms <n>     demo backend: delay between streamed tokens`;

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

export async function buildTee(kind: string | undefined): Promise<TeeEvidenceProvider> {
  if (kind === undefined || kind === 'simulated') return SimulatedTeeProvider.create();
  throw new UsageError(`unknown --tee ${kind}`);
}

export async function runWorker(argv: string[]): Promise<RunningWorker> {
  const { values } = parse(argv, {
    gateway: { type: 'string' },
    port: { type: 'string' },
    host: { type: 'string' },
    'public-url': { type: 'string' },
    tee: { type: 'string' },
    backend: { type: 'string' },
    upstream: { type: 'string' },
    'upstream-key': { type: 'string' },
    model: { type: 'string', multiple: true },
    'demo-delay-ms': { type: 'string' },
  });
  const gatewayUrl = values.gateway ?? process.env.SEALGATE_GATEWAY;
  if (!gatewayUrl) throw new UsageError('--gateway <url> is required');
  const tee = await buildTee(values.tee);
  if (tee.kind === 'simulated') console.error('WARNING: simulated TEE — this worker proves nothing about hardware (development only).');
  const w = await startWorker({
    gatewayUrl,
    backend: await buildBackend(values),
    tee,
    port: int(values.port, 'port') ?? 0,
    host: values.host ?? '127.0.0.1',
    publicUrl: values['public-url'],
    onEvent: workerLogger,
  });
  console.log(`sealgate worker ${w.worker.id} serving at ${w.url}`);
  return w;
}
