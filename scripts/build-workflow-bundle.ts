/**
 * The workflow half of `npm run build`: bundles the compiled `workflows/` (webpack, through the SDK's
 * `bundleWorkflowCode`) once, at build time, into `dist/workflow-bundle.js`. The compiled worker loads that file
 * (`workflowBundle: { codePath }`) instead of bundling at every start, and its build id is the hash of that file, so
 * every worker started from one build shares one id. Run as `node dist/scripts/build-workflow-bundle.js` after `tsc`.
 */
import { writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { COMPILED, PACKAGE_ROOT, WORKFLOW_BUNDLE_FILE } from '../layout/package-layout';
import { workflowBundleOptions } from '../worker/workflow-code';
import { buildIdOf } from '../worker/versioning';

async function main(): Promise<void> {
  if (!COMPILED) throw new Error('run the compiled script (npm run build): the bundle is made from dist/workflows');
  const started = Date.now();
  const bundle = await bundleWorkflowCode({
    ...workflowBundleOptions(),
    // webpack's progress lines are noise in a build; its warnings and errors are not.
    logger: {
      trace() {},
      debug() {},
      info() {},
      warn: (message: string) => process.stderr.write(`build-workflow-bundle: warning: ${message}\n`),
      error: (message: string) => process.stderr.write(`build-workflow-bundle: ${message}\n`),
    } as never,
  });
  writeFileSync(WORKFLOW_BUNDLE_FILE, bundle.code);
  process.stdout.write(
    `${relative(PACKAGE_ROOT, WORKFLOW_BUNDLE_FILE)}: ${Math.round(bundle.code.length / 1024)} KiB, ` +
      `build id ${buildIdOf(bundle)}, bundled in ${Date.now() - started} ms\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`build-workflow-bundle: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
