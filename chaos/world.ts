/**
 * The world a chaos run acts on: fresh topics, task queue and consumer groups on the shared local servers, a
 * worker and an ingest member as real processes (so they can be SIGKILLed), and the fleet simulator in this
 * process (so its ground truth is at hand and survives every fault). Scenarios start rollouts in it one after
 * another; each rollout id is fresh, so their counts never mix.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { bundleWorkflowCode } from '@temporalio/worker';
import { getStatus, startRollout, type RolloutStatusView } from '../client';
import { loadConfig, type Config } from '../config/env';
import { validatePlan, type RolloutPlan, type RolloutPlanInput } from '../events/plan';
import { createKafka } from '../kafka/client';
import { ensureTopics, topicSpecs } from '../kafka/topics';
import { createLogger } from '../observability/log';
import { startEngineProcess, type EngineProcess } from '../scripts/engine-process';
import { FleetSimulator } from '../simulator/fleet-simulator';
import { ScenarioSchema, type Scenario, type ScenarioInput } from '../simulator/scenario';
import { connectClient } from '../temporal/connection';
import { createWorker, type RolloutWorker } from '../worker/create-worker';
import { promoteVersion } from '../worker/versioning';

/** The device classes of the chaos fleet, and what each should end as. */
export const EXPECTED_OUTCOMES: Readonly<Record<string, string>> = {
  'chaos-phone': 'completed',
  'chaos-tablet': 'completed',
  'chaos-laptop': 'rolled-back',
};

/**
 * The chaos fleet: two healthy classes and one whose build fails on a third of installs. Reports are
 * duplicated and reordered on the way (the ingest must count each device once); no device goes silent, so
 * every offer's counts must equal the simulator's ground truth exactly.
 */
export function chaosScenario(devicesPerClass: number, seed: number): Scenario {
  const input: ScenarioInput = {
    seed,
    defaults: {
      failureRate: 0.002,
      errorCodes: { E_DISK_FULL: 2, E_NETWORK: 1 },
      silentRate: 0,
      duplicateRate: 0.05,
      reorderRate: 0.05,
      rollbackSuccessRate: 1,
      checkInDelaySec: { median: 0.8, max: 2.5 },
      installDurationSec: { median: 0.8, max: 2.5 },
      rollbackDurationSec: { median: 0.5, max: 1.5 },
    },
    classes: {
      'chaos-phone': { devices: devicesPerClass },
      'chaos-tablet': { devices: devicesPerClass },
      'chaos-laptop': {
        devices: devicesPerClass,
        builds: { '9.9.9-bad': { failureRate: 0.35, errorCodes: { E_BOOT_LOOP: 1 } } },
      },
    },
  };
  return ScenarioSchema.parse(input);
}

/**
 * The chaos plan: three phases with short bakes and a long final bake, so every report of the last phase has
 * arrived (and been counted) before a lane completes — a completed lane stops taking deltas, and its counts
 * are compared with the ground truth afterwards. `bakeSec` stretches the middle bake for long runs.
 */
export function chaosPlan(bakeSec: number, finalBakeSec: number): RolloutPlan {
  const input: RolloutPlanInput = {
    releaseId: 'bsi-chaos',
    artifact: { build: '9.9.1' },
    deviceClasses: Object.keys(EXPECTED_OUTCOMES),
    phases: [
      { share: 10, bake: `${bakeSec}s` },
      { share: 40, bake: `${bakeSec}s` },
      { share: 100, bake: `${finalBakeSec}s` },
    ],
    thresholds: {
      maxFailureRate: 0.05,
      minSample: 30,
      installTimeoutSec: 120,
      rule: 'sequential',
      falseHaltProbability: 0.01,
    },
    breachPolicy: { action: 'pause' },
    rollbackTimeout: '60s',
    classes: { 'chaos-laptop': { artifact: { build: '9.9.9-bad' }, breachPolicy: { action: 'rollback' } } },
  };
  const checked = validatePlan(input);
  if (!checked.ok) throw new Error(`chaos plan is invalid: ${JSON.stringify(checked.errors)}`);
  return checked.plan;
}

/** Options of a chaos world. */
export interface WorldOptions {
  /** Devices per class of the simulated fleet. */
  devicesPerClass: number;
  /** Seed of the fleet's random draws. */
  seed: number;
  /** Progress lines. */
  log: (line: string) => void;
}

/** A running chaos world; `close()` stops its processes and the simulator. */
export class ChaosWorld {
  readonly run: string;
  readonly config: Config;
  readonly env: NodeJS.ProcessEnv;
  readonly logDir: string;
  readonly simulator: FleetSimulator;
  worker: EngineProcess | undefined;
  ingest: EngineProcess | undefined;
  /** A worker of changed workflow code (`chaos/changed-workflows.ts`) deployed by the `deploy-worker` fault. */
  changed: RolloutWorker | undefined;
  /** The Worker Deployment the world's workers are versions of. */
  readonly deploymentName: string;
  private clientInstance: Client | undefined;
  private generation = 0;

