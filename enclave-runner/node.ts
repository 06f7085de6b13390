import { serve, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { EnclaveWorker, type EnclaveWorkerOptions } from './worker.ts';
import { pooledFetch } from '../gateway/node-pool.ts';

export interface NodeWorkerOptions extends EnclaveWorkerOptions {
  port?: number;
  host?: string;
  /** URL the gateway should use to reach this worker; default `http://<host>:<port>`. */
  publicUrl?: string;
}

export interface RunningWorker {
  worker: EnclaveWorker;
  url: string;
  /** Drains, deregisters and closes the server. */
  stop(drainTimeoutMs?: number): Promise<void>;
  /** Closes the server at once, without deregistering (as a crash would). */
  kill(): Promise<void>;
}

/**
 * Starts an enclave worker on Node: serves it, registers with the gateway and
 * starts heartbeats.
 *
 * @example
 * const w = await startWorker({ gatewayUrl, backend: new DemoBackend(), tee: await SimulatedTeeProvider.create() });
 */
export async function startWorker(options: NodeWorkerOptions): Promise<RunningWorker> {
  // Calls to the gateway (registration, heartbeats, one receipt per request) over a
  // keep-alive undici pool unless the caller brings its own fetch: WHATWG fetch costs
  // several times more CPU per call.
  const pool = options.fetch ? null : pooledFetch();
  const worker = new EnclaveWorker(pool ? { ...options, fetch: pool.fetch } : options);
  const host = options.host ?? '127.0.0.1';
  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: worker.app.fetch, port: options.port ?? 0, hostname: host }, () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  const url = options.publicUrl ?? `http://${host}:${port}`;
  const close = async () => {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      (server as { closeAllConnections?: () => void }).closeAllConnections?.();
    });
    void pool?.close().catch(() => {}); // not awaited: a call to a gateway that is gone must not hold up shutdown
  };
  try {
    await worker.register(url);
  } catch (e) {
    await close();
    throw e;
  }
  worker.startHeartbeats();
  return {
    worker,
    url,
    async stop(drainTimeoutMs) {
      await worker.drain(drainTimeoutMs);
      await close();
    },
    async kill() {
      worker.stopHeartbeats();
      await close();
    },
  };
}
