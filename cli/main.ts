import { UsageError } from './args.ts';
import { DEV_HELP, runDev } from './dev.ts';
import { EVIDENCE_HELP, runEvidence } from './evidence.ts';
import { GATEWAY_HELP, runGateway } from './gateway.ts';
import { KEYS_HELP, runKeys } from './keys.ts';
import { runWorker, WORKER_HELP } from './worker.ts';

const HELP = `sealgate — confidential inference gateway

Commands:
  sealgate dev        gateway + demo worker under a simulated TEE (what npm start runs)
  sealgate gateway    run the gateway
  sealgate worker     run an enclave worker
  sealgate keys       create, list and revoke API keys
  sealgate evidence   collect this node's evidence bundle (to check it with sealgate verify)

Run \`sealgate <command> --help\` for options.`;

const COMMANDS: Record<string, { help: string; run: (argv: string[]) => Promise<unknown> }> = {
  dev: { help: DEV_HELP, run: runDev },
  gateway: {
    help: GATEWAY_HELP,
    run: async (argv) => {
      const gw = await runGateway(argv);
      onSignal(() => gw.close());
    },
  },
  worker: {
    help: WORKER_HELP,
    run: async (argv) => {
      const w = await runWorker(argv);
      // SIGTERM: deregister, drain in-flight requests, then exit.
      onSignal(() => w.stop(30_000));
    },
  },
  keys: { help: KEYS_HELP, run: runKeys },
  evidence: { help: EVIDENCE_HELP, run: runEvidence },
};

function onSignal(stop: () => Promise<void>) {
  let stopping = false;
  const handler = () => {
    if (stopping) return;
    stopping = true;
    stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}

const [cmd, ...argv] = process.argv.slice(2);
const command = cmd ? COMMANDS[cmd] : undefined;
if (!command || cmd === '--help' || cmd === 'help') {
  console.log(HELP);
  process.exit(command || !cmd || cmd === '--help' || cmd === 'help' ? 0 : 2);
}
if (argv.includes('--help') || argv.includes('-h')) {
  console.log(command.help);
  process.exit(0);
}
try {
  await command.run(argv);
} catch (e) {
  if (e instanceof UsageError) {
    console.error(`error: ${e.message}\n\n${command.help}`);
    process.exit(2);
  }
  const code = (e as { code?: unknown }).code;
  console.error(`error${typeof code === 'string' ? ` [${code}]` : ''}: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
}
