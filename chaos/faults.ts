/**
 * The faults a chaos scenario injects into a running world: SIGKILL and restart of the worker or of an
 * ingest member, and a restart of the local Kafka broker or Temporal dev server (data kept). Each waits for
 * the moment it is meant for (mid-bake, mid-stream) by polling the rollout's status, so it hits the rollout
 * where it hurts rather than before anything happened.
 */
import type { RolloutStatusView } from '../client';
import { restartKafka, restartTemporal } from '../scripts/servers/index';
import type { ChaosWorld } from './world';

/** The kinds of fault. */
export const FAULT_KINDS = [
  'kill-worker',
  'kill-ingest',
  'restart-kafka',
  'restart-temporal',
  'deploy-worker',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** A fault that happened: what, when (ms after the rollout started) and how long the recovery took. */
export interface InjectedFault {
  kind: FaultKind;
  atMs: number;
  downMs: number;
}

/** True when some lane bakes a phase after the first (a "mid-bake" moment with exposure in the field). */
export function midBake(view: RolloutStatusView): boolean {
  return view.lanes.some((l) => l.waitingFor?.kind === 'bake' && l.phase >= 1);
}

/** True when the install reports stream in: some lane has counted outcomes and is still running. */
export function midStream(view: RolloutStatusView): boolean {
  return view.lanes.some((l) => l.status === 'running' && l.counts.succeeded > 0 && l.phase >= 1);
}

/** Polls the rollout's status until `when` holds (or `timeoutMs` passes: then the fault happens anyway). */
export async function waitFor(
  world: ChaosWorld,
  rolloutId: string,
  when: (view: RolloutStatusView) => boolean,
  timeoutMs = 90_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (when(await world.status(rolloutId))) return;
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Injects one fault now and waits until the world has recovered from it. */
export async function inject(world: ChaosWorld, kind: FaultKind, log: (line: string) => void): Promise<number> {
  const t0 = Date.now();
  switch (kind) {
    case 'kill-worker':
      await world.worker?.kill();
      await new Promise((r) => setTimeout(r, 1500));
      await world.startWorker();
      break;
    case 'kill-ingest':
      await world.ingest?.kill();
      await new Promise((r) => setTimeout(r, 1500));
      await world.startIngest();
      break;
    case 'restart-kafka':
      await restartKafka();
      break;
    case 'restart-temporal':
      await restartTemporal();
      break;
    case 'deploy-worker':
      await world.deployChangedWorker(log);
      break;
    default: {
      const exhaustive: never = kind;
      throw new Error(`unknown fault ${String(exhaustive)}`);
    }
  }
  const downMs = Date.now() - t0;
  log(`  fault ${kind}: recovered in ${downMs} ms`);
  return downMs;
}

/**
 * After a server restart the engine's processes must still run: a worker or ingest member that exited is a
 * failure of the scenario (returned as a message), and it is restarted so the run can finish and be checked.
 */
export async function ensureProcesses(world: ChaosWorld): Promise<string[]> {
  const problems: string[] = [];
  if (world.worker && world.worker.child.exitCode !== null) {
    problems.push(`worker exited (${world.worker.child.exitCode}) after a fault`);
    await world.startWorker();
  }
  if (world.ingest && world.ingest.child.exitCode !== null) {
    problems.push(`ingest exited (${world.ingest.child.exitCode}) after a fault`);
    await world.startIngest();
  }
  return problems;
}
