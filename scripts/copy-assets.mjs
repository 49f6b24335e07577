// tsc compiles only TypeScript; files the compiled code reads at run time are copied here, beside it.
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Paths under src/, copied to the same paths under dist/. */
const ASSETS = ['broker/catalog/providers.json'];

for (const asset of ASSETS) {
  const to = join(root, 'dist', asset);
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(join(root, 'src', asset), to);
}
