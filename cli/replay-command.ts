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
import { deviceKeysOf } from '../ingest/device-key-secret';
import { prebuiltWorkflowBundle } from '../layout/package-layout';
import { laneWorkflowId, rolloutWorkflowId } from '../workflows/messages';
import { checkDeterminism, type WorkflowCode } from '../replay/check-determinism';
import { formatConflicts } from '../replay/event-conflicts';
import { readRolloutLog } from '../replay/read-log';
import { renderHtml } from '../replay/render-html';
import { renderText } from '../replay/render-text';
import type { ReplayReport } from '../replay/postmortem';
import type { ApiClient } from './api-client';
import { loadRolloutReport, parseAtTime } from '../client/report';
import { workflowBundleOptions } from '../worker/workflow-code';

/** What the command needs from the CLI context. */
export interface ReplayContext {
  readonly config: Config;
  kafka(): Kafka;
  client(): Promise<Client>;
  /** The HTTP API, when the CLI goes through it (`ROLLOUT_API_URL`). */
  readonly api?: ApiClient | undefined;
}

/** The command's options as commander parses them. */
export type ReplayOptions = {
  at?: string;
  format?: string;
  out?: string;
  whatIf?: string;
  /** A what-if of the regression rule's tolerated ratio (plan level), without a file. */
  maxRateRatio?: string;
  installEvents?: boolean;
  checkDeterminism?: boolean;
};

const FORMATS = ['text', 'json', 'html'] as const;

/** What the worker of this layout runs: the prebuilt bundle of the compiled build, else the sources. */
function currentWorkflowCode(): WorkflowCode {
  const workflowBundle = prebuiltWorkflowBundle();
  if (workflowBundle) return { workflowBundle };
  const { workflowsPath, preloadModules } = workflowBundleOptions();
  return { workflowsPath, bundlerOptions: { preloadModules } };
}

/**
 * The what-if of `--max-rate-ratio R`: the recorded plan with its regression rule's tolerated ratio at R (classes
 * that set their own keep it; a what-if file sets those). Refused beside `--what-if` (give the ratio in the file) and
 * for a value that is no number.
 */
function maxRateRatioWhatIf(opts: ReplayOptions): { text: string; source: string } | undefined {
  if (opts.maxRateRatio === undefined) return undefined;
  if (opts.whatIf !== undefined) {
    throw new UserError('--max-rate-ratio and --what-if: give regression.maxRateRatio in the what-if file instead');
  }
  const ratio = Number(opts.maxRateRatio);
  if (opts.maxRateRatio.trim() === '' || !Number.isFinite(ratio)) {
    throw new UserError(`--max-rate-ratio must be a number such as 2, not ${JSON.stringify(opts.maxRateRatio)}`);
  }
  return { text: `regression: { maxRateRatio: ${ratio} }\n`, source: `--max-rate-ratio ${ratio}` };
}

/**
 * Builds the postmortem of a rollout from Kafka (`loadRolloutReport`, shared with the API): its log, its install
 * events (unless `installEvents` is false), with an optional what-if file. Warns on stderr when the log has event ids
 * with two contents. Throws `UserError` for an unknown rollout or a bad what-if file.
 */
export async function loadReport(ctx: ReplayContext, rolloutId: string, opts: ReplayOptions): Promise<ReplayReport> {
  const at = parseAtTime(opts.at, '--at');
  let whatIf: { text: string; source: string } | undefined = maxRateRatioWhatIf(opts);
  if (opts.whatIf !== undefined) {
    try {
      whatIf = { text: readFileSync(opts.whatIf, 'utf8'), source: opts.whatIf };
    } catch (err) {
      throw new UserError(`cannot read what-if file ${opts.whatIf}: ${(err as NodeJS.ErrnoException).code ?? ''}`);
    }
  }
  const { report, conflicts } = await loadRolloutReport(ctx.kafka(), ctx.config.topics, rolloutId, {
    ...(at !== undefined && { at }),
    ...(whatIf !== undefined && { whatIf }),
    ...(opts.installEvents !== undefined && { installEvents: opts.installEvents }),
    deviceKeys: () => deviceKeysOf(ctx.config.deviceKeys),
  });
  if (conflicts.length > 0) {
    process.stderr.write(
      `rollout: warning: ${conflicts.length} event id(s) appear with two contents in the log (the first is used; ` +
        `--check-determinism lists them)\n`,
    );
  }
  return report;
}

/**
 * The postmortem through the API's report route. What-if files, `--no-install-events` and `--check-determinism` need
 * the servers themselves and are refused with how to run them directly.
 */
async function reportThroughApi(api: ApiClient, rolloutId: string, opts: ReplayOptions): Promise<ReplayReport> {
  const direct = [
    opts.whatIf !== undefined && '--what-if',
    opts.maxRateRatio !== undefined && '--max-rate-ratio',
    opts.installEvents === false && '--no-install-events',
  ].filter((o): o is string => o !== false);
  if (direct.length > 0) {
    throw new UserError(`${direct.join(' and ')} need(s) Kafka directly: unset ROLLOUT_API_URL to run it`);
  }
  return api.report(rolloutId, parseAtTime(opts.at, '--at'));
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
    if (ctx.api) {
      throw new UserError('--check-determinism needs Temporal and Kafka directly: unset ROLLOUT_API_URL to run it');
    }
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
  const report = ctx.api ? await reportThroughApi(ctx.api, rolloutId, opts) : await loadReport(ctx, rolloutId, opts);
  const output = renderReport(report, format);
  if (opts.out !== undefined) {
    await mkdir(path.dirname(path.resolve(opts.out)), { recursive: true });
    await writeFile(opts.out, output);
    process.stdout.write(`wrote ${format} postmortem of ${rolloutId} to ${opts.out}\n`);
  } else {
    process.stdout.write(output);
  }
}
