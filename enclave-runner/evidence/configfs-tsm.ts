/**
 * TEE evidence through Linux configfs-tsm (Linux 6.7+,
 * Documentation/ABI/testing/configfs-tsm-report): one fresh report entry per
 * request under `/sys/kernel/config/tsm/report`, 64 bytes of report data
 * written to `inblob`, the quote/report read from `outblob`, the SEV-SNP
 * certificate table from `auxblob`, `provider` to tell TDX from SEV-SNP, and
 * `generation` to detect a concurrent writer. The entry is removed afterwards.
 *
 * Node-only adapter (file system access); the file system is injectable.
 */
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import type { TeeKind } from '../../attestation/types.ts';
import { concatByteList, toBase64 } from '../../attestation/util/bytes.ts';
import {
  EvidenceInputError,
  TsmAuxblobInvalidError,
  TsmEmptyReportError,
  TsmGenerationRaceError,
  TsmIoError,
  TsmProviderMismatchError,
  TsmReportTooLargeError,
  TsmUnavailableError,
  TsmUnsupportedProviderError,
} from './errors.ts';
import type { TeeEvidence, TeeEvidenceProvider } from './types.ts';

/** Where configfs-tsm lives on a standard system. */
export const DEFAULT_TSM_REPORT_ROOT = '/sys/kernel/config/tsm/report';
/** Length of `inblob` (TSM_REPORT_INBLOB_MAX). */
export const TSM_INBLOB_LEN = 64;

/** The file operations the provider needs; inject a fake in tests. */
export interface TsmFs {
  mkdir(path: string): Promise<void>;
  rmdir(path: string): Promise<void>;
  /** Reads at most `maxBytes + 1` bytes (so the caller can tell "too large"). */
  readFile(path: string, maxBytes: number): Promise<Uint8Array>;
  /** Writes `data` in one open/write/close (configfs commits binary attributes on close). */
  writeFile(path: string, data: Uint8Array): Promise<void>;
}

/** The real file system. */
export const nodeTsmFs: TsmFs = {
  async mkdir(path) {
    await fsp.mkdir(path);
  },
  async rmdir(path) {
    await fsp.rmdir(path);
  },
  async readFile(path, maxBytes) {
    const fh = await fsp.open(path, 'r');
    try {
      const chunks: Uint8Array[] = [];
      let total = 0;
      for (;;) {
        const buf = new Uint8Array(Math.min(64 * 1024, maxBytes + 1 - total));
        if (buf.length === 0) break;
        const { bytesRead } = await fh.read(buf, 0, buf.length, null);
        if (bytesRead === 0) break;
        chunks.push(buf.subarray(0, bytesRead));
        total += bytesRead;
      }
      return concatByteList(chunks);
    } finally {
      await fh.close();
    }
  },
  async writeFile(path, data) {
    await fsp.writeFile(path, data);
  },
};

/** Options for `ConfigfsTsmProvider`. */
export interface ConfigfsTsmOptions {
  /** TEE kind expected from the `provider` attribute. Use `ConfigfsTsmProvider.detect` to find it. */
  kind: Exclude<TeeKind, 'simulated'>;
  /** Report root. Default `/sys/kernel/config/tsm/report`. */
  root?: string;
  /** SEV-SNP VMPL to request through `privlevel` (0-3). Not written when absent. */
  privlevel?: number;
  /** Largest `outblob`/`auxblob` accepted, bytes. Default 1 MiB. */
  maxBytes?: number;
  /** Attempts when another writer races us on the same entry. Default 3. */
  attempts?: number;
  /** File system layer. Default: `nodeTsmFs`. */
  fs?: TsmFs;
  /** Name for a fresh report entry. Default `sealgate-<random uuid>`. */
  entryName?: () => string;
}

/** Maps the `provider` attribute to a TEE kind. */
export function tsmProviderKind(provider: string): Exclude<TeeKind, 'simulated'> | undefined {
  switch (provider.trim()) {
    case 'tdx_guest':
    case 'tdx':
      return 'tdx';
    case 'sev_guest':
    case 'sev-snp':
    case 'sev_snp':
      return 'sev-snp';
    default:
      return undefined;
  }
}

/** GHCB certificate-table GUIDs (GHCB spec 4.1.8.1) by the name used in collateral. */
const SNP_CERT_GUIDS: Record<string, 'vcek' | 'vlek' | 'ask' | 'ark'> = {
  '63da758d-e664-4564-adc5-f4b93be8accd': 'vcek',
  'a8074bc2-a25a-483e-aae6-39c045a0b8a1': 'vlek',
  '4ab7b379-bbac-4fe4-a02f-05aef327c782': 'ask',
  'c0b406a4-a803-4952-9743-3fb6014cd0ae': 'ark',
};

