/**
 * The `rollout` commands. Each action validates its arguments, does one thing through the typed client
 * (Temporal) or the Kafka log reader, and prints for a person or, with `--json`, for a program.
 */
import { writeFile } from 'node:fs/promises';
import { getStatus, type RolloutStatusView } from '../client';
import {
  checkOperatorOperation,
  listOperation,
  parseListLimit,
  runOperatorOperation,
  startOperation,
} from '../client/operations';
import { workflowUiLink } from '../config/env';
import type { OperatorCommandType } from '../events/domain-events';
import { IdSchema } from '../events/install-event';
import { createLogger } from '../observability/log';
import { formatEventLine } from '../replay/describe';
import { conflictWarning } from '../replay/event-conflicts';
import { readRolloutLog } from '../replay/read-log';
import { FleetSimulator } from '../simulator/fleet-simulator';
import { parseScenario } from '../simulator/scenario';
import { defaultActor, type CliContext } from './context';
import { loadLimits, planFileProblem } from './limits';
import { EXIT, UnreachableError, UserError, isKafkaUnreachable } from './errors';
import { isFinished, logCheckLines, renderStatus, statusJson, WatchView, type LogCheck } from './status-view';
import { loadPlan, readText } from './validate';
import type { ApiClient } from './api-client';

const print = (text: string) => process.stdout.write(`${text}\n`);

/** Through the API the actor is the token's identity: a self-declared `--actor` is refused, not silently dropped. */
function noActorThroughApi(actor: string | undefined): void {
  if (actor !== undefined) {
    throw new UserError(
      '--actor cannot be used through the API (ROLLOUT_API_URL): the actor recorded is the token’s identity',
    );
  }
}

/**
 * `rollout start <plan>`: validates the plan, starts the rollout (within `BSI_MAX_ACTIVE_ROLLOUTS`), prints its id
 * and the Temporal UI link; through the API it uploads the plan file's text and the API starts it.
 */
export async function startCommand(
  ctx: CliContext,
  path: string,
  opts: { id?: string; actor?: string; reason?: string; supersedes?: string; json?: boolean },
): Promise<void> {
  const plan = loadPlan(path);
  if (opts.supersedes !== undefined && !IdSchema.safeParse(opts.supersedes).success) {
    throw new UserError(`--supersedes: not a rollout id (value: ${JSON.stringify(opts.supersedes)})`);
  }
  const supersedes = opts.supersedes !== undefined ? { supersedes: opts.supersedes } : {};
  const reason = opts.reason ?? `started from ${path}`;
  let started: { rolloutId: string; workflowId: string; runId: string; actor: string };
  if (ctx.api) {
    noActorThroughApi(opts.actor);
    const tooBig = planFileProblem(path, loadLimits().maxPlanBytes);
    if (tooBig !== undefined) throw new UserError(tooBig);
    started = await ctx.api.start(readText(path, 'plan'), {
      ...(opts.id !== undefined && { rolloutId: opts.id }),
      ...supersedes,
      reason,
    });
  } else {
    const actor = opts.actor ?? defaultActor();
    const direct = await startOperation(await ctx.client(), {
      plan,
      ...(opts.id !== undefined && { rolloutId: opts.id }),
      ...supersedes,
      actor,
      reason,
      taskQueue: ctx.config.temporal.taskQueue,
      maxActiveRollouts: loadLimits().maxActiveRollouts,
    });
    started = { ...direct, actor };
  }
  const link = workflowUiLink(ctx.config.temporal, started.workflowId);
  if (opts.json)
    print(
      JSON.stringify({
        rolloutId: started.rolloutId,
        workflowId: started.workflowId,
        runId: started.runId,
        actor: started.actor,
        ui: link,
      }),
    );
  else {
    print(`started rollout ${started.rolloutId} (${plan.deviceClasses.length} device classes) as ${started.actor}`);
    print(`  status:   npx rollout status ${started.rolloutId} --watch`);
    print(`  Temporal: ${link}`);
  }
}

/**
 * How far before the rollout's start `status` reads the event log. Record timestamps are the appending worker's
 * clock and the start is the Temporal server's, so a worker clock behind by more than this could hide a record.
 */
