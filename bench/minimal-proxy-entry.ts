// Child process for benchmarks: the smallest possible HTTP proxy hop (node:http + undici.request),
// a floor for what any extra hop costs on this machine.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';

const target = process.argv[2]!;
const pool = new Pool(new URL(target).origin, { connections: 64 });
const server = createServer(async (req, res) => {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const r = await pool.request({ method: 'POST', path: new URL(target).pathname + '/chat/completions', headers: { 'content-type': 'application/json' }, body: Buffer.concat(chunks) });
  const body = Buffer.from(await r.body.arrayBuffer());
  res.writeHead(r.statusCode, { 'content-type': 'application/json', 'content-length': body.length });
  res.end(body);
});
server.listen(0, '127.0.0.1', () => console.log(`PROXY http://127.0.0.1:${(server.address() as AddressInfo).port}`));
process.on('SIGTERM', () => process.exit(0));
