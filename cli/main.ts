import { UsageError } from './args.ts';

const HELP = `sealgate — confidential inference gateway

Commands:
  sealgate dev        gateway + demo worker under a simulated TEE (what npm start runs)
  sealgate gateway    run the gateway
  sealgate worker     run an enclave worker
  sealgate keys       create, list and revoke API keys
  sealgate billing    TON deposits, payments and refunds for an API key
  sealgate evidence   collect this node's evidence bundle (to check it with sealgate verify)
  sealgate proxy      local OpenAI-compatible endpoint that verifies workers and seals end to end
  sealgate verify     verify a quote, report, NRAS token or evidence bundle against a policy

Run \`sealgate <command> --help\` for options.`;

interface Command {
  help: string;
  /** Runs the command; a returned number is the exit code. */
  run(argv: string[]): Promise<unknown>;
}

/** Each command loads only its own modules, so `sealgate verify` starts fast. */
const COMMANDS: Record<string, () => Promise<Command>> = {
  dev: async () => {
    const m = await import('./dev.ts');
    return { help: m.DEV_HELP, run: m.runDev };
  },
  gateway: async () => {
    const m = await import('./gateway.ts');
    return {
      help: m.GATEWAY_HELP,
      run: async (argv) => {
        const gw = await m.runGateway(argv);
        onSignal(() => gw.close());
      },
    };
  },
  worker: async () => {
    const m = await import('./worker.ts');
    return {
      help: m.WORKER_HELP,
      run: async (argv) => {
        if (argv[0] === 'payouts') return (await import('./payouts.ts')).runPayouts(argv.slice(1));
        const w = await m.runWorker(argv);
        // SIGTERM: stop taking requests, drain in-flight ones, deregister, exit.
        onSignal(() => w.stop(30_000));
      },
    };
  },
  billing: async () => {
    const m = await import('./billing.ts');
    return { help: m.BILLING_HELP, run: m.runBilling };
  },
  keys: async () => {
    const m = await import('./keys.ts');
    return { help: m.KEYS_HELP, run: m.runKeys };
  },
  evidence: async () => {
    const m = await import('./evidence.ts');
    return { help: m.EVIDENCE_HELP, run: m.runEvidence };
  },
  proxy: async () => {
    const m = await import('./proxy.ts');
    return {
      help: m.PROXY_HELP,
      run: async (argv) => {
        const p = await m.runProxy(argv);
        onSignal(() => p.close());
      },
    };
  },
  verify: async () => {
    const m = await import('./verify.ts');
    return { help: m.VERIFY_HELP, run: m.runVerify };
  },
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
const load = cmd ? COMMANDS[cmd] : undefined;
if (!load) {
  console.log(HELP);
  process.exit(!cmd || cmd === '--help' || cmd === 'help' ? 0 : 2);
}
const command = await load();
if (argv.includes('--help') || argv.includes('-h')) {
  console.log(command.help);
  process.exit(0);
}
try {
  const result = await command.run(argv);
  // Let output drain instead of exiting at once (pipes may be asynchronous).
  if (typeof result === 'number') process.exitCode = result;
} catch (e) {
  if (e instanceof UsageError) {
    console.error(`error: ${e.message}\n\n${command.help}`);
    process.exit(2);
  }
  const code = (e as { code?: unknown }).code;
  console.error(`error${typeof code === 'string' ? ` [${code}]` : ''}: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
}
