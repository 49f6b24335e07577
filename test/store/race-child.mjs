// A separate process racing for the store: forked by store.test.ts with the database URL as its
// argument. It opens the store, says { ready: true }, and on the parent's { calls } (each one
// { area, method, args }: `store[area][method](...args)`) runs them all at once and answers
// { results } (or { error }). TypeScript sources are loaded through the hooks below (TypeScript's
// transpileModule), so no build and no extra tool is needed.
import { readFile } from 'node:fs/promises';
import { register } from 'node:module';
import process from 'node:process';
import { URL } from 'node:url';
import { isMainThread } from 'node:worker_threads';

/** Module hooks (run on Node's hooks thread): `./x.js` imports resolve to `./x.ts`, which is transpiled. */
export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (error) {
    if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !specifier.endsWith('.js') || !context.parentURL?.endsWith('.ts')) throw error;
    return next(specifier.slice(0, -'.js'.length) + '.ts', context);
  }
}

export async function load(url, context, next) {
  if (!url.startsWith('file:') || !url.endsWith('.ts')) return next(url, context);
  const { default: ts } = await import('typescript');
  const source = await readFile(new URL(url), 'utf8');
  const { outputText } = ts.transpileModule(source, {
    fileName: url,
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  });
  return { format: 'module', source: outputText, shortCircuit: true };
}

if (isMainThread) {
  register(import.meta.url);
  const { openStore } = await import('../../src/store/open.ts');
  const store = await openStore(process.argv[2]);
  process.on('message', async ({ calls }) => {
    try {
      const results = await Promise.all(calls.map(({ area, method, args }) => store[area][method](...args)));
      process.send({ results });
    } catch (error) {
      process.send({ error: error instanceof Error ? error.stack : String(error) });
    } finally {
      await store.close();
      process.disconnect();
    }
  });
  // Never outlive the test that started it.
  process.on('disconnect', () => process.exit());
  process.send({ ready: true });
}
