// The workflow bundle shares the domain modules across workflows (workflows/shared-modules.ts), which works only if
// every domain module a workflow reaches is listed there: one that is not would be loaded (and deep-frozen by the
// SDK) through a listed module, and its zod schemas would throw on first use.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type * as OffsetRangeModule from '../../events/offset-range';
import { SHARED_MODULES } from '../../workflows/shared-modules';

const ROOT = path.join(__dirname, '..', '..');

/** The repository-relative files a module imports or re-exports at run time (type-only ones are erased). */
function runtimeImports(file: string): string[] {
  const source = readFileSync(path.join(ROOT, file), 'utf8');
  const out: string[] = [];
  for (const m of source.matchAll(/^(import|export)\s+([^;]*?)\s+from\s+'(\.[^']+)';/gms)) {
    const clause = m[2]!;
    if (clause.startsWith('type ')) continue;
    const named = /\{([^}]*)\}/.exec(clause);
    const other = clause.replace(/\{[^}]*\}/, '').replace(/[\s,]/g, '');
    const values = named?.[1]!.split(',').filter((n) => n.trim() !== '' && !n.trim().startsWith('type '));
    if (named !== null && other === '' && values!.length === 0) continue;
    out.push(path.join(path.dirname(file), `${m[3]!}.ts`));
  }
  return out;
}

/** Every module reached at run time from `entry`. */
function reachable(entry: string): Set<string> {
  const seen = new Set<string>();
  const stack = [entry];
  while (stack.length > 0) {
    const file = stack.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    stack.push(...runtimeImports(file));
  }
  return seen;
}

describe('the modules workflows share', () => {
  it('lists every domain module the workflows reach at run time', () => {
    const domain = [...reachable(path.join('workflows', 'index.ts'))]
      .filter((file) => file.startsWith(`events${path.sep}`))
      .map((file) => path.basename(file, '.ts'))
      .sort();
    expect(domain.length).toBeGreaterThan(10);
    expect(Object.keys(SHARED_MODULES).sort()).toEqual(domain);
  });

  it('holds every module frozen, so the SDK leaves its schemas unfrozen and usable', () => {
    for (const [name, exports] of Object.entries(SHARED_MODULES)) {
      expect([name, Object.isFrozen(exports)]).toEqual([name, true]);
    }
    // A zod schema of a frozen module still parses: its methods are built on first read and stored on the schema.
    const { OffsetRangeSchema } = SHARED_MODULES['offset-range'] as typeof OffsetRangeModule;
    expect(Object.isFrozen(OffsetRangeSchema)).toBe(false);
    expect(OffsetRangeSchema.safeParse({ partition: 0, fromOffset: '1', toOffset: '2' }).success).toBe(true);
  });
});
