/**
 * `rollout replay <rolloutId>`: reads the rollout's domain log and the install events of its time range,
 * builds the postmortem (timeline, evidence, state as of `--at`, blast radius, exposure windows, what-if)
 * and prints it as text, JSON or a self-contained HTML file; or, with `--check-determinism`, replays the
 * rollout's Temporal histories against the current workflow code.
 */
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import type { Kafka } from 'kafkajs';
import type { Config } from '../config/env';
import { EXIT, UserError } from '../config/user-error';
import type { RolloutPlan } from '../events/plan';
import { deviceKeysOf } from '../ingest/device-key-secret';
import { prebuiltWorkflowBundle } from '../layout/package-layout';
import { laneWorkflowId, rolloutWorkflowId } from '../workflows/messages';
import { checkDeterminism, type WorkflowCode } from '../replay/check-determinism';
import { formatConflicts } from '../replay/event-conflicts';
import { readInstallFacts } from '../replay/install-log';
import { readRolloutLog } from '../replay/read-log';
import { renderHtml } from '../replay/render-html';
import { renderText } from '../replay/render-text';
import { buildReport, type InstallFacts, type ReplayReport } from '../replay/postmortem';
import { whatIfPlanOf } from '../replay/what-if';

/** What the command needs from the CLI context. */
export interface ReplayContext {
  readonly config: Config;
  kafka(): Kafka;
  client(): Promise<Client>;
}

/** The command's options as commander parses them. */
export type ReplayOptions = {
  at?: string;
  format?: string;
  out?: string;
  whatIf?: string;
  installEvents?: boolean;
  checkDeterminism?: boolean;
};

const FORMATS = ['text', 'json', 'html'] as const;

/** The workflow code the determinism check replays against: the same module the worker bundles. */
export const WORKFLOWS_PATH = require.resolve('../workflows');

/** What the worker of this layout runs: the prebuilt bundle of the compiled build, else the sources. */
function currentWorkflowCode(): WorkflowCode {
  const workflowBundle = prebuiltWorkflowBundle();
  return workflowBundle ? { workflowBundle } : { workflowsPath: WORKFLOWS_PATH };
}

function parseAt(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) {
    throw new UserError(`--at ${JSON.stringify(text)} is not a time: use ISO-8601, e.g. 2026-11-27T12:00:05Z`);
  }
  return new Date(ms).toISOString();
}

/**
 * Builds the postmortem of a rollout from Kafka: its log from the event-log topic, its install events
 * from the install-events topic (unless `installEvents` is false), with an optional what-if file.
 * Throws `UserError` for an unknown rollout or a bad what-if file.
 */
export async function loadReport(ctx: ReplayContext, rolloutId: string, opts: ReplayOptions): Promise<ReplayReport> {
  const at = parseAt(opts.at);
  const kafka = ctx.kafka();
  const log = await readRolloutLog(kafka, ctx.config.topics.rolloutEvents, rolloutId);
  if (log.events.length === 0) {
    throw new UserError(
      `unknown rollout ${rolloutId}: no events on ${ctx.config.topics.rolloutEvents}`,
      EXIT.unknownRollout,
    );
  }
  if (log.conflicts.length > 0) {
    process.stderr.write(
      `rollout: warning: ${log.conflicts.length} event id(s) appear with two contents in the log (the first is used; ` +
        `--check-determinism lists them)\n`,
    );
  }
  const started = log.events.find((e) => e.type === 'rollout-started');
  let whatIf: { plan: RolloutPlan; source: string } | undefined;
  if (opts.whatIf !== undefined) {
    if (started?.type !== 'rollout-started') throw new UserError(`rollout ${rolloutId} has no rollout-started event`);
    let text: string;
    try {
      text = readFileSync(opts.whatIf, 'utf8');
    } catch (err) {
      throw new UserError(`cannot read what-if file ${opts.whatIf}: ${(err as NodeJS.ErrnoException).code ?? ''}`);
    }
    const parsed = whatIfPlanOf(started.data.plan, text, opts.whatIf);
    if (!parsed.ok) {
      const lines = parsed.errors.map(
        (e) => `  ${e.path}: ${e.rule}${e.value === undefined ? '' : ` (value: ${JSON.stringify(e.value)})`}`,
      );
      throw new UserError(`invalid what-if ${opts.whatIf}:\n${lines.join('\n')}`, EXIT.usage);
    }
    whatIf = { plan: parsed.plan, source: opts.whatIf };
  }
  let install: InstallFacts | undefined;
  if (opts.installEvents !== false) {
    // The deployment's device-key secret: timeout markers name devices by their keyed hash.
    const keys = deviceKeysOf(ctx.config.deviceKeys);
    install = await readInstallFacts(kafka, ctx.config.topics.installEvents, rolloutId, log.events, keys);
  }
  return buildReport({ rolloutId, events: log.events, install, at, whatIf });
}

