/**
 * The chaos scenarios and the runner that plays them in one world: each starts a rollout of the chaos plan,
 * injects its faults at the moments it names, waits for the rollout to end, and checks the result against the
 * simulator's ground truth (see checks.ts). `runChaos` returns the totals that `make chaos` prints.
 */
import { temporal } from '@temporalio/proto';
import { codeVersionOf, type RolloutStatusView } from '../client';
import { laneWorkflowId, rolloutWorkflowId } from '../workflows/messages';
import { checkRollout, type CheckResult } from './checks';
import { ensureProcesses, inject, midBake, midStream, waitFor, type FaultKind, type InjectedFault } from './faults';
import { mulberry32 } from '../simulator/prng';
import { ChaosWorld, EXPECTED_OUTCOMES, chaosPlan } from './world';

/** One step of a scenario: wait until the moment, then inject the fault. */
export interface FaultStep {
  kind: FaultKind;
  /** When: a status predicate, or a delay in ms after the rollout started. */
  when: ((view: RolloutStatusView) => boolean) | number;
}

/** A chaos scenario. */
export interface ChaosScenario {
  name: string;
  description: string;
  faults: FaultStep[];
  /** Bake of the first two phases and of the final phase, in seconds. */
  bakeSec: number;
  finalBakeSec: number;
}

/** Every scenario of the full suite; `seed` places the random scenario's faults. */
export function allScenarios(seed: number): ChaosScenario[] {
  const draw = mulberry32(seed);
  const kinds: FaultKind[] = ['kill-worker', 'kill-ingest', 'restart-kafka', 'restart-temporal'];
  // Shuffle the order, then spread the moments over the first 30 s; the final bake (60 s) outlasts the recoveries, so the last phase's reports are all
  // counted before the lanes complete and the counts stay comparable with the ground truth.
  for (let i = kinds.length - 1; i > 0; i--) {
    const j = Math.floor(draw() * (i + 1));
    [kinds[i], kinds[j]] = [kinds[j]!, kinds[i]!];
  }
  const moments = kinds.map(() => 3_000 + Math.floor(draw() * 27_000)).sort((a, b) => a - b);
  return [
    { name: 'undisturbed', description: 'no fault: the reference run', faults: [], bakeSec: 8, finalBakeSec: 15 },
    {
      name: 'kill-worker',
      description: 'SIGKILL the worker mid-bake, restart it',
      faults: [{ kind: 'kill-worker', when: midBake }],
      bakeSec: 8,
      finalBakeSec: 40,
    },
    {
      name: 'kill-ingest',
      description: 'SIGKILL the ingest member mid-stream, restart it',
      faults: [{ kind: 'kill-ingest', when: midStream }],
      bakeSec: 8,
      finalBakeSec: 40,
    },
    {
      name: 'restart-kafka',
      description: 'restart the Kafka broker mid-rollout',
      faults: [{ kind: 'restart-kafka', when: midStream }],
      bakeSec: 8,
      finalBakeSec: 40,
    },
    {
      name: 'restart-temporal',
      description: 'restart the Temporal dev server (SQLite kept) mid-rollout',
      faults: [{ kind: 'restart-temporal', when: midBake }],
      bakeSec: 8,
      finalBakeSec: 40,
    },
    {
      name: 'deploy-worker',
      description:
        'deploy a worker whose lane decider differs mid-bake and make it current; the rollout stays on its build',
      faults: [{ kind: 'deploy-worker', when: midBake }],
      bakeSec: 8,
      finalBakeSec: 40,
    },
    {
      name: `all-four-seed-${seed}`,
      description: `all four faults at seeded random moments (${kinds.map((k, i) => `${k}@${moments[i]}ms`).join(', ')})`,
      faults: kinds.map((kind, i) => ({ kind, when: moments[i]! })),
      bakeSec: 10,
      finalBakeSec: 60,
    },
  ];
}

/** The short form for `make test`: the two process crashes in one rollout, on a small fleet. */
export function shortScenarios(): ChaosScenario[] {
  return [
    {
      name: 'kill-worker-and-ingest',
      description: 'SIGKILL the worker mid-bake and the ingest member mid-stream, restart both',
      faults: [
        { kind: 'kill-worker', when: midBake },
        { kind: 'kill-ingest', when: midStream },
      ],
      bakeSec: 6,
      finalBakeSec: 25,
    },
  ];
}

/** The outcome of one scenario. */
export interface ScenarioResult {
  name: string;
  passed: boolean;
  rolloutId: string;
  faults: InjectedFault[];
  check: CheckResult;
  durationMs: number;
}

/** Totals over a chaos run, as printed. */
export interface ChaosTotals {
  scenarios: number;
  passed: number;
  failed: number;
  faultsInjected: number;
  eventsChecked: number;
  eventsLost: number;
  doubleCounts: number;
  ordersTotal: number;
  ordersDistinct: number;
  results: ScenarioResult[];
}

/** Options of {@link runChaos}. */
export interface ChaosOptions {
  scenarios: ChaosScenario[];
  devicesPerClass: number;
  seed: number;
  log: (line: string) => void;
}

