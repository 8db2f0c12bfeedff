/**
 * The `rollout` command line: what an SRE touches to start, watch and steer rollouts, and the entry
 * points of the engine's processes (worker, ingest, simulator, dev). Parsing is commander's; every
 * action runs through `run()`, which turns user errors into one clear sentence and an exit code.
 *
 * Start-up cost matters here (an operator types `rollout --help` or `rollout status` many times a day): this module
 * loads only commander and the error kinds. Each action `require`s the modules it needs when it runs — the Temporal
 * client, kafkajs, the zod schemas, the worker runtime — so `--help` and `validate` pay for none of what they do not
 * use (README, "The build").
 */
import { Command, Option } from 'commander';
import type * as ApiCommands from './api-commands';
import type * as Commands from './commands';
import type * as Context from './context';
import type * as Dev from './dev';
import type * as ReportError from './report-error';
import type * as Validate from './validate';
import type * as Replay from './replay-command';
import type * as WorkerMain from '../worker/main';
import type * as IngestMain from '../ingest/main';
import type { OperatorCommandType } from '../events/domain-events';
import { EXIT, isKafkaUnreachable, isTemporalUnreachable, UnreachableError, UserError } from './errors';

/* eslint-disable @typescript-eslint/no-require-imports -- each loaded when an action needs it (see the module doc) */
const apiCommands = () => require('./api-commands') as typeof ApiCommands;
const commands = () => require('./commands') as typeof Commands;
const context = () => require('./context') as typeof Context;
const dev = () => require('./dev') as typeof Dev;
const reportError = (err: unknown, debug: boolean) =>
  (require('./report-error') as typeof ReportError).reportError(err, debug);
const validate = () => require('./validate') as typeof Validate;
const replay = () => require('./replay-command') as typeof Replay;
const workerMain = () => require('../worker/main') as typeof WorkerMain;
const ingestMain = () => require('../ingest/main') as typeof IngestMain;
/* eslint-enable @typescript-eslint/no-require-imports */

type CliContext = Context.CliContext;

const debug = process.argv.includes('--debug') || process.env.DEBUG === '1';

/** Runs one action with a lazily opened context, and exits with the right code. */
async function run(action: (ctx: CliContext) => Promise<void> | void): Promise<void> {
  let ctx: CliContext | undefined;
  let code: number = EXIT.ok;
  try {
    ctx = new (context().CliContext)();
    await action(ctx);
  } catch (err) {
    code = reportError(ctx ? asUnreachable(ctx, err) : err, debug);
  } finally {
    await ctx?.close().catch(() => undefined);
  }
  process.exit(code);
}

/** A connection failure from any command becomes the error that names the server and how to start it. */
function asUnreachable(ctx: CliContext, err: unknown): unknown {
  if (err instanceof UserError) return err;
  if (isKafkaUnreachable(err)) return new UnreachableError('Kafka', ctx.config.kafka.brokers.join(','), err);
  if (isTemporalUnreachable(err)) return new UnreachableError('Temporal', ctx.config.temporal.address, err);
  return err;
}

/** Every operator command with its help line (the `Record` makes the compiler check none is missing). */
const OPERATOR_HELP: Record<OperatorCommandType, string> = {
  pause: 'pause a class (--class) or every running class; exposure stops until resume',
  resume: 'resume a paused class or rollout',
  approve: 'approve the manual gate a class waits at',
  retry: 'retry the current phase of a breached class with a fresh attempt',
  rollback: 'roll a class (or the whole rollout) back',
  abort: 'abort the rollout (or one class): no further exposure',
  restart: 'restart a lost class (--class): a new lane workflow carries on from its events in the log',
};

