/**
 * `rollout dev`: one terminal for local work. Starts (or reuses) the local Kafka and Temporal servers,
 * then a worker and an ingest member as child processes — optionally the fleet simulator too — with
 * their log lines prefixed by name. Ctrl-C stops the children, then the servers it started.
 */
import { startEngineProcess, type EngineProcess } from '../scripts/engine-process';
import { down, up } from '../scripts/servers/index';
import type { CliContext } from './context';
import { UserError } from './errors';

const say = (name: string) => (line: string) => process.stdout.write(`${name.padEnd(9)}| ${line}\n`);

/** Runs servers + worker + ingest (+ simulator) until SIGINT/SIGTERM or a child dies. */
export async function devCommand(ctx: CliContext, opts: { simulate?: string; keepServers?: boolean }): Promise<void> {
  const reports = await up({ log: say('servers') });
  const started = reports.filter((r) => r.state === 'started').map((r) => r.name);
  const children: EngineProcess[] = [
    startEngineProcess('worker', ['worker'], { onLine: say('worker') }),
    startEngineProcess('ingest', ['ingest'], { onLine: say('ingest') }),
  ];
  if (opts.simulate)
    children.push(startEngineProcess('simulator', ['simulate', opts.simulate], { onLine: say('simulator') }));
  say('dev')(
    `running ${children.map((c) => c.name).join(', ')} on Temporal ${ctx.config.temporal.address}, ` +
      `Kafka ${ctx.config.kafka.brokers.join(',')}; Ctrl-C stops`,
  );
  const died = await new Promise<string | undefined>((resolve) => {
    for (const c of children) void c.exited.then((code) => resolve(`${c.name} exited with ${code}`));
    process.once('SIGINT', () => resolve(undefined));
    process.once('SIGTERM', () => resolve(undefined));
  });
  await Promise.all(children.map((c) => c.stop()));
  if (started.length > 0 && !opts.keepServers) await down({ only: started, log: say('servers') });
  if (died) throw new UserError(`dev stopped: ${died}`, 1);
}
