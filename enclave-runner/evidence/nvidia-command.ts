/**
 * GPU evidence from an external command (e.g. a wrapper around NVIDIA's
 * nvtrust / attestation SDK collector). The command runs without a shell
 * (argv array); the nonce is passed as lowercase hex in an environment
 * variable and wherever an argument contains `{nonce}`. Its standard output
 * must be the evidence as JSON (for `nvidia-spdm`: nvtrust's
 * `[{arch, evidence, certificate}]` list; for `nvidia-nras`: the NRAS
 * response). Bounded by a timeout and an output size limit.
 *
 * Node-only adapter.
 */
import { spawn } from 'node:child_process';
import type { GpuKind } from '../../attestation/types.ts';
import { toHex } from '../../attestation/util/bytes.ts';
import {
  EvidenceInputError,
  GpuCommandFailedError,
  GpuCommandOutputInvalidError,
  GpuCommandOutputTooLargeError,
  GpuCommandSpawnError,
  GpuCommandTimeoutError,
} from './errors.ts';
import type { GpuEvidenceProvider } from './types.ts';

/** Placeholder replaced by the nonce hex in command arguments. */
export const NONCE_PLACEHOLDER = '{nonce}';
/** Environment variable that always carries the nonce hex. */
export const DEFAULT_NONCE_ENV = 'SEALGATE_GPU_NONCE';

/** Options for `NvidiaCommandProvider`. */
export interface NvidiaCommandOptions {
  /** Program and arguments. No shell is involved; `{nonce}` inside an argument is replaced. */
  argv: readonly [string, ...string[]];
  /** Kind of evidence the command prints. Default `nvidia-spdm`. */
  kind?: GpuKind;
  /** Name of the environment variable carrying the nonce. Default `SEALGATE_GPU_NONCE`. */
  nonceEnv?: string;
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Pass this process's environment through. Default true. */
  inheritEnv?: boolean;
  cwd?: string;
  /** Kill the command after this long, milliseconds. Default 120000. */
  timeoutMs?: number;
  /** Largest standard output accepted, bytes. Default 16 MiB. */
  maxBytes?: number;
  /** Nonce length the caller must pass, bytes. Default 32 (the GPU nonce). */
  nonceLength?: number;
}

const STDERR_TAIL = 4096;

/**
 * `GpuEvidenceProvider` that runs a configured command.
 *
 * @example
 * const gpu = new NvidiaCommandProvider({ argv: ['/opt/sealgate/collect-gpu-evidence', '--nonce', '{nonce}'] });
 * const { kind, evidence } = await gpu.collect(gpuNonce);
 */
export class NvidiaCommandProvider implements GpuEvidenceProvider {
  readonly kind: GpuKind;
  readonly #o: NvidiaCommandOptions;

  constructor(options: NvidiaCommandOptions) {
    if (!Array.isArray(options.argv) || options.argv.length === 0 || typeof options.argv[0] !== 'string' || options.argv[0] === '') {
      throw new EvidenceInputError('argv must name a program');
    }
    if (!options.argv.every((a) => typeof a === 'string' && !a.includes('\0'))) {
      throw new EvidenceInputError('argv entries must be strings without NUL bytes');
    }
    this.kind = options.kind ?? 'nvidia-spdm';
    this.#o = options;
  }

  async collect(nonce: Uint8Array): Promise<{ kind: GpuKind; evidence: unknown }> {
    const nonceLength = this.#o.nonceLength ?? 32;
    if (!(nonce instanceof Uint8Array) || nonce.length !== nonceLength) {
      throw new EvidenceInputError(`GPU nonce must be exactly ${nonceLength} bytes`);
    }
    const hex = toHex(nonce);
    const [program, ...rest] = this.#o.argv;
    const args = rest.map((a) => a.split(NONCE_PLACEHOLDER).join(hex));
    const env: Record<string, string> = {};
    if (this.#o.inheritEnv ?? true) {
      for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
    }
    Object.assign(env, this.#o.env ?? {});
    env[this.#o.nonceEnv ?? DEFAULT_NONCE_ENV] = hex;
    const stdout = await this.#run(program, args, env);
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(stdout);
    } catch (e) {
      throw new GpuCommandOutputInvalidError('GPU evidence command output is not UTF-8', { cause: e });
    }
    let evidence: unknown;
    try {
      evidence = JSON.parse(text);
    } catch (e) {
      throw new GpuCommandOutputInvalidError('GPU evidence command output is not JSON', { cause: e });
    }
    if (typeof evidence !== 'object' || evidence === null) {
      throw new GpuCommandOutputInvalidError('GPU evidence command output is not a JSON object or array');
    }
    return { kind: this.kind, evidence };
  }

  #run(program: string, args: string[], env: Record<string, string>): Promise<Uint8Array> {
    const timeoutMs = this.#o.timeoutMs ?? 120_000;
    const maxBytes = this.#o.maxBytes ?? 16 * 1024 * 1024;
    return new Promise((resolve, reject) => {
      let settled = false;
      const chunks: Buffer[] = [];
      let size = 0;
      let stderr = '';
      let child: ReturnType<typeof spawn>;
      try {
        child = spawn(program, args, {
          shell: false,
          stdio: ['ignore', 'pipe', 'pipe'],
          env,
          ...(this.#o.cwd ? { cwd: this.#o.cwd } : {}),
          // Own process group, so a timeout also kills what the command started.
          detached: process.platform !== 'win32',
          windowsHide: true,
        });
      } catch (e) {
        reject(new GpuCommandSpawnError(`cannot start ${program}`, { cause: e }));
        return;
      }
      const kill = () => {
        try {
          if (child.pid !== undefined && process.platform !== 'win32') process.kill(-child.pid, 'SIGKILL');
          else child.kill('SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
      };
      const finish = (err: Error | undefined, value?: Uint8Array) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(value!);
      };
      const timer = setTimeout(() => {
        kill();
        finish(new GpuCommandTimeoutError(`GPU evidence command did not finish within ${timeoutMs} ms`));
      }, timeoutMs);
      child.stdout!.on('data', (c: Buffer) => {
        size += c.length;
        if (size > maxBytes) {
          kill();
          finish(new GpuCommandOutputTooLargeError(`GPU evidence command wrote more than ${maxBytes} bytes`));
          return;
        }
        chunks.push(c);
      });
      child.stderr!.on('data', (c: Buffer) => {
        stderr = (stderr + c.toString('utf8')).slice(-STDERR_TAIL);
      });
      child.on('error', (e) => {
        kill();
        finish(new GpuCommandSpawnError(`cannot run ${program}: ${(e as NodeJS.ErrnoException).code ?? e.message}`, { cause: e }));
      });
      child.on('close', (code, signal) => {
        if (code !== 0) {
          const why = signal ? `was killed by ${signal}` : `exited with status ${code}`;
          finish(new GpuCommandFailedError(`GPU evidence command ${why}${stderr ? `: ${stderr.trim()}` : ''}`));
          return;
        }
        finish(undefined, new Uint8Array(Buffer.concat(chunks)));
      });
    });
  }
}