/** Builds the command tree (exported for tests of the help text). */
export function buildProgram(): Command {
  const program = new Command('rollout')
    .description('Phased, per-device-class rollouts of background security fixes on Temporal and Kafka')
    .option('--debug', 'print stack traces of unexpected errors')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : EXIT.usage));

  program
    .command('validate')
    .description('check a plan file (YAML or JSON) without starting anything')
    .argument('<plan>', 'plan file')
    .option('--json', 'print the normalised plan as JSON (with --explain: and the preview)')
    .option('--explain', 'preview each class: the guarantee, what a bad build costs, what each phase needs, warnings')
    .option('--class-size <n...>', 'devices per class for --explain: N for every class, or <class>=N')
    .option(
      '--strict',
      'exit 2 when the preview warns (a phase that can never pass, a bake shorter than the timeout, …)',
    )
    .action((plan: string, opts: { json?: boolean; explain?: boolean; classSize?: string[]; strict?: boolean }) =>
      run(() => validate().validateCommand(plan, opts)),
    );

  program
    .command('start')
    .description('validate a plan and start its rollout; prints the rollout id and the Temporal UI link')
    .argument('<plan>', 'plan file (YAML or JSON)')
    .option('--id <rolloutId>', 'rollout id (default: the plan’s, else <releaseId>-<random>)')
    .option('--actor <name>', 'who starts it (default: the OS user)')
    .option('--reason <text>', 'why (default: "started from <plan>")')
    .option('--supersedes <rolloutId>', 'a finished or halted rollout whose halted classes this one fixes')
    .option('--json', 'machine-readable output')
    .action(
      (plan: string, opts: { id?: string; actor?: string; reason?: string; supersedes?: string; json?: boolean }) =>
        run((ctx) => commands().startCommand(ctx, plan, opts)),
    );

  program
    .command('status')
    .description(
      'per class: phase, exposure, installed/failed/timed out, failure rate vs threshold, verdict, waiting for',
    )
    .argument('<rolloutId>')
    .option('--watch', 'live progress bars until the rollout ends')
    .option('--interval <ms>', 'refresh interval of --watch', '1000')
    .option('--json', 'machine-readable output (with --watch: one line per change)')
    .option('--no-log-check', 'do not read the event log for event ids with two contents (it needs Kafka)')
    .action((id: string, opts: { json?: boolean; watch?: boolean; interval?: string; logCheck?: boolean }) =>
      run((ctx) => commands().statusCommand(ctx, id, opts)),
    );

  program
    .command('list')
    .description('rollouts in the Temporal namespace, newest first')
    .option('--limit <n>', 'at most this many', '50')
    .option('--json', 'machine-readable output')
    .action((opts: { json?: boolean; limit?: string }) => run((ctx) => commands().listCommand(ctx, opts)));

  for (const type of Object.keys(OPERATOR_HELP) as OperatorCommandType[]) {
    program
      .command(type)
      .description(OPERATOR_HELP[type])
      .argument('<rolloutId>')
      .option('--class <deviceClass>', 'the device class (default: the whole rollout)')
      .option('--reason <text>', 'why: recorded in the audit trail (required for pause, retry, rollback, abort)')
      .option('--actor <name>', 'who (default: the OS user)')
      .option('--request-id <id>', 'idempotency key: repeating it applies the command once (default: a new UUID)')
      .option('--json', 'machine-readable output')
      .action(
        (id: string, opts: { class?: string; reason?: string; actor?: string; requestId?: string; json?: boolean }) =>
          run((ctx) => commands().operatorCommand(ctx, type, id, opts)),
      );
  }

  program
    .command('events')
    .description('the rollout’s domain event log, one readable line per event (who, what, why)')
    .argument('<rolloutId>')
    .option('--follow', 'keep printing new events until Ctrl-C')
    .option('--json', 'one JSON event per line')
    .action((id: string, opts: { follow?: boolean; json?: boolean }) =>
      run((ctx) => commands().eventsCommand(ctx, id, opts)),
    );

  program
    .command('replay')
    .description(
      'postmortem of a rollout: decision timeline with evidence, state as of --at, blast radius, exposure windows, what-if',
    )
    .argument('<rolloutId>')
    .option('--at <time>', 'the state as of this time (ISO-8601)')
    .option('--format <format>', 'text, json or html (one self-contained file)', 'text')
    .option('--out <file>', 'write the postmortem to this file instead of stdout')
    .option('--what-if <file>', 're-decide with another plan, or only thresholds / breach policy (YAML)')
    .option('--max-rate-ratio <ratio>', "what-if: the regression rule's tolerated ratio (plan level) set to this")
    .option('--no-install-events', 'read only the domain log (no blast radius, exposure windows or rebuilt deltas)')
    .option('--check-determinism', 'replay the Temporal histories against the current workflow code')
    .action((id: string, opts: Replay.ReplayOptions) => run((ctx) => replay().replayCommand(ctx, id, opts)));

  program
    .command('serve')
    .description('run the HTTP API (bearer-token auth, roles per namespace and class, OpenAPI at /openapi.json)')
    .option('--port <port>', 'port to listen on', '8080')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .action((opts: { port?: string; host?: string }) => run(() => apiCommands().serveCommand(opts)));

  program
    .command('dev-token')
    .description('print a token of the local dev issuer (`BSI_API_DEV_ISSUER=1 rollout serve` must be running)')
    .option('--sub <name>', 'the identity (the actor recorded; default: the OS user)')
    .option('--role <grant...>', 'ROLE or ROLE:class,class (viewer, operator, approver, admin)', ['admin'])
    .option('--namespace <ns>', 'the namespace of the grants (default: TEMPORAL_NAMESPACE)')
    .option('--ttl <duration>', 'lifetime, e.g. 30m, 8h', '1h')
    .action((opts: { sub?: string; role?: string[]; namespace?: string; ttl?: string }) =>
      run((ctx) => apiCommands().devTokenCommand(ctx, opts)),
    );

  program
    .command('worker')
    .description('run a rollout worker (Temporal task-queue poller); scale out by running more')
    .action(() => run(() => workerMain().main()));

  program
    .command('ingest')
    .description('run an ingest member (Kafka consumer group on the install events); scale out by running more')
    .action(() => run(() => ingestMain().main()));

  program
    .command('simulate')
    .description('run the fleet simulator: consumes bsi.commands, produces bsi.install-events')
    .argument('<scenario>', 'scenario file (YAML or JSON)')
    .option('--group <id>', 'consumer group on bsi.commands', 'bsi-simulator')
    .option('--duration <seconds>', 'stop after this long (default: until Ctrl-C)')
    .option('--truth-out <file>', 'write the ground truth (per offer) here on exit')
    .action((scenario: string, opts: { group?: string; duration?: string; truthOut?: string }) =>
      run((ctx) => commands().simulateCommand(ctx, scenario, opts)),
    );

  program
    .command('dev')
    .description('local development: start the servers, a worker and an ingest member in this terminal')
    .addOption(new Option('--simulate <scenario>', 'also run the fleet simulator with this scenario'))
    .option('--keep-servers', 'leave the servers running on exit')
    .action((opts: { simulate?: string; keepServers?: boolean }) => run((ctx) => dev().devCommand(ctx, opts)));

  return program;
}

/** Parses `argv` and runs the chosen command; the process exits with the command's code. */
export function runCli(argv: string[] = process.argv): void {
  buildProgram()
    .parseAsync(argv)
    .catch((err: unknown) => process.exit(reportError(err, debug)));
}

if (require.main === module) runCli();
