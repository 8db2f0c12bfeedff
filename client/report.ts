/**
 * The postmortem of a rollout, built from Kafka, for `rollout replay` and the API's report route alike: the domain
 * log from the event-log topic, the install events of its time range (unless left out), and an optional what-if
 * plan given as text. Unknown rollouts and bad what-if text are `UserError`s; the caller decides how to show the
 * log's conflicts (event ids with two contents), which come back beside the report.
 */
import type { Kafka } from 'kafkajs';
import type { Config } from '../config/env';
import { EXIT, UserError } from '../config/user-error';
import type { DeviceKeys } from '../events/device-keys';
import type { RolloutPlan } from '../events/plan';
import type { EventConflict } from '../replay/event-conflicts';
import { readInstallFacts } from '../replay/install-log';
import { readRolloutLog } from '../replay/read-log';
import { findSupersedingRollouts } from '../replay/superseded-by';
import { buildReport, type InstallFacts, type ReplayReport } from '../replay/postmortem';
import { whatIfPlanOf } from '../replay/what-if';

/** What a report needs besides the rollout id. */
export interface ReportOptions {
  /** The state as of this ISO-8601 time (already checked by the caller). */
  at?: string;
  /** A what-if plan (or thresholds / breach policy only) as YAML or JSON text, and where it came from. */
  whatIf?: { text: string; source: string };
  /** false: read only the domain log (no blast radius, exposure windows or rebuilt deltas). */
  installEvents?: boolean;
  /** The deployment's device keys (timeout markers name devices by their keyed hash); asked only when needed. */
  deviceKeys: () => DeviceKeys;
}

/** A postmortem and the log's conflicts. */
export interface LoadedReport {
  report: ReplayReport;
  conflicts: EventConflict[];
}

/**
 * Reads the time of an `at` option as ISO-8601; throws `UserError` naming the option (`name`) when it is not a time.
 */
export function parseAtTime(text: string | undefined, name: string): string | undefined {
  if (text === undefined) return undefined;
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) {
    throw new UserError(`${name} ${JSON.stringify(text)} is not a time: use ISO-8601, e.g. 2026-11-27T12:00:05Z`);
  }
  return new Date(ms).toISOString();
}

/**
 * Builds the postmortem of a rollout from Kafka. Throws `UserError` (exit 3) for a rollout with no events, and
 * (exit 2) for a what-if text that is not a valid plan over the recorded one.
 */
export async function loadRolloutReport(
  kafka: Kafka,
  topics: Pick<Config['topics'], 'rolloutEvents' | 'installEvents'>,
  rolloutId: string,
  opts: ReportOptions,
): Promise<LoadedReport> {
  const log = await readRolloutLog(kafka, topics.rolloutEvents, rolloutId);
  if (log.events.length === 0) {
    throw new UserError(`unknown rollout ${rolloutId}: no events on ${topics.rolloutEvents}`, EXIT.unknownRollout);
  }
  const started = log.events.find((e) => e.type === 'rollout-started');
  let whatIf: { plan: RolloutPlan; source: string } | undefined;
  if (opts.whatIf !== undefined) {
    if (started?.type !== 'rollout-started') throw new UserError(`rollout ${rolloutId} has no rollout-started event`);
    const parsed = whatIfPlanOf(started.data.plan, opts.whatIf.text, opts.whatIf.source);
    if (!parsed.ok) {
      const lines = parsed.errors.map(
        (e) => `  ${e.path}: ${e.rule}${e.value === undefined ? '' : ` (value: ${JSON.stringify(e.value)})`}`,
      );
      throw new UserError(`invalid what-if ${opts.whatIf.source}:\n${lines.join('\n')}`, EXIT.usage);
    }
    whatIf = { plan: parsed.plan, source: opts.whatIf.source };
  }
  let install: InstallFacts | undefined;
  if (opts.installEvents !== false) {
    install = await readInstallFacts(kafka, topics.installEvents, rolloutId, log.events, opts.deviceKeys());
  }
  const startedAt = started?.at;
  const supersededBy =
    startedAt === undefined ? [] : await findSupersedingRollouts(kafka, topics.rolloutEvents, rolloutId, startedAt);
  const report = buildReport({ rolloutId, events: log.events, install, at: opts.at, whatIf, supersededBy });
  return { report, conflicts: log.conflicts };
}