/** Renders a report in a format: `text`, `json` or `html`. */
export function renderReport(report: ReplayReport, format: (typeof FORMATS)[number]): string {
  switch (format) {
    case 'json':
      return `${JSON.stringify(report, null, 2)}\n`;
    case 'html':
      return renderHtml(report);
    case 'text':
      return renderText(report);
    default: {
      const _exhaustive: never = format;
      throw new Error(`unexpected format ${String(_exhaustive)}`);
    }
  }
}

/** `rollout replay <rolloutId> [--at T] [--format text|json|html] [--out FILE] [--what-if FILE] [--check-determinism]`. */
export async function replayCommand(
  ctx: ReplayContext,
  rolloutId: string,
  opts: ReplayOptions,
  workflowCode: WorkflowCode = currentWorkflowCode(),
): Promise<void> {
  if (opts.checkDeterminism) {
    const log = await readRolloutLog(ctx.kafka(), ctx.config.topics.rolloutEvents, rolloutId);
    const started = log.events.find((e) => e.type === 'rollout-started');
    const lanes = started?.type === 'rollout-started' ? started.data.plan.deviceClasses : [];
    const ids = [rolloutWorkflowId(rolloutId), ...lanes.map((lane) => laneWorkflowId(rolloutId, lane))];
    const result = await checkDeterminism(await ctx.client(), ids, workflowCode);
    if (result.runs.length === 0)
      throw new UserError(`unknown rollout ${rolloutId}: no workflow history`, EXIT.unknownRollout);
    // The log itself: one event id with two contents means two runs of the deciders disagreed.
    process.stdout.write(formatConflicts(log.conflicts));
    for (const run of result.runs) {
      process.stdout.write(
        `${run.ok ? 'ok  ' : 'FAIL'} ${run.workflowId} ${run.runId}${run.error ? `: ${run.error}` : ''}\n`,
      );
    }
    process.stdout.write(
      result.ok
        ? `deterministic: ${result.runs.length} runs replay against the current workflow code\n`
        : 'NOT deterministic: the current workflow code cannot replay these histories\n',
    );
    if (log.conflicts.length > 0) {
      process.stdout.write(
        `NOT deterministic: ${log.conflicts.length} event id(s) in the log have two contents: ${log.conflicts.map((c) => c.eventId).join(', ')}\n`,
      );
    } else {
      process.stdout.write(
        `log consistent: no event id has two contents (${log.duplicates} exact duplicates dropped)\n`,
      );
    }
    if (!result.ok || log.conflicts.length > 0) throw new UserError('determinism check failed', EXIT.failure);
    return;
  }
  const format = (opts.format ?? 'text') as (typeof FORMATS)[number];
  if (!FORMATS.includes(format))
    throw new UserError(`--format must be one of ${FORMATS.join(', ')}, not ${opts.format}`);
  const report = await loadReport(ctx, rolloutId, opts);
  const output = renderReport(report, format);
  if (opts.out !== undefined) {
    await mkdir(path.dirname(path.resolve(opts.out)), { recursive: true });
    await writeFile(opts.out, output);
    process.stdout.write(`wrote ${format} postmortem of ${rolloutId} to ${opts.out}\n`);
  } else {
    process.stdout.write(output);
  }
}