  private constructor(private readonly options: WorldOptions) {
    this.run = `chaos-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`;
    const base = loadConfig(process.env);
    const topics = {
      rolloutEvents: `${this.run}.rollout-events`,
      commands: `${this.run}.commands`,
      installEvents: `${this.run}.install-events`,
      installEventsDlq: `${this.run}.dlq`,
      partitions: base.topics.partitions,
    };
    this.deploymentName = `${this.run}-workers`;
    this.config = {
      ...base,
      topics,
      temporal: { ...base.temporal, taskQueue: this.run },
      versioning: { deploymentName: this.deploymentName, promote: 'if-none' },
    };
    this.env = {
      // Versioned as in production: the first worker becomes the current version, its restarts are the same build.
      BSI_WORKER_DEPLOYMENT: this.deploymentName,
      BSI_WORKER_PROMOTE: 'if-none',
      BSI_TOPIC_ROLLOUT_EVENTS: topics.rolloutEvents,
      BSI_TOPIC_COMMANDS: topics.commands,
      BSI_TOPIC_INSTALL_EVENTS: topics.installEvents,
      BSI_TOPIC_INSTALL_EVENTS_DLQ: topics.installEventsDlq,
      TEMPORAL_TASK_QUEUE: this.run,
      INGEST_GROUP_ID: `${this.run}-ingest`,
      INGEST_METRICS_PORT: '0',
      // A SIGKILLed member's partitions move to its replacement within seconds, not the 30 s default.
      INGEST_SESSION_TIMEOUT_MS: '6000',
      LOG_LEVEL: 'info',
    };
    this.logDir = mkdtempSync(join(tmpdir(), `${this.run}-`));
    this.simulator = new FleetSimulator({
      config: this.config,
      scenario: chaosScenario(options.devicesPerClass, options.seed),
      logger: createLogger('simulator', 'warn'),
      groupId: `${this.run}-sim`,
    });
  }

  /** Creates the topics, starts the simulator, a worker and an ingest member, and connects a client. */
  static async start(options: WorldOptions): Promise<ChaosWorld> {
    const world = new ChaosWorld(options);
    const admin = createKafka(world.config.kafka, { clientId: 'chaos-admin' }).admin();
    await admin.connect();
    await ensureTopics(admin, topicSpecs(world.config.topics));
    await admin.disconnect();
    writeFileSync(join(world.logDir, 'env.json'), JSON.stringify(world.env, null, 2));
    await world.simulator.start();
    await Promise.all([world.startWorker(), world.startIngest()]);
    options.log(`world ${world.run} up (logs in ${world.logDir})`);
    return world;
  }

  /** The Temporal client (reconnected lazily after a server restart). */
  async client(): Promise<Client> {
    this.clientInstance ??= await connectClient(this.config.temporal);
    return this.clientInstance;
  }

  /** Starts a worker process and waits until it polls. */
  async startWorker(): Promise<void> {
    const n = ++this.generation;
    this.worker = startEngineProcess(`worker-${n}`, ['worker'], {
      env: this.env,
      logFile: join(this.logDir, `worker-${n}.log`),
      // Polling, and the promotion policy applied (the first build is current before a rollout starts).
      ready: /promotion policy applied/,
    });
    await this.worker.ready;
  }

  /** Starts an ingest member and waits until it consumes. */
  async startIngest(): Promise<void> {
    const n = ++this.generation;
    this.ingest = startEngineProcess(`ingest-${n}`, ['ingest'], {
      env: this.env,
      logFile: join(this.logDir, `ingest-${n}.log`),
      ready: /"ingest":"started"/,
    });
    await this.ingest.ready;
  }

  /** Starts a rollout of the chaos plan under a fresh id. */
  async startRollout(name: string, plan: RolloutPlan): Promise<string> {
    const rolloutId = `${this.run}-${name}`;
    await startRollout(await this.client(), {
      plan,
      rolloutId,
      actor: 'chaos',
      reason: `chaos scenario ${name}`,
      taskQueue: this.config.temporal.taskQueue,
    });
    return rolloutId;
  }

  /**
   * The rollout's status, retried through server restarts (Temporal down: the query fails until it is back).
   * Rejects only after `timeoutMs` of failures.
   */
  async status(rolloutId: string, timeoutMs = 120_000): Promise<RolloutStatusView> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        return await getStatus(await this.client(), rolloutId);
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  /** Waits until the rollout reached a final status (polling through faults). */
  async waitFinished(rolloutId: string, timeoutMs: number): Promise<RolloutStatusView> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const view = await this.status(rolloutId);
      if (view.status === 'completed' || view.status === 'aborted') return view;
      if (Date.now() > deadline) throw new Error(`rollout ${rolloutId} still ${view.status} after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  /**
   * Deploys a worker whose lane decider differs (in this process) and makes its build the deployment's current
   * version; the world's worker process keeps running the build the rollouts in flight are pinned to.
   */
  async deployChangedWorker(log: (line: string) => void): Promise<void> {
    const workflowBundle = await bundleWorkflowCode({
      workflowsPath: require.resolve('./changed-workflows'),
      logger: { trace() {}, debug() {}, info() {}, warn() {}, error() {} } as never,
    });
    this.changed = await createWorker(
      { ...this.config, versioning: { deploymentName: this.deploymentName, promote: 'always' } },
      { workflowBundle, ensureTopics: false, logger: createLogger('chaos-changed-worker', 'warn') },
    );
    void this.changed.run();
    const outcome = await this.changed.promoted;
    log(`  deployed changed build ${this.changed.buildId}: ${outcome}`);
  }

  /** Makes `buildId` current again and stops the changed worker (the deploy is rolled back for the next scenario). */
  async revertDeploy(buildId: string): Promise<void> {
    await promoteVersion(
      await this.client(),
      { deploymentName: this.deploymentName, buildId, promote: 'always' },
      createLogger('chaos', 'warn'),
    );
    await this.changed?.shutdown();
    this.changed = undefined;
  }

  /** Stops the processes and the simulator, and closes the client. */
  async close(): Promise<void> {
    await Promise.all([this.worker?.stop(), this.ingest?.stop(), this.changed?.shutdown()]);
    await this.simulator.stop().catch(() => undefined);
    await this.clientInstance?.connection.close().catch(() => undefined);
  }
}
