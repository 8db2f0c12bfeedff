// The integration tests start engine processes from the compiled build (bin/rollout.js, dist/ingest/main.js), so a
// dist/ older than the sources would test yesterday's code. Global setup refuses to run on one.
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { PACKAGE_ROOT, WORKFLOW_BUNDLE_FILE } from '../../layout/package-layout';

const BUILD_CONFIG = path.join(PACKAGE_ROOT, 'tsconfig.build.json');

/** The sources `npm run build` compiles (as tsconfig.build.json lists them), with the configs and package.json. */
function buildInputs(): string[] {
  const read = ts.readConfigFile(BUILD_CONFIG, (file) => ts.sys.readFile(file));
  if (read.error) throw new Error(ts.flattenDiagnosticMessageText(read.error.messageText, '\n'));
  const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, PACKAGE_ROOT, undefined, BUILD_CONFIG);
  return [...parsed.fileNames, BUILD_CONFIG, path.join(PACKAGE_ROOT, 'tsconfig.json')];
}

/**
 * Why dist/ cannot stand for the sources, or undefined when it can: missing, or older than a source file. The
 * workflow bundle is what the build writes last, so its time is the build's.
 */
export function staleBuildProblem(): string | undefined {
  if (!fs.existsSync(WORKFLOW_BUNDLE_FILE)) return 'dist/ is missing';
  const built = fs.statSync(WORKFLOW_BUNDLE_FILE).mtimeMs;
  const newer = buildInputs().find((file) => fs.statSync(file).mtimeMs > built);
  return newer === undefined ? undefined : `${path.relative(PACKAGE_ROOT, newer)} changed after the last build`;
}
