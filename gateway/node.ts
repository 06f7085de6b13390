import type { AddressInfo } from 'node:net';
import { createGateway, type Gateway, type GatewayOptions } from './app.ts';
import { directRoute, listen, serveDirect } from './node-direct.ts';
import { pooledFetch } from './node-pool.ts';
import { openLibsqlStorage, DEFAULT_DB_PATH } from './storage/libsql.ts';
import type { Storage } from './storage/types.ts';

export { pooledFetch };

/** Node entry options: the gateway's own plus where to listen and store. */
export interface NodeGatewayOptions extends Omit<GatewayOptions, 'storage' | 'fetch'> {
  port?: number;
  host?: string;
  /** SQLite file; default `.sealgate/sealgate.db` under the working directory. */
  dbPath?: string;
  storage?: Storage;
}

export interface RunningGateway extends Gateway {
  url: string;
  storage: Storage;
  close(): Promise<void>;
}

/**
 * Starts the gateway on Node with SQLite storage and an undici pool.
 *
 * @example
 * const gw = await startGateway({ port: 8787, policy });
 * console.log(gw.url); await gw.close();
 */
export async function startGateway(options: NodeGatewayOptions): Promise<RunningGateway> {
  const storage = options.storage ?? (await openLibsqlStorage(options.dbPath ?? DEFAULT_DB_PATH));
  const pool = pooledFetch();
  const gw = createGateway({ ...options, storage, fetch: pool.fetch });
  const host = options.host ?? '127.0.0.1';
  // Completions and sealed requests without an Origin header are served straight from node:http
  // (`Gateway.direct`): same handler, no Request/Response objects or Hono dispatch.
  const server = await listen({
    fetch: gw.app.fetch,
    port: options.port ?? 8787,
    hostname: host,
    pick: (req) => (req.headers.origin === undefined ? directRoute(req, gw.direct) : undefined),
    direct: serveDirect,
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    ...gw,
    url,
    storage,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
      await gw.flush();
      await pool.close();
      if (!options.storage) await storage.close();
    },
  };
}
