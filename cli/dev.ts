import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parsePolicy, type PolicyInput } from '../attestation/index.ts';
import { toHex } from '../attestation/util/bytes.ts';
import { generateApiKey, hashApiKey, recordForKey } from '../gateway/auth/index.ts';
import { jsonLogger } from '../gateway/log.ts';
import { startGateway } from '../gateway/node.ts';
import { DEFAULT_DB_PATH } from '../gateway/storage/libsql.ts';
import { DemoBackend, DEMO_MODEL_ID } from '../enclave-runner/backends/demo/index.ts';
import { SimulatedTeeProvider } from '../enclave-runner/evidence/simulated.ts';
import { startWorker } from '../enclave-runner/node.ts';
import { int, parse } from './args.ts';
import { simulatedWarning } from './gateway.ts';
import { workerLogger } from './worker.ts';

export const DEV_HELP = `sealgate dev — what \`npm start\` runs: a gateway with local storage and one demo
worker under a SIMULATED TEE (insecure, development only).

  --port <n>            gateway port (env PORT, default 8787)
  --db <file>           SQLite file (env SEALGATE_DB, default .sealgate/sealgate.db)
  --demo-delay-ms <n>   delay between streamed demo tokens (default 15)
  --verbose             JSON event log on stderr
  env SEALGATE_DEV_API_KEY  use this API key instead of generating one`;

/** Starts gateway + demo worker, prints URL and key, stops both on SIGINT/SIGTERM. */
export async function runDev(argv: string[]): Promise<void> {
  const { values } = parse(argv, {
    port: { type: 'string' },
    db: { type: 'string' },
    'demo-delay-ms': { type: 'string' },
    verbose: { type: 'boolean' },
  });
  const dbPath = resolve(values.db ?? process.env.SEALGATE_DB ?? DEFAULT_DB_PATH);
  const tee = await SimulatedTeeProvider.create();
  // The dev policy trusts exactly this process's simulated TEE key.
  const policyInput: PolicyInput = { allowSimulated: true, simulated: { signers: [toHex(tee.tee.publicKey)] } };
  const policy = parsePolicy(policyInput);
  const policyPath = join(dirname(dbPath), 'dev-policy.json');
  mkdirSync(dirname(policyPath), { recursive: true });
  writeFileSync(policyPath, JSON.stringify(policyInput, null, 2) + '\n');

  console.error(simulatedWarning());
  const gateway = await startGateway({
    port: int(values.port ?? process.env.PORT, 'port') ?? 8787,
    dbPath,
    policy,
    logger: values.verbose ? jsonLogger : undefined,
  });

  const envKey = process.env.SEALGATE_DEV_API_KEY;
  let apiKey: string;
  if (envKey) {
    apiKey = envKey;
    if (!(await gateway.storage.findApiKeyByHash(hashApiKey(envKey)))) {
      await gateway.storage.createApiKey(await recordForKey(envKey, 'dev'));
    }
  } else {
    const g = await generateApiKey('dev');
    apiKey = g.key;
    await gateway.storage.createApiKey(g.record);
  }

  const worker = await startWorker({
    gatewayUrl: gateway.url,
    backend: new DemoBackend({ tokenDelayMs: int(values['demo-delay-ms'], 'demo-delay-ms') ?? 15 }),
    tee,
    onEvent: values.verbose ? workerLogger : undefined,
  });

  console.log(`
sealgate is running (development mode, simulated TEE — NOT confidential)

  base URL  ${gateway.url}/v1
  API key   ${apiKey}
  model     ${DEMO_MODEL_ID}   (worker ${worker.worker.id})
  policy    ${policyPath}

Try it:
  curl ${gateway.url}/v1/chat/completions -H "authorization: Bearer ${apiKey}" \\
    -H "content-type: application/json" \\
    -d '{"model":"${DEMO_MODEL_ID}","messages":[{"role":"user","content":"Summarize: ..."}]}'

Sealed end to end (the client verifies the worker itself):
  npx sealgate proxy --gateway ${gateway.url} --policy ${policyPath}
  then use http://127.0.0.1:8788/v1 with the same key.

Press Ctrl-C to stop.`);

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    console.log('\nstopping: draining the worker, then the gateway…');
    await worker.stop(10_000);
    await gateway.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}
