import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, readdir, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fromBase64, toHex } from '../../attestation/util/bytes.ts';
import { normalizeSnpCollateral } from '../../attestation/sev-snp/collateral.ts';
import { ConfigfsTsmProvider, nodeTsmFs, parseSnpCertTable, type SnpTsmCollateral, type TsmFs } from './configfs-tsm.ts';
import { EvidenceProviderError } from './errors.ts';

/**
 * A fake configfs-tsm on a plain temp directory. It goes through the real
 * file system (`nodeTsmFs`) and adds what the kernel would do: `mkdir`
 * populates `provider` and `generation`; each attribute write bumps
 * `generation`; writing `inblob` produces `outblob` (and `auxblob` for SNP);
 * `rmdir` drops the attribute files first.
 */
class FakeConfigfs implements TsmFs {
  readonly writes: Array<{ name: string; data: Uint8Array }> = [];
  readonly reads: string[] = [];
  provider = 'tdx_guest';
  auxblob: Uint8Array | undefined;
  /** Simulated concurrent writes per outblob read (a racing process). */
  racesLeft = 0;
  emptyOutblob = false;
  failOutblob: string | undefined;

  constructor(readonly root: string) {}

  static quoteFor(inblob: Uint8Array): Uint8Array {
    // A recognisable fake quote: magic, then the report data, then filler.
    const q = new Uint8Array(16 + 64 + 100);
    q.set(new TextEncoder().encode('FAKEQUOTE'), 0);
    q.set(inblob, 16);
    q.fill(0xab, 80);
    return q;
  }

  async mkdir(path: string): Promise<void> {
    await nodeTsmFs.mkdir(path);
    await writeFile(join(path, 'provider'), `${this.provider}\n`);
    await writeFile(join(path, 'generation'), '0\n');
  }

  async rmdir(path: string): Promise<void> {
    for (const f of await readdir(path)) await unlink(join(path, f));
    await nodeTsmFs.rmdir(path);
  }

  async #bump(dir: string): Promise<void> {
    const g = Number((await readFile(join(dir, 'generation'), 'utf8')).trim());
    await writeFile(join(dir, 'generation'), `${g + 1}\n`);
  }

  async writeFile(path: string, data: Uint8Array): Promise<void> {
    await nodeTsmFs.writeFile(path, data);
    const dir = dirname(path);
    this.writes.push({ name: basename(path), data: new Uint8Array(data) });
    await this.#bump(dir);
    if (basename(path) === 'inblob') {
      const inblob = new Uint8Array(await readFile(path));
      await writeFile(join(dir, 'outblob'), this.emptyOutblob ? new Uint8Array() : FakeConfigfs.quoteFor(inblob));
      if (this.auxblob) await writeFile(join(dir, 'auxblob'), this.auxblob);
    }
  }

  async readFile(path: string, maxBytes: number): Promise<Uint8Array> {
    this.reads.push(basename(path));
    if (basename(path) === 'outblob') {
      if (this.failOutblob) throw Object.assign(new Error(this.failOutblob), { code: this.failOutblob });
      if (this.racesLeft > 0) {
        this.racesLeft--;
        await this.#bump(dirname(path));
      }
    }
    return nodeTsmFs.readFile(path, maxBytes);
  }
}

function certTable(entries: Array<{ guid: string; der: Uint8Array }>): Uint8Array {
  const header = 24 * (entries.length + 1);
  const total = header + entries.reduce((n, e) => n + e.der.length, 0);
  const t = new Uint8Array(total);
  const dv = new DataView(t.buffer);
  let off = header;
  entries.forEach((e, i) => {
    const hex = e.guid.replace(/-/g, '');
    const b = Uint8Array.from(hex.match(/../g)!.map((x) => parseInt(x, 16)));
    // UEFI GUID byte order: first three fields little-endian.
    const g = new Uint8Array([b[3]!, b[2]!, b[1]!, b[0]!, b[5]!, b[4]!, b[7]!, b[6]!, ...b.subarray(8)]);
    t.set(g, i * 24);
    dv.setUint32(i * 24 + 16, off, true);
    dv.setUint32(i * 24 + 20, e.der.length, true);
    t.set(e.der, off);
    off += e.der.length;
  });
  return t;
}

