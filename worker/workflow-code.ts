/**
 * Where the workflows are and how they are bundled: one definition for the build, the worker, the replayer and the
 * tests, so every bundle shares the same modules across workflows (see `workflows/shared-modules.ts`).
 */

/**
 * The options `bundleWorkflowCode` takes for this project's workflows: the module the worker registers, and the
 * modules evaluated once per worker thread and shared by its workflows (`preloadModules`).
 */
export function workflowBundleOptions(): { workflowsPath: string; preloadModules: string[] } {
  return {
    workflowsPath: require.resolve('../workflows'),
    preloadModules: [require.resolve('../workflows/shared-modules')],
  };
}
