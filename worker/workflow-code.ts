/**
 * Where the workflows are and how they are bundled: one definition for the build, the worker, the replayer and the
 * tests, so every bundle shares the same modules across workflows (see `workflows/shared-modules.ts`).
 */

/** The workflows module the worker registers (`workflowsPath`). */
export const WORKFLOWS_PATH = require.resolve('../workflows');

/** Modules evaluated once per worker thread and shared by its workflows (`preloadModules`). */
const PRELOAD_MODULES: readonly string[] = [require.resolve('../workflows/shared-modules')];

/** The options `bundleWorkflowCode` takes for this project's workflows. */
export function workflowBundleOptions(): { workflowsPath: string; preloadModules: string[] } {
  return { workflowsPath: WORKFLOWS_PATH, preloadModules: [...PRELOAD_MODULES] };
}
