/**
 * `rollout dev`: one terminal for local work. Starts (or reuses) the local Kafka and Temporal servers,
 * then a worker and an ingest member as child processes — optionally the fleet simulator too — with
 * their log lines prefixed by name. Ctrl-C stops the children, then the servers it started.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { down, up } from '../scripts/servers/index';
import type { CliContext } from './context';
import { UserError } from './errors';

const BIN = require.resolve('../bin/rollout.js');

function startChild(name: string, args: string[]): ChildProcess {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
  for (const stream of [child.stdout, child.stderr]) {
    if (stream)
      createInterface({ input: stream }).on('line', (line) => process.stdout.write(`${name.padEnd(9)}| ${line}\n`));
  }
  return child;
}

/** Runs servers + worker + ingest (+ simulator) until SIGINT/SIGTERM or a child dies. */
export async function devCommand(ctx: CliContext, opts: { simulate?: string; keepServers?: boolean }): Promise<void> {
  const reports = await up({ log: (line: string) => process.stdout.write(`servers  | ${line}\n`) });
  const started = reports.some((r) => r.state === 'started');
  const children = new Map<string, ChildProcess>([
    ['worker', startChild('worker', ['worker'])],
    ['ingest', startChild('ingest', ['ingest'])],
  ]);
  if (opts.simulate) children.set('simulator', startChild('simulator', ['simulate', opts.simulate]));
  process.stdout.write(
    `dev      | running: ${[...children.keys()].join(', ')} on Temporal ${ctx.config.temporal.address}, Kafka ${ctx.config.kafka.brokers.join(',')}; Ctrl-C stops\n`,
  );
  const died = await new Promise<string | undefined>((resolve) => {
    for (const [name, child] of children) child.once('exit', (code) => resolve(`${name} exited with ${code}`));
    process.once('SIGINT', () => resolve(undefined));
    process.once('SIGTERM', () => resolve(undefined));
  });
  await Promise.all(
    [...children.values()].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
          setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
        }),
    ),
  );
  if (started && !opts.keepServers) await down({ log: (line: string) => process.stdout.write(`servers  | ${line}\n`) });
  if (died) throw new UserError(`dev stopped: ${died}`, 1);
}