const VCEK_GUID = '63da758d-e664-4564-adc5-f4b93be8accd';
const ASK_GUID = '4ab7b379-bbac-4fe4-a02f-05aef327c782';
const ARK_GUID = 'c0b406a4-a803-4952-9743-3fb6014cd0ae';

async function code(p: Promise<unknown>): Promise<string> {
  const e = await p.then(
    () => 'resolved',
    (err: unknown) => err,
  );
  if (!(e instanceof EvidenceProviderError)) throw new Error(`expected EvidenceProviderError, got ${String(e)}`);
  return e.code;
}

describe('ConfigfsTsmProvider against a fake configfs directory', () => {
  let root: string;
  let fake: FakeConfigfs;
  const reportData = Uint8Array.from({ length: 64 }, (_, i) => i * 3);

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'sealgate-tsm-'));
    fake = new FakeConfigfs(root);
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('collects a TDX quote: writes exactly the 64 bytes to inblob, reads outblob, removes the entry', async () => {
    const tee = new ConfigfsTsmProvider({ kind: 'tdx', root, fs: fake });
    const ev = await tee.collect(reportData);
    expect(ev.kind).toBe('tdx');
    expect(toHex(ev.evidence)).toBe(toHex(FakeConfigfs.quoteFor(reportData)));
    expect(ev.collateral).toBeUndefined();
    expect(fake.writes.map((w) => w.name)).toEqual(['inblob']);
    expect(toHex(fake.writes[0]!.data)).toBe(toHex(reportData));
    expect(fake.reads).toEqual(['provider', 'generation', 'outblob', 'generation']);
    expect(await readdir(root)).toEqual([]);
  });

  it('detects the provider kind from the provider attribute', async () => {
    fake.provider = 'sev_guest';
    const tee = await ConfigfsTsmProvider.detect({ root, fs: fake });
    expect(tee.kind).toBe('sev-snp');
    expect(await readdir(root)).toEqual([]);
    fake.provider = 'tdx_guest';
    expect((await ConfigfsTsmProvider.detect({ root, fs: fake })).kind).toBe('tdx');
    fake.provider = 'arm_cca_guest';
    expect(await code(ConfigfsTsmProvider.detect({ root, fs: fake }))).toBe('TSM_UNSUPPORTED_PROVIDER');
  });

  it('collects an SEV-SNP report with its certificate table, writing privlevel first', async () => {
    fake.provider = 'sev_guest';
    const vcek = new Uint8Array([0x30, 0x03, 1, 2, 3]);
    const ask = new Uint8Array([0x30, 0x02, 4, 5]);
    const ark = new Uint8Array([0x30, 0x01, 6]);
    fake.auxblob = certTable([
      { guid: VCEK_GUID, der: vcek },
      { guid: ASK_GUID, der: ask },
      { guid: ARK_GUID, der: ark },
      { guid: '00112233-4455-6677-8899-aabbccddeeff', der: new Uint8Array([0x30, 0x01, 7]) },
    ]);
    const tee = new ConfigfsTsmProvider({ kind: 'sev-snp', root, fs: fake, privlevel: 0 });
    const ev = await tee.collect(reportData);
    expect(ev.kind).toBe('sev-snp');
    expect(fake.writes.map((w) => w.name)).toEqual(['privlevel', 'inblob']);
    expect(new TextDecoder().decode(fake.writes[0]!.data)).toBe('0\n');
    const col = ev.collateral as SnpTsmCollateral;
    expect(toHex(fromBase64(col.certTable))).toBe(toHex(fake.auxblob));
    expect(toHex(fromBase64(col.vcek!))).toBe(toHex(vcek));
    expect(toHex(fromBase64(col.ask!))).toBe(toHex(ask));
    expect(toHex(fromBase64(col.ark!))).toBe(toHex(ark));
    expect(col.otherCertificates).toEqual({ '00112233-4455-6677-8899-aabbccddeeff': 'MAEH' });
    // The SEV-SNP verifier's collateral reader takes this shape as is.
    const normalized = normalizeSnpCollateral(col);
    expect(normalized.leaves.map(toHex)).toEqual([toHex(vcek)]);
    expect(normalized.chain.map(toHex)).toEqual([toHex(ask), toHex(ark)]);
    expect(await readdir(root)).toEqual([]);
  });

  it('SEV-SNP without an auxblob gives no collateral', async () => {
    fake.provider = 'sev_guest';
    const ev = await new ConfigfsTsmProvider({ kind: 'sev-snp', root, fs: fake }).collect(reportData);
    expect(ev.collateral).toBeUndefined();
  });

  it('rejects a malformed certificate table', async () => {
    fake.provider = 'sev_guest';
    fake.auxblob = new Uint8Array(30).fill(1);
    expect(await code(new ConfigfsTsmProvider({ kind: 'sev-snp', root, fs: fake }).collect(reportData))).toBe(
      'TSM_AUXBLOB_INVALID',
    );
    expect(() => parseSnpCertTable(new Uint8Array(0))).toThrow(EvidenceProviderError);
    expect(await readdir(root)).toEqual([]);
  });

  it('retries when another writer races on the entry, and gives up after the configured attempts', async () => {
    fake.racesLeft = 1;
    const tee = new ConfigfsTsmProvider({ kind: 'tdx', root, fs: fake, attempts: 2 });
    const ev = await tee.collect(reportData);
    expect(toHex(ev.evidence)).toBe(toHex(FakeConfigfs.quoteFor(reportData)));
    expect(fake.writes.filter((w) => w.name === 'inblob')).toHaveLength(2);
    fake.racesLeft = 5;
    expect(await code(tee.collect(reportData))).toBe('TSM_GENERATION_RACE');
    expect(await readdir(root)).toEqual([]);
  });

  it('rejects a provider of the other TEE kind', async () => {
    fake.provider = 'sev_guest';
    expect(await code(new ConfigfsTsmProvider({ kind: 'tdx', root, fs: fake }).collect(reportData))).toBe(
      'TSM_PROVIDER_MISMATCH',
    );
    expect(await readdir(root)).toEqual([]);
  });

  it('maps kernel failures and limits to typed errors', async () => {
    fake.emptyOutblob = true;
    expect(await code(new ConfigfsTsmProvider({ kind: 'tdx', root, fs: fake }).collect(reportData))).toBe('TSM_EMPTY_REPORT');
    fake.emptyOutblob = false;
    expect(await code(new ConfigfsTsmProvider({ kind: 'tdx', root, fs: fake, maxBytes: 100 }).collect(reportData))).toBe(
      'TSM_REPORT_TOO_LARGE',
    );
    fake.failOutblob = 'EFBIG';
    expect(await code(new ConfigfsTsmProvider({ kind: 'tdx', root, fs: fake }).collect(reportData))).toBe(
      'TSM_REPORT_TOO_LARGE',
    );
    fake.failOutblob = 'EIO';
    expect(await code(new ConfigfsTsmProvider({ kind: 'tdx', root, fs: fake }).collect(reportData))).toBe('TSM_IO');
    expect(await readdir(root)).toEqual([]);
  });

  it('rejects report data that is not 64 bytes', async () => {
    const tee = new ConfigfsTsmProvider({ kind: 'tdx', root, fs: fake });
    for (const bad of [new Uint8Array(0), new Uint8Array(32), new Uint8Array(65)]) {
      expect(await code(tee.collect(bad))).toBe('EVIDENCE_BAD_INPUT');
    }
    expect(() => new ConfigfsTsmProvider({ kind: 'sev-snp', root, fs: fake, privlevel: 4 })).toThrow(EvidenceProviderError);
  });

  it('reports configfs-tsm as unavailable when the root does not exist (real fs)', async () => {
    const tee = new ConfigfsTsmProvider({ kind: 'tdx', root: join(root, 'missing', 'tsm', 'report') });
    expect(await code(tee.collect(reportData))).toBe('TSM_UNAVAILABLE');
  });

  it('with the real fs on a plain directory (no kernel behind it) fails typed and leaves nothing behind', async () => {
    const tee = new ConfigfsTsmProvider({ kind: 'tdx', root });
    expect(await code(tee.collect(reportData))).toBe('TSM_IO');
    expect(await readdir(root)).toEqual([]);
    await expect(stat(root)).resolves.toBeTruthy();
  });

  it('picks a new entry name when one already exists', async () => {
    const names = ['taken', 'taken', 'fresh'];
    await nodeTsmFs.mkdir(join(root, 'taken'));
    const tee = new ConfigfsTsmProvider({ kind: 'tdx', root, fs: fake, entryName: () => names.shift()! });
    await tee.collect(reportData);
    expect((await readdir(root)).sort()).toEqual(['taken']);
  });
});