/**
 * SEV-SNP collateral produced from `auxblob`, in the field names the SEV-SNP
 * verifier's collateral accepts (`vcek`/`vlek`/`ask`/`ark` as base64 DER).
 */
export interface SnpTsmCollateral {
  vcek?: string;
  vlek?: string;
  ask?: string;
  ark?: string;
  /** Certificates with GUIDs other than the four above, base64 DER by GUID. */
  otherCertificates?: Record<string, string>;
  /** The raw GHCB certificate table, base64. */
  certTable: string;
}

function guidString(b: Uint8Array): string {
  const h = (i: number) => b[i]!.toString(16).padStart(2, '0');
  const le = (idx: number[]) => idx.map(h).join('');
  return `${le([3, 2, 1, 0])}-${le([5, 4])}-${le([7, 6])}-${le([8, 9])}-${le([10, 11, 12, 13, 14, 15])}`;
}

/**
 * Parses a GHCB certificate table: 24-byte entries (GUID, u32 offset, u32
 * length, little-endian) ending with an all-zero entry; offsets are from the
 * start of the table.
 */
export function parseSnpCertTable(table: Uint8Array): Record<string, Uint8Array> {
  const out: Record<string, Uint8Array> = {};
  const dv = new DataView(table.buffer, table.byteOffset, table.byteLength);
  for (let p = 0; ; p += 24) {
    if (p + 24 > table.length) throw new TsmAuxblobInvalidError('certificate table has no terminating entry');
    const entry = table.subarray(p, p + 24);
    if (entry.every((x) => x === 0)) break;
    const off = dv.getUint32(p + 16, true);
    const len = dv.getUint32(p + 20, true);
    if (off + len > table.length || len === 0) {
      throw new TsmAuxblobInvalidError(`certificate table entry ${p / 24} points outside the table`);
    }
    const guid = guidString(entry.subarray(0, 16));
    out[SNP_CERT_GUIDS[guid] ?? guid] = table.slice(off, off + len);
  }
  return out;
}

function errnoOf(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e ? String((e as { code: unknown }).code) : undefined;
}

/**
 * configfs-tsm `TeeEvidenceProvider` for Intel TDX and AMD SEV-SNP guests.
 *
 * @example
 * const tee = await ConfigfsTsmProvider.detect();
 * const { kind, evidence, collateral } = await tee.collect(reportData);
 */
export class ConfigfsTsmProvider implements TeeEvidenceProvider {
  readonly kind: Exclude<TeeKind, 'simulated'>;
  readonly root: string;
  readonly #fs: TsmFs;
  readonly #maxBytes: number;
  readonly #attempts: number;
  readonly #privlevel: number | undefined;
  readonly #entryName: () => string;

  constructor(options: ConfigfsTsmOptions) {
    this.kind = options.kind;
    this.root = options.root ?? DEFAULT_TSM_REPORT_ROOT;
    this.#fs = options.fs ?? nodeTsmFs;
    this.#maxBytes = options.maxBytes ?? 1024 * 1024;
    this.#attempts = Math.max(1, options.attempts ?? 3);
    if (options.privlevel !== undefined && (!Number.isInteger(options.privlevel) || options.privlevel < 0 || options.privlevel > 3)) {
      throw new EvidenceInputError('privlevel must be an integer 0..3');
    }
    this.#privlevel = options.privlevel;
    this.#entryName = options.entryName ?? (() => `sealgate-${crypto.randomUUID()}`);
  }

