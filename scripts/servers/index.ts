// The server manager as a module: start, stop, restart and inspect the local Kafka and Temporal servers.
// scripts/servers.ts is its command line; tests (chaos: restart the broker mid-stream) and `rollout dev` import it.
import fs from 'node:fs';
import { ensureKafkaJars, ensureTemporalBinaries } from './install';
import { KAFKA_CONTROLLER_PORT, KAFKA_PORT, LOCAL_KAFKA_BROKERS, kafkaAnswers, kafkaFiles, launchKafka } from './kafka';
import type { PidRecord } from './process';
import {
  isRecordedProcessAlive,
  portInUse,
  readPidFile,
  stopRecordedProcess,
  waitForPortsFree,
  waitUntil,
} from './process';
import {
  LOCAL_TEMPORAL_ADDRESS,
  TEMPORAL_PORT,
  TEMPORAL_UI_PORT,
  launchTemporal,
  temporalAnswers,
  temporalFiles,
  temporalNamespace,
} from './temporal';

export { cacheDir, dataDir, REPO_ROOT } from './paths';
export { ensureKafkaJars, ensureTemporalBinaries } from './install';
export type { TemporalBinaries } from './install';
export { kafkaAnswers, LOCAL_KAFKA_BROKERS } from './kafka';
export { temporalAnswers, LOCAL_TEMPORAL_ADDRESS } from './temporal';

/** The servers the manager knows. */
export const SERVER_NAMES = ['kafka', 'temporal'] as const;
export type ServerName = (typeof SERVER_NAMES)[number];

/**
 * How `up` found or made a server: `started` by this call; `reused` (this clone started it earlier and it answers);
 * `foreign` (something this clone did not start answers on the port — used, never stopped); `env` (KAFKA_BROKERS /
 * TEMPORAL_ADDRESS point elsewhere, nothing local is started).
 */
export type UpState = 'started' | 'reused' | 'foreign' | 'env';

export interface ServerReport {
  name: ServerName;
  state: UpState;
  /** `host:port` list (Kafka) or `host:port` (Temporal) that clients should use. */
  endpoint: string;
  pid?: number;
  /** Milliseconds from launch until the server answered (state `started` only). */
  startMs?: number;
  logs: string[];
}

export interface StopReport {
  name: ServerName;
  result: 'stopped' | 'killed' | 'not-running';
  pid?: number;
  stopMs?: number;
}

export interface ServerStatus {
  name: ServerName;
  mode: 'local' | 'env';
  endpoint: string;
  /** Process this clone started and still runs (by pid file), if any. */
  pid: number | null;
  startedAt: string | null;
  answering: boolean;
  logs: string[];
}

/** Thrown by {@link up} when a server failed to start; `reports` lists what did come up (so callers can stop it). */
export class UpError extends Error {
  constructor(
    message: string,
    readonly reports: ServerReport[],
  ) {
    super(message);
    this.name = 'UpError';
  }
}

export interface ManagerOptions {
  /** Subset of servers to act on; all when absent. */
  only?: readonly ServerName[];
  /** Progress lines (downloads, starts). Silent when absent. */
  log?: (line: string) => void;
}

interface ServerDef {
  name: ServerName;
  envEndpoint(): string | undefined;
  localEndpoint: string;
  ports: number[];
  pidFile(): string;
  logs(): string[];
  answers(endpoint: string): Promise<boolean>;
  /** Downloads what the server needs (no-op when cached). */
  prepare(log: (line: string) => void): Promise<unknown>;
  launch(log: (line: string) => void): Promise<PidRecord>;
  /** How long a SIGTERM gets before SIGKILL. */
  graceMs: number;
}

