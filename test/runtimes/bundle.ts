/**
 * Bundles a test entry with esbuild the way a deployment would, in memory
 * (ESM, es2022, no files written), for the tests that run code in another
 * runtime: test/gateway-workerd.test.ts (the gateway as wrangler bundles it),
 * test/sdk-workerd.test.ts and test/sdk-browser.test.ts (the SDK scenarios of
 * test/runtimes/sdk-scenarios.ts in a Worker and in a web page). Each caller
 * states only what differs: the platform and the resolution conditions.
 */
import { fileURLToPath } from 'node:url';
import { build, type BuildOptions } from 'esbuild';

export interface Bundle {
  /** The bundled ES module. */
  code: string;
  /** Every input esbuild read, relative to the repository (node_modules/... for packages). */
  inputs: string[];
}

/** What a caller chooses: the platform esbuild targets and how packages resolve. */
export type BundleTarget = Pick<BuildOptions, 'platform' | 'conditions' | 'mainFields'>;

export async function bundle(entry: string | URL, target: BundleTarget): Promise<Bundle> {
  const out = await build({
    entryPoints: [entry instanceof URL ? fileURLToPath(entry) : entry],
    bundle: true,
    write: false,
    format: 'esm',
    target: 'es2022',
    metafile: true,
    logLevel: 'silent',
    ...target,
  });
  return { code: out.outputFiles[0]!.text, inputs: Object.keys(out.metafile.inputs) };
}

/**
 * The Node built-ins a bundle still imports: inputs esbuild resolved to `node:`
 * modules, and `from "node:…"` / `require("node:…")` left in the code. Only
 * real imports count (openai mentions `import('node:buffer')` in an error
 * message string). Empty for a bundle that needs no Node.
 */
export function nodeImports(b: Bundle): string[] {
  return [
    ...b.inputs.filter((p) => p.startsWith('node:')),
    ...[...b.code.matchAll(/(?:\bfrom\s*|\brequire\(\s*)["']node:[^"']*["']/g)].map((m) => m[0]),
  ];
}
