import { readFileSync } from 'node:fs';
import { createVerifier, parsePolicy, type Policy } from '../attestation/index.ts';
import { jsonLogger } from '../gateway/log.ts';
import { startGateway, type RunningGateway } from '../gateway/node.ts';
import { settleClientVouchers, type SettleChain } from '../gateway/billing/settle.ts';
import { int, parse, readSeedKey, UsageError } from './args.ts';

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
  --ton-endpoint <url>    toncenter v2 JSON-RPC URL for TON billing (env SEALGATE_TON_ENDPOINT)
  --ton-api-key <key>     toncenter API key (env SEALGATE_TON_API_KEY)
  --operator-key <file>   the operator's Ed25519 seed, 64 hex digits (env SEALGATE_OPERATOR_KEY). With
                          --ton-endpoint, billing is on: keys need a deposit, payout vouchers are signed
  --client-credit <n>     nanoton a key may use beyond its newest voucher (default 1000000000)
  --settle-seconds <n>    how often the operator claims clients' vouchers on chain (default 300)
  --cors-origin <origin>  origin allowed to call the API from a browser (repeatable; default any)
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
    'ton-endpoint': { type: 'string' },
    'ton-api-key': { type: 'string' },
    'operator-key': { type: 'string' },
    'client-credit': { type: 'string' },
    'settle-seconds': { type: 'string' },
    'cors-origin': { type: 'string', multiple: true },
    quiet: { type: 'boolean' },
  });
  const pccsUrl = values['pccs-url'] ?? process.env.SEALGATE_PCCS_URL;
  const policyPath = values.policy ?? process.env.SEALGATE_POLICY;
  if (!policyPath) throw new UsageError('--policy <file> is required (see README: Configuration)');
  const policy = loadPolicy(policyPath);
  if (policy.allowSimulated) console.error(simulatedWarning());
  const billing = await billingFromFlags(values);
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
    billing: billing?.options,
    ...(values['cors-origin']?.length ? { corsOrigins: values['cors-origin'] } : {}),
    logger: values.quiet ? undefined : jsonLogger,
  });
  console.log(`sealgate gateway listening on ${gw.url}`);
  if (!billing) return gw;
  // The operator collects clients' vouchers well inside their dispute windows (at least a day).
  const log = values.quiet ? () => {} : jsonLogger;
  const settle = async () => {
    for (const r of await settleClientVouchers(gw.storage, billing.settleChain).catch((e: Error) => [{ channel: '*', error: e.message }])) {
      log({ event: 'billing.settle', ...r });
    }
  };
  const timer = setInterval(() => void settle(), (int(values['settle-seconds'], 'settle-seconds') ?? 300) * 1000);
  timer.unref();
  return {
    ...gw,
    close: async () => {
      clearInterval(timer);
      await gw.close();
    },
  };
}

/** Chain access and the operator's key from the flags; undefined when billing is off. */
export async function billingFromFlags(values: {
  'ton-endpoint'?: string;
  'ton-api-key'?: string;
  'operator-key'?: string;
  'client-credit'?: string;
}): Promise<{ options: GatewayBilling; settleChain: SettleChain } | undefined> {
  const endpoint = values['ton-endpoint'] ?? process.env.SEALGATE_TON_ENDPOINT;
  const keyFile = values['operator-key'] ?? process.env.SEALGATE_OPERATOR_KEY;
  if (!endpoint && !keyFile) return undefined;
  if (!endpoint || !keyFile) throw new UsageError('billing needs both --ton-endpoint and --operator-key');
  const { openTonChain, claimOnChain } = await import('../contracts/chain/index.ts');
  const chain = openTonChain({ endpoint, apiKey: values['ton-api-key'] ?? process.env.SEALGATE_TON_API_KEY });
  const key = readSeedKey(keyFile, 'operator-key');
  const credit = values['client-credit'];
  if (credit !== undefined && !/^\d{1,19}$/.test(credit)) throw new UsageError('--client-credit must be nanoton (an integer)');
  return {
    options: {
      chain,
      operator: { address: chain.walletAddress(key.publicKey), publicKey: key.publicKey, secretKey: key.secretKey },
      ...(credit !== undefined ? { clientCredit: BigInt(credit) } : {}),
    },
    settleChain: {
      readChannel: (a) => chain.readChannel(a),
      claim: async (channel, voucher) => {
        await claimOnChain(chain, key, channel, voucher);
      },
    },
  };
}

type GatewayBilling = NonNullable<Parameters<typeof startGateway>[0]['billing']>;