  /** Creates a provider for whatever TEE the `provider` attribute names. */
  static async detect(options: Omit<ConfigfsTsmOptions, 'kind'> = {}): Promise<ConfigfsTsmProvider> {
    const probe = new ConfigfsTsmProvider({ ...options, kind: 'tdx' });
    const kind = await probe.#withEntry(async (dir) => {
      const name = await probe.#readProvider(dir);
      const k = tsmProviderKind(name);
      if (!k) throw new TsmUnsupportedProviderError(`configfs-tsm provider "${name}" is not supported`);
      return k;
    });
    return new ConfigfsTsmProvider({ ...options, kind });
  }

  async collect(reportData: Uint8Array): Promise<TeeEvidence> {
    if (!(reportData instanceof Uint8Array) || reportData.length !== TSM_INBLOB_LEN) {
      throw new EvidenceInputError(`report data must be exactly ${TSM_INBLOB_LEN} bytes`);
    }
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#withEntry((dir) => this.#collectIn(dir, reportData));
      } catch (e) {
        if (!(e instanceof TsmGenerationRaceError) || attempt >= this.#attempts) throw e;
      }
    }
  }

  async #collectIn(dir: string, reportData: Uint8Array): Promise<TeeEvidence> {
    const name = await this.#readProvider(dir);
    const kind = tsmProviderKind(name);
    if (!kind) throw new TsmUnsupportedProviderError(`configfs-tsm provider "${name}" is not supported`);
    if (kind !== this.kind) {
      throw new TsmProviderMismatchError(`configfs-tsm provider is ${name}, expected ${this.kind}`);
    }
    const before = await this.#readGeneration(dir);
    let writes = 0;
    if (this.#privlevel !== undefined) {
      await this.#write(join(dir, 'privlevel'), new TextEncoder().encode(`${this.#privlevel}\n`));
      writes++;
    }
    await this.#write(join(dir, 'inblob'), reportData);
    writes++;
    const evidence = await this.#read(join(dir, 'outblob'));
    if (!evidence || evidence.length === 0) throw new TsmEmptyReportError('configfs-tsm returned an empty outblob');
    let collateral: SnpTsmCollateral | undefined;
    if (kind === 'sev-snp') {
      const aux = await this.#read(join(dir, 'auxblob'), true);
      if (aux && aux.length > 0) {
        collateral = { certTable: toBase64(aux) };
        for (const [k, v] of Object.entries(parseSnpCertTable(aux))) {
          if (k === 'vcek' || k === 'vlek' || k === 'ask' || k === 'ark') collateral[k] = toBase64(v);
          else (collateral.otherCertificates ??= {})[k] = toBase64(v);
        }
      }
    }
    const after = await this.#readGeneration(dir);
    if (after !== before + writes) {
      throw new TsmGenerationRaceError(
        `report entry generation went from ${before} to ${after} across our ${writes} write(s): another writer raced us`,
      );
    }
    return collateral ? { kind, evidence, collateral } : { kind, evidence };
  }

  /** Makes a fresh entry, runs `fn` in it, and always removes it. */
  async #withEntry<T>(fn: (dir: string) => Promise<T>): Promise<T> {
    let dir: string | undefined;
    for (let i = 0; i < 5 && !dir; i++) {
      const candidate = join(this.root, this.#entryName());
      try {
        await this.#fs.mkdir(candidate);
        dir = candidate;
      } catch (e) {
        const code = errnoOf(e);
        if (code === 'EEXIST') continue;
        if (code === 'ENOENT' || code === 'ENOTDIR') {
          throw new TsmUnavailableError(`configfs-tsm is not available at ${this.root} (Linux 6.7+ with a TDX/SEV-SNP guest driver, configfs mounted)`, { cause: e });
        }
        throw new TsmIoError(`cannot create a report entry under ${this.root}: ${code ?? String(e)}`, { cause: e });
      }
    }
    if (!dir) throw new TsmIoError('could not find a free report entry name');
    try {
      return await fn(dir);
    } finally {
      try {
        await this.#fs.rmdir(dir);
      } catch {
        // Best effort: a leftover entry holds no secret (report data is public) and is reused by nobody.
      }
    }
  }

  async #readProvider(dir: string): Promise<string> {
    const raw = await this.#read(join(dir, 'provider'));
    return new TextDecoder().decode(raw ?? new Uint8Array()).trim();
  }

  async #readGeneration(dir: string): Promise<number> {
    const raw = await this.#read(join(dir, 'generation'));
    const text = new TextDecoder().decode(raw ?? new Uint8Array()).trim();
    if (!/^\d+$/.test(text)) throw new TsmIoError(`generation attribute is not a number: ${JSON.stringify(text.slice(0, 20))}`);
    return Number(text);
  }

  async #read(path: string, optional = false): Promise<Uint8Array | undefined> {
    let data: Uint8Array;
    try {
      data = await this.#fs.readFile(path, this.#maxBytes);
    } catch (e) {
      const code = errnoOf(e);
      if (optional && code === 'ENOENT') return undefined;
      if (code === 'EFBIG') throw new TsmReportTooLargeError(`${path}: the kernel reports the blob exceeds its maximum`, { cause: e });
      throw new TsmIoError(`cannot read ${path}: ${code ?? String(e)}`, { cause: e });
    }
    if (data.length > this.#maxBytes) throw new TsmReportTooLargeError(`${path} is larger than ${this.#maxBytes} bytes`);
    return data;
  }

  async #write(path: string, data: Uint8Array): Promise<void> {
    try {
      await this.#fs.writeFile(path, data);
    } catch (e) {
      throw new TsmIoError(`cannot write ${path}: ${errnoOf(e) ?? String(e)}`, { cause: e });
    }
  }
}
