// Child process for benchmarks: a fake OpenAI-compatible upstream on loopback.
import { startFakeUpstream } from '../test/fake-upstream.ts';

const u = await startFakeUpstream();
console.log(`UPSTREAM ${u.url}`);
process.on('SIGTERM', () => void u.close().then(() => process.exit(0)));