const SERVERS: Record<ServerName, ServerDef> = {
  kafka: {
    name: 'kafka',
    envEndpoint: () => externalEndpoint(process.env.KAFKA_BROKERS, LOCAL_KAFKA_BROKERS.join(',')),
    localEndpoint: LOCAL_KAFKA_BROKERS.join(','),
    ports: [KAFKA_PORT, KAFKA_CONTROLLER_PORT],
    pidFile: () => kafkaFiles().pidFile,
    logs: () => [kafkaFiles().log, kafkaFiles().stdout],
    answers: (endpoint) => kafkaAnswers(endpoint.split(',').map((b) => b.trim())),
    prepare: ensureKafkaJars,
    launch: launchKafka,
    graceMs: 30_000,
  },
  temporal: {
    name: 'temporal',
    envEndpoint: () => externalEndpoint(process.env.TEMPORAL_ADDRESS, LOCAL_TEMPORAL_ADDRESS),
    localEndpoint: LOCAL_TEMPORAL_ADDRESS,
    ports: [TEMPORAL_PORT, TEMPORAL_UI_PORT],
    pidFile: () => temporalFiles().pidFile,
    logs: () => [temporalFiles().log],
    answers: (endpoint) => temporalAnswers(endpoint, temporalNamespace()),
    prepare: ensureTemporalBinaries,
    launch: launchTemporal,
    graceMs: 15_000,
  },
};

/**
 * The endpoint from the environment when it names servers other than this clone's local ones; undefined when unset or
 * when it just names the local servers (as `make test` exports it for the tests, so that `restartKafka()` inside a
 * test still manages the local broker).
 */
function externalEndpoint(fromEnv: string | undefined, local: string): string | undefined {
  if (!fromEnv) return undefined;
  const norm = (list: string) =>
    list
      .split(',')
      .map((e) => e.trim().replace(/^localhost:/, '127.0.0.1:'))
      .filter(Boolean)
      .sort()
      .join(',');
  return norm(fromEnv) === norm(local) ? undefined : fromEnv;
}

function selected(only?: readonly ServerName[]): ServerDef[] {
  return SERVER_NAMES.filter((n) => !only || only.includes(n)).map((n) => SERVERS[n]);
}

const quiet = () => {};

/**
 * Brings the servers up and resolves once each answers (Kafka: metadata; Temporal: namespace describe). Idempotent:
 * a server this clone started that still answers is reused; one whose process hangs is replaced. Servers named by
 * KAFKA_BROKERS / TEMPORAL_ADDRESS are only checked. Downloads what is missing first (cold cache: a minute or so).
 * Also installs the time-skipping test server, which workflow tests need.
 */
export async function up(opts: ManagerOptions = {}): Promise<ServerReport[]> {
  const log = opts.log ?? quiet;
  const defs = selected(opts.only);
  const settled = await Promise.allSettled([
    ensureTemporalBinaries(log).then(() => undefined),
    ...defs.map((def) => upOne(def, log)),
  ]);
  const reports: ServerReport[] = [];
  const errors: string[] = [];
  for (const s of settled) {
    if (s.status === 'rejected') errors.push(s.reason instanceof Error ? s.reason.message : String(s.reason));
    else if (s.value) reports.push(s.value);
  }
  if (errors.length > 0) throw new UpError(errors.join('\n\n'), reports);
  return reports;
}

async function upOne(def: ServerDef, log: (line: string) => void): Promise<ServerReport> {
  const envEndpoint = def.envEndpoint();
  if (envEndpoint) {
    if (!(await waitUntil(() => def.answers(envEndpoint), 30_000))) {
      throw new Error(`${def.name}: ${envEndpoint} (from the environment) does not answer`);
    }
    return { name: def.name, state: 'env', endpoint: envEndpoint, logs: [] };
  }
  const rec = readPidFile(def.pidFile());
  if (rec && isRecordedProcessAlive(rec)) {
    if (await waitUntil(() => def.answers(def.localEndpoint), 30_000)) {
      return { name: def.name, state: 'reused', endpoint: def.localEndpoint, pid: rec.pid, logs: def.logs() };
    }
    log(`${def.name}: pid ${rec.pid} runs but does not answer; restarting it`);
    await stopOne(def);
  } else if (rec) {
    fs.rmSync(def.pidFile(), { force: true });
  }
  for (const port of def.ports) {
    if (!(await portInUse(port))) continue;
    // Someone else's server may still be starting (its ports open before it answers): give it time.
    if (await waitUntil(() => def.answers(def.localEndpoint), 60_000)) {
      log(
        `${def.name}: a server this clone did not start answers on ${def.localEndpoint}; using it (down leaves it alone)`,
      );
      return { name: def.name, state: 'foreign', endpoint: def.localEndpoint, logs: [] };
    }
    throw new Error(`${def.name}: port ${port} is taken by a process this clone did not start`);
  }
  await def.prepare(log);
  const t0 = Date.now();
  log(`${def.name}: starting ...`);
  try {
    const started = await def.launch(log);
    const startMs = Date.now() - t0;
    return {
      name: def.name,
      state: 'started',
      endpoint: def.localEndpoint,
      pid: started.pid,
      startMs,
      logs: def.logs(),
    };
  } catch (err) {
    await stopOne(def).catch(() => undefined);
    throw err;
  }
}