const LOG_CHECK_SKEW_MS = 5 * 60_000;
/** How long `status` waits for the event log check before it says the log was not checked. */
const LOG_CHECK_TIMEOUT_MS = 15_000;

/**
 * Reads the rollout's event log for event ids with two contents, as `rollout events` does, but only the records
 * appended since the rollout started (less `LOG_CHECK_SKEW_MS`): one throw-away consumer-group join plus the
 * topic's records of the rollout's lifetime, instead of the whole topic, which is kept forever. Never throws: a log
 * that cannot be read within `LOG_CHECK_TIMEOUT_MS` is a `failed` check, and status goes on.
 */
async function checkLog(ctx: CliContext, rolloutId: string, startedAt: string | null): Promise<LogCheck> {
  const started = startedAt === null ? NaN : Date.parse(startedAt);
  let timer: NodeJS.Timeout | undefined;
  try {
    const read = readRolloutLog(ctx.kafka(), ctx.config.topics.rolloutEvents, rolloutId, {
      timeoutMs: LOG_CHECK_TIMEOUT_MS,
      ...(Number.isFinite(started) && { fromMs: started - LOG_CHECK_SKEW_MS }),
    });
    // Connecting is not covered by readRolloutLog's timeout (kafkajs retries a missing broker for longer).
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no answer within ${LOG_CHECK_TIMEOUT_MS / 1000} s`)),
        LOG_CHECK_TIMEOUT_MS,
      );
    });
    const log = await Promise.race([read, late]);
    return { state: 'checked', conflicts: log.conflicts };
  } catch (err) {
    const reason = isKafkaUnreachable(err)
      ? `Kafka at ${ctx.config.kafka.brokers.join(',')} does not answer`
      : (err as Error).message;
    return { state: 'failed', reason };
  } finally {
    clearTimeout(timer);
  }
}

/** The event-log check through the API: its events route answers with the log's conflicts. Never throws. */
async function checkLogThroughApi(api: ApiClient, rolloutId: string): Promise<LogCheck> {
  try {
    return { state: 'checked', conflicts: (await api.events(rolloutId)).conflicts };
  } catch (err) {
    return { state: 'failed', reason: err instanceof Error ? (err.message.split('\n')[0] ?? err.name) : String(err) };
  }
}

/**
 * `rollout status <id>`: the per-class table, `--json`, or the live view with `--watch`. The state comes from the
 * workflows (queries); the rollout's event log is also checked once for event ids with two contents (unless
 * `--no-log-check`): a warning on stderr per conflict, and `conflicts` in the JSON. Through the API, both come from
 * its status and events routes.
 */
export async function statusCommand(
  ctx: CliContext,
  rolloutId: string,
  opts: { json?: boolean; watch?: boolean; interval?: string; logCheck?: boolean },
): Promise<void> {
  const api = ctx.api;
  const client = api ? undefined : await ctx.client();
  const fetchStatus = (): Promise<RolloutStatusView> =>
    client ? getStatus(client, rolloutId) : api!.status(rolloutId);
  let view: RolloutStatusView = await fetchStatus();
  const check = (): Promise<LogCheck> =>
    opts.logCheck === false
      ? Promise.resolve({ state: 'skipped' })
      : api
        ? checkLogThroughApi(api, rolloutId)
        : checkLog(ctx, rolloutId, view.startedAt);
  const warn = (result: LogCheck) => {
    for (const line of logCheckLines(result, rolloutId)) process.stderr.write(`${line}\n`);
  };
  if (!opts.watch) {
    if (opts.json) {
      print(statusJson(view, await check()));
      return;
    }
    // The table first: it does not wait for the log.
    print(renderStatus(view, Date.now()));
    warn(await check());
    return;
  }
  // Watching: the log is checked once, before the first frame (warnings above the bars and again at the end).
  const logCheck = await check();
  const intervalMs = Math.max(200, Number(opts.interval ?? '1000'));
  if (opts.json) {
    // Watching as JSON: one line per change, for scripts.
    let last = '';
    for (;;) {
      const line = statusJson(view, logCheck);
      if (line !== last) print(line);
      last = line;
      if (isFinished(view)) return;
      await new Promise((r) => setTimeout(r, intervalMs));
      view = await fetchStatus();
    }
  }
  warn(logCheck);
  const watch = new WatchView();
  try {
    for (;;) {
      watch.update(view, Date.now());
      if (isFinished(view)) break;
      await new Promise((r) => setTimeout(r, intervalMs));
      view = await fetchStatus();
    }
  } finally {
    watch.stop();
  }
  print(renderStatus(view, Date.now()));
  warn(logCheck);
}

/** `rollout list`: rollouts known to the Temporal namespace, newest first. */
export async function listCommand(ctx: CliContext, opts: { json?: boolean; limit?: string }): Promise<void> {
  const limit = parseListLimit(opts.limit, '--limit');
  const rollouts = ctx.api ? await ctx.api.list(limit) : await listOperation(await ctx.client(), limit);
  if (opts.json) {
    print(JSON.stringify(rollouts));
    return;
  }
  if (rollouts.length === 0) {
    print('no rollouts');
    return;
  }
  const width = Math.max(10, ...rollouts.map((r) => r.rolloutId.length));
  const code = (r: (typeof rollouts)[number]) => r.codeVersion ?? 'unversioned';
  const codeWidth = Math.max(4, ...rollouts.map((r) => code(r).length));
  print(
    `${'ROLLOUT'.padEnd(width)}  ${'STATE'.padEnd(10)}  ${'CODE'.padEnd(codeWidth)}  STARTED                   CLOSED`,
  );
  for (const r of rollouts) {
    print(
      `${r.rolloutId.padEnd(width)}  ${r.executionStatus.padEnd(10)}  ${code(r).padEnd(codeWidth)}  ${r.startTime.padEnd(24)}  ${r.closeTime ?? '-'}`,
    );
  }
}

/**
 * `rollout pause|resume|approve|retry|rollback|abort|restart <id> [--class C] --reason … [--actor A] [--request-id R]`.
 * Every invocation carries a request id (`--request-id`, else a new UUID), printed with the answer, so a
 * command whose answer was lost can be repeated with the same id and applies once. Through the API the actor is
 * the token's identity (and `--actor` is refused).
 */
export async function operatorCommand(
  ctx: CliContext,
  type: OperatorCommandType,
  rolloutId: string,
  opts: { class?: string; reason?: string; actor?: string; requestId?: string; json?: boolean },
): Promise<void> {
  const api = ctx.api;
  if (api) noActorThroughApi(opts.actor);
  const op = checkOperatorOperation({
    type,
    rolloutId,
    ...(opts.class !== undefined && { lane: opts.class }),
    ...(opts.reason !== undefined && { reason: opts.reason }),
    actor: opts.actor ?? defaultActor(),
    ...(opts.requestId !== undefined && { requestId: opts.requestId }),
    via: 'rollout CLI',
    reasonName: '--reason "…"',
  });
  let actor = op.actor;
  let eventIds: string[];
  if (api) {
    const answer = await api.command(type, rolloutId, {
      ...(op.lane !== undefined && { class: op.lane }),
      reason: op.reason,
      requestId: op.requestId,
    });
    actor = answer.actor;
    eventIds = answer.eventIds;
  } else {
    eventIds = (await runOperatorOperation(await ctx.client(), op)).eventIds;
  }
  if (opts.json) {
    print(
      JSON.stringify({
        rolloutId,
        command: type,
        lane: opts.class ?? null,
        actor,
        requestId: op.requestId,
        accepted: true,
        eventIds,
      }),
    );
  } else {
    print(
      `${type} accepted for ${opts.class ? `class ${opts.class} of ` : ''}rollout ${rolloutId} as ${actor} (${eventIds.length} events recorded; request ${op.requestId})`,
    );
  }
}

/** `rollout events <id> [--follow] [--json]`: the rollout's domain event log, readable. */
export async function eventsCommand(
  ctx: CliContext,
  rolloutId: string,
  opts: { follow?: boolean; json?: boolean },
): Promise<void> {
  if (ctx.api) return eventsThroughApi(ctx.api, rolloutId, opts);
  const abort = new AbortController();
  const stop = () => abort.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const result = await readRolloutLog(ctx.kafka(), ctx.config.topics.rolloutEvents, rolloutId, {
      follow: opts.follow ?? false,
      signal: abort.signal,
      onEvent: (event) => print(opts.json ? JSON.stringify(event) : formatEventLine(event)),
    });
    for (const u of result.unreadable) {
      process.stderr.write(`rollout: unreadable record at partition ${u.partition} offset ${u.offset}: ${u.reason}\n`);
    }
    for (const c of result.conflicts) process.stderr.write(`rollout: ${conflictWarning(c, 'is shown')}\n`);
    if (result.events.length === 0 && !opts.follow) {
      throw new UserError(
        `no events for rollout ${rolloutId} in ${ctx.config.topics.rolloutEvents}`,
        EXIT.unknownRollout,
      );
    }
  } catch (err) {
    if (isKafkaUnreachable(err)) throw new UnreachableError('Kafka', ctx.config.kafka.brokers.join(','), err);
    throw err;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

/** How often `rollout events --follow` asks the API for new events. */
const FOLLOW_POLL_MS = 1000;

/**
 * `rollout events` through the API: the log from its events route; with `--follow`, asked again every second, each
 * event printed once (by event id), until Ctrl-C.
 */
async function eventsThroughApi(api: ApiClient, rolloutId: string, opts: { follow?: boolean; json?: boolean }) {
  const shown = new Set<string>();
  let stopped = false;
  const stop = () => {
    stopped = true;
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    let warned = false;
    for (;;) {
      const { events, conflicts } = await api.events(rolloutId);
      for (const event of events) {
        if (shown.has(event.eventId)) continue;
        shown.add(event.eventId);
        print(opts.json ? JSON.stringify(event) : formatEventLine(event));
      }
      if (!warned) for (const c of conflicts) process.stderr.write(`rollout: ${conflictWarning(c, 'is shown')}\n`);
      warned = true;
      if (!opts.follow || stopped) return;
      await new Promise((r) => setTimeout(r, FOLLOW_POLL_MS));
      if (stopped) return;
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

/** `rollout simulate <scenario>`: runs the fleet simulator until SIGINT/SIGTERM (or `--duration`). */
export async function simulateCommand(
  ctx: CliContext,
  path: string,
  opts: { group?: string; truthOut?: string; duration?: string },
): Promise<void> {
  const parsed = parseScenario(readText(path, 'scenario'));
  if (!parsed.ok) {
    const lines = parsed.errors.map(
      (e) => `  ${e.path}: ${e.rule}${e.value === undefined ? '' : ` (value: ${JSON.stringify(e.value)})`}`,
    );
    throw new UserError(`invalid scenario ${path}:\n${lines.join('\n')}`);
  }
  const durationSec = opts.duration === undefined ? undefined : Number(opts.duration);
  if (durationSec !== undefined && !(durationSec > 0))
    throw new UserError(`--duration must be a positive number of seconds`);
  const logger = createLogger('simulator');
  const simulator = new FleetSimulator({
    config: ctx.config,
    scenario: parsed.scenario,
    logger,
    ...(opts.group !== undefined && { groupId: opts.group }),
  });
  try {
    await simulator.start();
  } catch (err) {
    if (isKafkaUnreachable(err)) throw new UnreachableError('Kafka', ctx.config.kafka.brokers.join(','), err);
    throw err;
  }
  logger.info({ classes: Object.keys(parsed.scenario.classes) }, 'simulating');
  await new Promise<void>((resolve) => {
    const progress = setInterval(() => logger.info(simulator.currentStats(), 'progress'), 5000);
    const done = () => {
      if (timer) clearTimeout(timer);
      clearInterval(progress);
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    };
    const timer = durationSec === undefined ? undefined : setTimeout(done, durationSec * 1000);
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
  await simulator.stop();
  if (opts.truthOut) await writeFile(opts.truthOut, JSON.stringify(simulator.truth(), null, 2));
  const healthTruth = simulator.healthTruth();
  if (opts.truthOut && healthTruth !== undefined) {
    await writeFile(opts.truthOut.replace(/(\.json)?$/, '.post-install.json'), JSON.stringify(healthTruth, null, 2));
  }
  print(JSON.stringify({ simulator: 'stopped', ...simulator.currentStats() }));
}
