/**
 * Runs one engine process (`rollout worker`, `rollout ingest`, `rollout simulate …`) as a child of the
 * caller: output lines go to a callback (a log file, a prefixed terminal), readiness is a line pattern,
 * and `stop()` sends SIGTERM, then SIGKILL after a grace period. The demo, `rollout dev`, the chaos
 * suite and the benchmarks use it so they run the real binaries exactly as an operator would.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../layout/package-layout';

/** The `rollout` bin, which runs the compiled CLI in dist/ (`npm run build` first). */
const BIN = join(PACKAGE_ROOT, 'bin', 'rollout.js');

export interface EngineProcessOptions {
  /** Extra environment on top of this process's (topics, task queue, ports). */
  env?: NodeJS.ProcessEnv;
  /** Each output line (stdout and stderr) of the child. */
  onLine?: (line: string) => void;
  /** Append all output to this file as well. */
  logFile?: string;
  /** A line matching this means the process is ready. */
  ready?: RegExp;
  /** Runs the process at this nice value (`nice -n`, every thread of it): a load generator yields the CPU. */
  nice?: number;
}

/** A running engine process. */
export interface EngineProcess {
  name: string;
  child: ChildProcess;
  /** Resolves when the readiness line appeared; rejects if the process exits first. */
  ready: Promise<void>;
  /** Resolves with the exit code (or signal name) when the process has ended. */
  exited: Promise<number | string>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it has exited. */
  stop(graceMs?: number): Promise<number | string>;
  /** SIGKILL at once (crash simulation); resolves when it has exited. */
  kill(): Promise<number | string>;
}

/**
 * Starts `rollout <args…>` as a child process. With `BSI_PROFILE_DIR` set, the child runs under the V8 CPU
 * profiler (`--cpu-prof`) and writes a `.cpuprofile` per thread (the workflow thread has its own) into
 * `$BSI_PROFILE_DIR/<name>/` when it exits: how the benchmarks find where an engine process spends its time.
 */
export function startEngineProcess(name: string, args: string[], options: EngineProcessOptions = {}): EngineProcess {
  const profileDir = process.env.BSI_PROFILE_DIR;
  const profile = profileDir
    ? // No --cpu-prof-name: a fixed name would make every thread write over the main thread's profile.
      ['--cpu-prof', `--cpu-prof-dir=${join(profileDir, name)}`]
    : [];
  const command = [process.execPath, ...profile, BIN, ...args];
  if (options.nice !== undefined) command.unshift('nice', '-n', String(options.nice));
  const child = spawn(command[0]!, command.slice(1), {
    stdio: ['ignore', 'pipe', 'pipe'],
    // Several workers share this machine (tests, chaos, benchmarks): no metrics port unless one is asked for.
    env: { BSI_WORKER_METRICS_PORT: '0', ...process.env, ...options.env },
  });
  const file = options.logFile ? createWriteStream(options.logFile, { flags: 'a' }) : undefined;
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      file?.end();
      resolve(code ?? signal ?? 'unknown');
    });
  });
  const ready = new Promise<void>((resolve, reject) => {
    if (!options.ready) resolve();
    const pattern = options.ready;
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream }).on('line', (line) => {
        file?.write(`${line}\n`);
        options.onLine?.(line);
        if (pattern?.test(line)) resolve();
      });
    }
    void exited.then((code) => reject(new Error(`${name} exited (${code}) before it was ready`)));
  });
  ready.catch(() => undefined);
  const stop = async (graceMs = 15_000) => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    }
    return exited;
  };
  const kill = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    return exited;
  };
  return { name, child, ready, exited, stop, kill };
}
