import { readFileSync } from 'node:fs';
import { createVerifier, parsePolicy, type Policy } from '../attestation/index.ts';
import { jsonLogger } from '../gateway/log.ts';
import { startGateway, type RunningGateway } from '../gateway/node.ts';
import { int, parse, UsageError } from './args.ts';

export const GATEWAY_HELP = `sealgate gateway — run the gateway

  --port <n>              listen port (env PORT, default 8787)
  --host <addr>           listen address (env HOST, default 127.0.0.1)
  --db <file>             SQLite file (env SEALGATE_DB, default .sealgate/sealgate.db)
  --policy <file>         attestation policy JSON (env SEALGATE_POLICY); required
  --rpm <n> --tpm <n>     default per-key requests and tokens per minute (600, 1000000)
  --max-body-bytes <n>    request body limit (default 4194304)
  --admission-seconds <n> longest admission before re-attestation (default 600)
  --pccs-url <url>        Intel PCS or PCCS for TDX collateral (env SEALGATE_PCCS_URL); without it,
                          TDX workers must ship collateral in their evidence bundle
  --quiet                 no JSON event log on stderr`;

/** Reads and validates a policy file. */
export function loadPolicy(path: string): Policy {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new UsageError(`cannot read policy ${path}: ${e instanceof Error ? e.message : e}`);
  }
  return parsePolicy(json);
}

/** The warning every process that accepts simulated evidence prints at start. */
export function simulatedWarning(): string {
  const line = '!'.repeat(78);
  return [
    line,
    '!!  INSECURE: this gateway accepts SIMULATED TEE evidence (policy allowSimulated).',
    '!!  Simulated workers prove nothing about hardware. Development use only.',
    line,
  ].join('\n');
}

export async function runGateway(argv: string[]): Promise<RunningGateway> {
  const { values } = parse(argv, {
    port: { type: 'string' },
    host: { type: 'string' },
    db: { type: 'string' },
    policy: { type: 'string' },
    rpm: { type: 'string' },
    tpm: { type: 'string' },
    'max-body-bytes': { type: 'string' },
    'admission-seconds': { type: 'string' },
    'pccs-url': { type: 'string' },
    quiet: { type: 'boolean' },
  });
  const pccsUrl = values['pccs-url'] ?? process.env.SEALGATE_PCCS_URL;
  const policyPath = values.policy ?? process.env.SEALGATE_POLICY;
  if (!policyPath) throw new UsageError('--policy <file> is required (see README: Configuration)');
  const policy = loadPolicy(policyPath);
  if (policy.allowSimulated) console.error(simulatedWarning());
  const gw = await startGateway({
    port: int(values.port ?? process.env.PORT, 'port') ?? 8787,
    host: values.host ?? process.env.HOST ?? '127.0.0.1',
    dbPath: values.db ?? process.env.SEALGATE_DB,
    policy,
    verify: createVerifier(pccsUrl ? { pccsUrl } : {}),
    rpm: int(values.rpm, 'rpm'),
    tpm: int(values.tpm, 'tpm'),
    maxBodyBytes: int(values['max-body-bytes'], 'max-body-bytes'),
    admissionSeconds: int(values['admission-seconds'], 'admission-seconds'),
    logger: values.quiet ? undefined : jsonLogger,
  });
  console.log(`sealgate gateway listening on ${gw.url}`);
  return gw;
}
