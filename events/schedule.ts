/**
 * A rollout's schedule (the plan's `schedule` key), after AWS IoT Jobs' `SchedulingConfig`: the rollout waits until
 * `startAt` before it starts any lane, and at `endAt` applies `endBehavior`:
 * - `stop` (AWS `STOP_ROLLOUT`): no lane offers a new cohort any more. Every open lane is stopped (`lane-aborted` by
 *   `schedule`; a lane mid-rollback finishes and counts its rollback first), except a lane whose
 *   every phase is already exposed and which only counts its devices toward its patched share (`patching`): it offers
 *   nothing new, so it goes on to its end. Installs already ordered are not called back. The rollout then completes
 *   like any other once its lanes have ended (`rollout-completed`), and records that the schedule ended it.
 * - `cancel` (AWS `CANCEL`): the rollout is aborted, exactly as `rollout abort` (actor `schedule`).
 * AWS's `FORCE_CANCEL` (cancel installs in progress) has no counterpart: the engine never calls back an order.
 * Unlike AWS there is no 30-minute minimum window and no 2-year maximum, and an `endBehavior` without `endAt` is
 * refused rather than ignored; `endBehavior` defaults to `stop`, the gentler one. A `startAt` already past when the
 * rollout starts starts it at once; an `endAt` already past refuses the start.
 *
 * Pure: times arrive as ISO strings, the clock in the caller's input.
 */
import { z } from 'zod';

/** An ISO 8601 instant with its zone (`Z` or `±hh:mm`), seconds optional: `2026-12-08T01:00:00Z`. */
const ISO_WITH_ZONE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

/** Whether the calendar fields of an ISO instant name a real date and time (no 30 February, no 25:00). */
function realCalendarTime(text: string): boolean {
  const m = ISO_WITH_ZONE.exec(text);
  if (m === null) return false;
  const [year, month, day, hour, minute, second] = [m[1], m[2], m[3], m[4], m[5], m[6] ?? '0'].map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const probe = new Date(Date.UTC(year, month - 1, day));
  return probe.getUTCMonth() === month - 1 && probe.getUTCDate() === day && hour < 24 && minute < 60 && second < 60;
}

/** A schedule time: an ISO instant with a zone, normalised to UTC (`toISOString`), so parsing it again is a no-op. */
export const ScheduleTimeSchema = z
  .string({ error: 'must be an ISO 8601 time with a zone, e.g. 2026-12-08T01:00:00Z (quote it in YAML)' })
  .refine((text) => ISO_WITH_ZONE.test(text), {
    message: 'must be an ISO 8601 time with a zone (Z or ±hh:mm), e.g. 2026-12-08T01:00:00Z',
  })
  .refine((text) => !ISO_WITH_ZONE.test(text) || realCalendarTime(text), { message: 'is not a real date and time' })
  .transform((text) => new Date(text).toISOString());

export const END_BEHAVIORS = ['stop', 'cancel'] as const;
export const EndBehaviorSchema = z.enum(END_BEHAVIORS, { error: 'must be stop or cancel' });
export type EndBehavior = z.infer<typeof EndBehaviorSchema>;

/** The plan's `schedule` key: `startAt`, `endAt` (after `startAt`) and `endBehavior` (only with `endAt`). */
export const ScheduleSchema = z
  .object({
    startAt: ScheduleTimeSchema.optional(),
    endAt: ScheduleTimeSchema.optional(),
    endBehavior: EndBehaviorSchema.optional(),
  })
  .strict()
  .superRefine((schedule, ctx) => {
    if (schedule.startAt === undefined && schedule.endAt === undefined) {
      ctx.addIssue({ code: 'custom', path: [], message: 'needs startAt, endAt or both', input: schedule });
    }
    if (schedule.endBehavior !== undefined && schedule.endAt === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['endBehavior'],
        message: 'applies at endAt: give endAt too, or drop endBehavior',
        input: schedule.endBehavior,
      });
    }
    if (
      schedule.startAt !== undefined &&
      schedule.endAt !== undefined &&
      Date.parse(schedule.endAt) <= Date.parse(schedule.startAt)
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['endAt'],
        message: `must be after startAt (${schedule.startAt})`,
        input: schedule.endAt,
      });
    }
  });
export type Schedule = z.infer<typeof ScheduleSchema>;

/** The end behaviour a schedule applies at its `endAt`: the plan's, or `stop`. */
export function endBehaviorOf(schedule: Schedule): EndBehavior {
  return schedule.endBehavior ?? 'stop';
}

/** When a rollout started at `at` starts its lanes: its `startAt` when that is later, else at once (null). */
export function waitUntilOf(schedule: Schedule | undefined, at: string): string | null {
  const startAt = schedule?.startAt;
  return startAt !== undefined && Date.parse(startAt) > Date.parse(at) ? startAt : null;
}

/** Whether `time` has come at `at` (both ISO instants). */
export function reached(at: string, time: string): boolean {
  return Date.parse(at) >= Date.parse(time);
}

/** One sentence on a schedule for `validate --explain`, read against the clock `now`. */
export function describeSchedule(schedule: Schedule, now: string): string {
  const parts: string[] = [];
  const { startAt, endAt } = schedule;
  if (startAt === undefined) parts.push('starts at once');
  else if (reached(now, startAt)) parts.push(`startAt ${startAt} has passed: a rollout started now starts at once`);
  else parts.push(`waits until ${startAt} before starting any class (abort it meanwhile if need be)`);
  if (endAt !== undefined && reached(now, endAt)) parts.push(`endAt ${endAt} has passed: a start now is refused`);
  else if (endAt !== undefined && endBehaviorOf(schedule) === 'stop') {
    parts.push(
      `at ${endAt} stops: no class offers a new cohort (a class rolling back finishes it; one only counting its ` +
        'patched share goes on), then the rollout completes',
    );
  } else if (endAt !== undefined) parts.push(`at ${endAt} cancels: the rollout is aborted as by rollout abort`);
  return parts.join('; ');
}
