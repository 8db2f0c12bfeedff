// Processes the manager starts: detached, tracked by pid files, stopped by pid only (never by name).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

/** What a pid file records about a server this clone started. */
export interface PidRecord {
  pid: number;
  /** A string that the process's command line contains; guards against a recycled pid. */
  marker: string;
  startedAt: string;
  command: string[];
}

/** True when `pid` runs and is not a zombie (no identity check: for a child just spawned). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (process.platform !== 'linux') return true;
  try {
    return !/\) [ZX] /.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Starts `command` detached in its own process group with stdout and stderr appended to `logFile`, and returns its
 * pid. The caller writes the pid file; the child outlives the calling process (the CLI exits after `up`).
 */
export function spawnDetached(
  command: string,
  args: string[],
  opts: { cwd: string; logFile: string; env?: NodeJS.ProcessEnv },
): number {
  fs.mkdirSync(path.dirname(opts.logFile), { recursive: true });
  const fd = fs.openSync(opts.logFile, 'a');
  try {
    const child = spawn(command, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      detached: true,
      stdio: ['ignore', fd, fd],
    });
    if (child.pid === undefined) throw new Error(`could not start ${command}`);
    child.unref();
    return child.pid;
  } finally {
    fs.closeSync(fd);
  }
}

/** Reads a pid file, or undefined when there is none (or it is unreadable). */
export function readPidFile(file: string): PidRecord | undefined {
  try {
    const rec = JSON.parse(fs.readFileSync(file, 'utf8')) as PidRecord;
    return Number.isInteger(rec.pid) && rec.pid > 0 ? rec : undefined;
  } catch {
    return undefined;
  }
}

/** Writes a pid file atomically. */
export function writePidFile(file: string, rec: PidRecord): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(rec, null, 2) + '\n');
  fs.renameSync(tmp, file);
}

/**
 * True when the recorded process still runs and is the one recorded: alive, not a zombie, and (on Linux) its command
 * line still contains the marker, so a pid reused by an unrelated process is never mistaken for our server.
 */
export function isRecordedProcessAlive(rec: PidRecord): boolean {
  if (!pidAlive(rec.pid)) return false;
  if (process.platform !== 'linux') return true;
  try {
    const cmdline = fs.readFileSync(`/proc/${rec.pid}/cmdline`, 'utf8').split('\0').join(' ');
    return cmdline.includes(rec.marker);
  } catch {
    return false;
  }
}

/**
 * Stops the recorded process: SIGTERM, wait up to `graceMs`, then SIGKILL and wait again. Resolves once it is gone.
 * Only the recorded pid receives signals, and only after {@link isRecordedProcessAlive} confirmed its identity.
 */
export async function stopRecordedProcess(rec: PidRecord, graceMs: number): Promise<'stopped' | 'killed' | 'gone'> {
  if (!isRecordedProcessAlive(rec)) return 'gone';
  process.kill(rec.pid, 'SIGTERM');
  if (await waitUntil(() => !isRecordedProcessAlive(rec), graceMs)) return 'stopped';
  try {
    process.kill(rec.pid, 'SIGKILL');
  } catch {
    // exited between the check and the signal
  }
  if (await waitUntil(() => !isRecordedProcessAlive(rec), 10_000)) return 'killed';
  throw new Error(`process ${rec.pid} survived SIGKILL`);
}

/** Polls `check` every 100 ms until it returns true (→ true) or `timeoutMs` passes (→ false). */
export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(100);
  }
}

/** True when something accepts TCP connections on host:port. */
export function portInUse(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const done = (inUse: boolean) => {
      socket.destroy();
      resolve(inUse);
    };
    socket.setTimeout(1000, () => done(true));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Waits until nothing listens on any of `ports` any more; throws after `timeoutMs`. */
export async function waitForPortsFree(ports: number[], timeoutMs: number): Promise<void> {
  const free = await waitUntil(async () => {
    for (const port of ports) if (await portInUse(port)) return false;
    return true;
  }, timeoutMs);
  if (!free) throw new Error(`ports ${ports.join(', ')} still in use after ${timeoutMs} ms`);
}

/** Last `lines` lines of a log file, for error messages. */
export function tail(file: string, lines = 30): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