async function runScenario(
  world: ChaosWorld,
  scenario: ChaosScenario,
  opts: ChaosOptions,
  reference?: Record<string, string>,
) {
  const t0 = Date.now();
  const rolloutId = await world.startRollout(scenario.name, chaosPlan(scenario.bakeSec, scenario.finalBakeSec));
  opts.log(`scenario ${scenario.name}: ${scenario.description} (rollout ${rolloutId})`);
  const faults: InjectedFault[] = [];
  const problems: string[] = [];
  // The build the rollout is pinned to (Worker Versioning): no fault, a deploy included, may move it.
  const pinned = (await world.status(rolloutId)).codeVersion;
  if (pinned === null) problems.push('the rollout is not pinned to a worker build');
  for (const step of scenario.faults) {
    if (typeof step.when === 'number') {
      const wait = t0 + step.when - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    } else {
      await waitFor(world, rolloutId, step.when);
    }
    const atMs = Date.now() - t0;
    const downMs = await inject(world, step.kind, opts.log);
    faults.push({ kind: step.kind, atMs, downMs });
    problems.push(...(await ensureProcesses(world)));
  }
  const budget = 60_000 + (scenario.bakeSec * 2 + scenario.finalBakeSec) * 3000;
  await world.waitFinished(rolloutId, budget);
  problems.push(...(await ensureProcesses(world)));
  problems.push(...(await pinnedProblems(world, rolloutId, pinned)));
  if (world.changed !== undefined && pinned !== null) {
    await world.revertDeploy(pinned.slice(world.deploymentName.length + 1));
  }
  await world.simulator.drained(30_000);
  const expected = reference ?? EXPECTED_OUTCOMES;
  const check = await checkRollout(world, rolloutId, expected, opts.devicesPerClass);
  check.failures.unshift(...problems);
  const result: ScenarioResult = {
    name: scenario.name,
    passed: check.failures.length === 0,
    rolloutId,
    faults,
    check,
    durationMs: Date.now() - t0,
  };
  opts.log(
    `  ${result.passed ? 'PASS' : 'FAIL'} ${scenario.name} in ${Math.round(result.durationMs / 1000)} s: ` +
      `${JSON.stringify(check.outcomes)}, ${check.eventsChecked} outcomes checked, lost ${check.eventsLost}, ` +
      `double ${check.doubleCounts}, orders ${check.ordersTotal} (${check.ordersDistinct} distinct)`,
  );
  for (const f of check.failures) opts.log(`    - ${f}`);
  return result;
}

/**
 * What a deploy (or any fault) must not change: the rollout and its lanes finish on the build the rollout started on,
 * and no workflow task of theirs failed (a non-determinism error shows as WorkflowTaskFailed; an UnhandledCommand
 * failure — a signal arrived while the task completed — is Temporal's normal retry and is not counted).
 */
const { WorkflowTaskFailedCause } = temporal.api.enums.v1;

async function pinnedProblems(world: ChaosWorld, rolloutId: string, pinned: string | null): Promise<string[]> {
  const client = await world.client();
  const problems: string[] = [];
  const ids = [
    rolloutWorkflowId(rolloutId),
    ...Object.keys(EXPECTED_OUTCOMES).map((l) => laneWorkflowId(rolloutId, l)),
  ];
  for (const id of ids) {
    const handle = client.workflow.getHandle(id);
    const version = codeVersionOf((await handle.describe()).raw.workflowExecutionInfo);
    if (version !== pinned) problems.push(`${id} ran on ${version ?? 'no pinned build'}, not ${pinned ?? '-'}`);
    const failed = ((await handle.fetchHistory()).events ?? []).filter(
      (e) =>
        e.workflowTaskFailedEventAttributes &&
        e.workflowTaskFailedEventAttributes.cause !==
          WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND,
    );
    if (failed.length > 0) {
      const cause = failed[0]?.workflowTaskFailedEventAttributes?.failure?.message ?? 'no message';
      problems.push(`${id}: ${failed.length} workflow tasks failed (first: ${cause.slice(0, 200)})`);
    }
  }
  return problems;
}

/**
 * Plays the scenarios one after another in one world (fresh topics and task queue), the undisturbed one (if
 * present) first: its lane outcomes become the reference every disturbed run must reproduce. Never throws for
 * a failed check; a scenario that crashes counts as failed with the error as its reason.
 */
export async function runChaos(opts: ChaosOptions): Promise<ChaosTotals> {
  const world = await ChaosWorld.start({ devicesPerClass: opts.devicesPerClass, seed: opts.seed, log: opts.log });
  const results: ScenarioResult[] = [];
  let reference: Record<string, string> | undefined;
  try {
    for (const scenario of opts.scenarios) {
      try {
        const result = await runScenario(world, scenario, opts, reference);
        if (scenario.faults.length === 0 && result.passed) reference = result.check.outcomes;
        results.push(result);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        opts.log(`  FAIL ${scenario.name}: ${message}`);
        results.push({
          name: scenario.name,
          passed: false,
          rolloutId: '',
          faults: [],
          durationMs: 0,
          check: {
            failures: [message],
            eventsChecked: 0,
            eventsLost: 0,
            doubleCounts: 0,
            ordersTotal: 0,
            ordersDistinct: 0,
            outcomes: {},
          },
        });
        await ensureProcesses(world).catch(() => []);
      }
    }
  } finally {
    await world.close();
  }
  const sum = (f: (r: ScenarioResult) => number) => results.reduce((a, r) => a + f(r), 0);
  return {
    scenarios: results.length,
    passed: results.filter((r) => r.passed).length,
    failed: results.filter((r) => !r.passed).length,
    faultsInjected: sum((r) => r.faults.length),
    eventsChecked: sum((r) => r.check.eventsChecked),
    eventsLost: sum((r) => r.check.eventsLost),
    doubleCounts: sum((r) => r.check.doubleCounts),
    ordersTotal: sum((r) => r.check.ordersTotal),
    ordersDistinct: sum((r) => r.check.ordersDistinct),
    results,
  };
}
