/**
 * Where this package's files are, whether the code runs from TypeScript sources (tsx, Jest) or from the compiled
 * build in `dist/` (`npm run build`). The two layouts differ by one directory level (`worker/x.ts` against
 * `dist/worker/x.js`), so a module that needs a file of the package (package.json, `.data/`, `bin/`) asks here
 * instead of counting `..` from its own directory.
 */
import fs from 'node:fs';
import path from 'node:path';

/** Walks up from `dir` to the first directory that holds a package.json. */
function findPackageRoot(dir: string): string {
  for (let at = dir; ; at = path.dirname(at)) {
    if (fs.existsSync(path.join(at, 'package.json'))) return at;
    if (path.dirname(at) === at) throw new Error(`no package.json above ${dir}`);
  }
}

/** The package root: the directory of package.json (the clone, or where the package is installed). */
export const PACKAGE_ROOT = findPackageRoot(__dirname);

/** The build output of `npm run build`. */
export const DIST_DIR = path.join(PACKAGE_ROOT, 'dist');

/** True when this code is the compiled JavaScript in `dist/`, false when it runs from the `.ts` sources. */
export const COMPILED = path.extname(__filename) === '.js';

/** The workflow bundle `npm run build` writes (webpack output of `workflows/`, what the worker's sandbox runs). */
export const WORKFLOW_BUNDLE_FILE = path.join(DIST_DIR, 'workflow-bundle.js');

/**
 * The prebuilt workflow bundle to load, when this code is the compiled build: the worker and the determinism check
 * then run the bundle made once at build time rather than bundling `workflows/` at start. From the sources (tsx,
 * Jest) there is none: they bundle `workflows/` themselves, so a stale `dist/` never stands in for edited
 * sources. Throws when the build is compiled but the bundle is missing (`tsc` run without the bundling step).
 */
export function prebuiltWorkflowBundle(): { codePath: string } | undefined {
  if (!COMPILED) return undefined;
  if (!fs.existsSync(WORKFLOW_BUNDLE_FILE)) {
    throw new Error(`${WORKFLOW_BUNDLE_FILE} is missing: run \`npm run build\``);
  }
  return { codePath: WORKFLOW_BUNDLE_FILE };
}

/**
 * How to start a worker thread whose entry is the module `name` in directory `dir` (pass the caller's `__dirname`):
 * the compiled `.js` file in `dist/`, or from the sources the `.ts` file through tsx's CommonJS hook (tsx is a
 * development dependency, there whenever the sources run).
 */
export function threadEntry(dir: string, name: string): { filename: string; execArgv: string[] } {
  return COMPILED
    ? { filename: path.join(dir, `${name}.js`), execArgv: [] }
    : { filename: path.join(dir, `${name}.ts`), execArgv: ['--require', 'tsx/cjs'] };
}