async function stopOne(def: ServerDef): Promise<StopReport> {
  const rec = readPidFile(def.pidFile());
  if (!rec || !isRecordedProcessAlive(rec)) {
    fs.rmSync(def.pidFile(), { force: true });
    return { name: def.name, result: 'not-running' };
  }
  const t0 = Date.now();
  const result = await stopRecordedProcess(rec, def.graceMs);
  fs.rmSync(def.pidFile(), { force: true });
  await waitForPortsFree(def.ports, 15_000);
  return { name: def.name, result: result === 'killed' ? 'killed' : 'stopped', pid: rec.pid, stopMs: Date.now() - t0 };
}

/**
 * Stops the servers this clone started (by their pid files; SIGTERM, then SIGKILL after a grace period) and waits
 * until their ports are free. Never touches a process it did not start.
 */
export async function down(opts: ManagerOptions = {}): Promise<StopReport[]> {
  const reports: StopReport[] = [];
  // Temporal first: it holds no state in Kafka, and consumers see the broker go last.
  for (const def of selected(opts.only).reverse()) reports.push(await stopOne(def));
  return reports;
}

/** Where each server is, whether this clone runs it, and whether it answers. Starts nothing. */
export async function status(opts: ManagerOptions = {}): Promise<ServerStatus[]> {
  return Promise.all(
    selected(opts.only).map(async (def): Promise<ServerStatus> => {
      const envEndpoint = def.envEndpoint();
      const rec = readPidFile(def.pidFile());
      const alive = rec !== undefined && isRecordedProcessAlive(rec);
      const endpoint = envEndpoint ?? def.localEndpoint;
      return {
        name: def.name,
        mode: envEndpoint ? 'env' : 'local',
        endpoint,
        pid: alive ? rec.pid : null,
        startedAt: alive ? rec.startedAt : null,
        answering: await def.answers(endpoint),
        logs: envEndpoint ? [] : def.logs(),
      };
    }),
  );
}

/** Downloads whatever the selected servers need (and the time-skipping test server) without starting anything. */
export async function install(opts: ManagerOptions = {}): Promise<void> {
  const log = opts.log ?? quiet;
  const names = selected(opts.only).map((d) => d.name);
  await Promise.all([
    names.includes('kafka') && !process.env.KAFKA_BROKERS ? ensureKafkaJars(log) : undefined,
    ensureTemporalBinaries(log),
  ]);
}

/** Starts the local Kafka (or reuses it). */
export async function startKafka(opts: Omit<ManagerOptions, 'only'> = {}): Promise<ServerReport> {
  const [report] = await up({ ...opts, only: ['kafka'] });
  return report!;
}

/** Stops the local Kafka this clone started; its data stays, so a later start finds topics and offsets again. */
export async function stopKafka(): Promise<StopReport> {
  const [report] = await down({ only: ['kafka'] });
  return report!;
}

/** Stops and starts the local Kafka (for chaos tests: the broker goes away mid-stream and comes back). */
export async function restartKafka(opts: Omit<ManagerOptions, 'only'> = {}): Promise<ServerReport> {
  await stopKafka();
  return startKafka(opts);
}

/** Starts the local Temporal dev server (or reuses it). */
export async function startTemporal(opts: Omit<ManagerOptions, 'only'> = {}): Promise<ServerReport> {
  const [report] = await up({ ...opts, only: ['temporal'] });
  return report!;
}

/** Stops the local Temporal dev server this clone started; its SQLite file keeps the workflows. */
export async function stopTemporal(): Promise<StopReport> {
  const [report] = await down({ only: ['temporal'] });
  return report!;
}

/** Stops and starts the local Temporal dev server; running workflows resume from the SQLite file. */
export async function restartTemporal(opts: Omit<ManagerOptions, 'only'> = {}): Promise<ServerReport> {
  await stopTemporal();
  return startTemporal(opts);
}

/** Path of the time-skipping test server binary (installed into the cache on first use). */
export async function timeSkippingServerPath(): Promise<string> {
  return (await ensureTemporalBinaries()).testServer;
}
