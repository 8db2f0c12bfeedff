/**
 * Maintenance windows: the local days and hours of a device class's time zone in which installs may start. A lane
 * sends no new exposure order outside its windows (a phase's first offer, a rate step, a retry's re-offer); it waits
 * for the next opening instead (`exposure-held`). A rollback never waits for a window: taking a bad build back is
 * always allowed.
 *
 * Plan shape: `{ timeZone: 'Europe/Berlin', windows: [{ days: [mon, tue], start: '01:00', end: '05:00' }] }`. A window
 * belongs to the day it starts on; an `end` at or before `start` crosses midnight into the next day (`22:00`–`02:00`
 * on `fri` runs Friday 22:00 to Saturday 02:00). Start and end are wall-clock times of `timeZone` (an IANA name),
 * converted to instants with `Intl.DateTimeFormat`, which works inside the Temporal workflow sandbox (tested there):
 * - a wall time that does not exist that day (the hour skipped when clocks go forward) means the instant the clock
 *   jumps past it: a window starting at 02:30 on Berlin's spring-forward day opens at 03:00 CEST (01:00 UTC);
 * - a wall time that happens twice (the hour repeated when clocks go back) means its first occurrence: 01:00–05:00 on
 *   New York's fall-back day opens at 01:00 EDT and so lasts 5 hours of real time, not 4.
 *
 * Pure: every function takes the time it judges; nothing reads a clock.
 */
import { z } from 'zod';

export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
export const WeekdaySchema = z.enum(WEEKDAYS, { error: 'must be a day: mon, tue, wed, thu, fri, sat or sun' });
export type Weekday = z.infer<typeof WeekdaySchema>;

const clockSchema = z
  .string({ error: 'must be a local time "HH:MM" (24 h), e.g. "01:00"' })
  .regex(/^([01]\d|2[0-3]):[0-5]\d$/, { error: 'must be a local time "HH:MM" (24 h), e.g. "01:00"' });

/** Whether `name` is a time zone this runtime knows (an IANA name such as `Europe/Berlin`). */
export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/** An IANA time zone name, checked against the runtime's zone data: `Europe/Berln` is refused with the rule. */
export const TimeZoneSchema = z
  .string()
  .min(1)
  .max(64)
  .refine(isTimeZone, {
    error: (issue) => `unknown time zone ${JSON.stringify(issue.input)}: give an IANA name such as Europe/Berlin`,
  });

/** One weekly window: the days it starts on and its local start and end (an end at or before the start crosses midnight). */
export const WindowSchema = z
  .object({
    days: z.array(WeekdaySchema).min(1).max(7),
    start: clockSchema,
    end: clockSchema,
  })
  .strict();
export type Window = z.infer<typeof WindowSchema>;

/** A class's maintenance windows: a time zone and the weekly windows in which installs may start. */
export const MaintenanceWindowsSchema = z
  .object({
    timeZone: TimeZoneSchema,
    windows: z.array(WindowSchema).min(1).max(50),
  })
  .strict();
export type MaintenanceWindows = z.infer<typeof MaintenanceWindowsSchema>;

const formats = new Map<string, Intl.DateTimeFormat>();
function formatOf(timeZone: string): Intl.DateTimeFormat {
  let format = formats.get(timeZone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formats.set(timeZone, format);
  }
  return format;
}

type Wall = { year: number; month: number; day: number; hour: number; minute: number; second: number };

/** The wall clock of `timeZone` at instant `ms`. */
function wallAt(ms: number, timeZone: string): Wall {
  const wall: Wall = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0 };
  for (const part of formatOf(timeZone).formatToParts(new Date(ms))) {
    if (part.type in wall) wall[part.type as keyof Wall] = Number(part.value);
  }
  return wall;
}

/** The zone's offset from UTC at instant `ms`, in ms (wall clock minus UTC). */
function offsetAt(ms: number, timeZone: string): number {
  const w = wallAt(ms, timeZone);
  const asUtc = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
  return asUtc - Math.floor(ms / 1000) * 1000;
}

const HOUR_MS = 3_600_000;

/**
 * The first instant at which the wall clock of `timeZone` reads `minutes` (after midnight) on the local date
 * (`year`, `month` 1-12, `day`), or, when it never does that day (skipped by a forward jump), the instant of the jump.
 * Zone offsets are taken a day either side, so one transition per two days is assumed (true of every IANA zone).
 */
function instantOfWall(year: number, month: number, day: number, minutes: number, timeZone: string): number {
  const wallAsUtc = Date.UTC(year, month - 1, day, 0, minutes);
  const before = offsetAt(wallAsUtc - 24 * HOUR_MS, timeZone);
  const after = offsetAt(wallAsUtc + 24 * HOUR_MS, timeZone);
  const valid = [...new Set([before, after])]
    .map((offset) => wallAsUtc - offset)
    .filter((ms) => offsetAt(ms, timeZone) === wallAsUtc - ms)
    .sort((a, b) => a - b);
  if (valid[0] !== undefined) return valid[0];
  // A gap: the clock jumped from `before` to `after` somewhere between these two instants; find the jump (to the second).
  let lo = wallAsUtc - after;
  let hi = wallAsUtc - before;
  while (hi - lo > 1000) {
    const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
    if (offsetAt(mid, timeZone) === after) hi = mid;
    else lo = mid;
  }
  return hi;
}

function minutesOf(clock: string): number {
  const [h, m] = clock.split(':');
  return Number(h) * 60 + Number(m);
}

/** The weekly occurrences of `windows` whose local start date lies within `fromDay`..`toDay` days of `ms`'s date. */
function occurrences(windows: MaintenanceWindows, ms: number, fromDay: number, toDay: number): [number, number][] {
  const today = wallAt(ms, windows.timeZone);
  const out: [number, number][] = [];
  for (let k = fromDay; k <= toDay; k++) {
    const date = new Date(Date.UTC(today.year, today.month - 1, today.day + k));
    const weekday = WEEKDAYS[date.getUTCDay()];
    const [y, m, d] = [date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate()];
    for (const window of windows.windows) {
      if (weekday === undefined || !window.days.includes(weekday)) continue;
      const start = minutesOf(window.start);
      const endMinutes = minutesOf(window.end);
      const end = endMinutes <= start ? endMinutes + 24 * 60 : endMinutes;
      const endDate = new Date(Date.UTC(y, m - 1, d, 0, end));
      const opens = instantOfWall(y, m, d, start, windows.timeZone);
      const closes = instantOfWall(
        endDate.getUTCFullYear(),
        endDate.getUTCMonth() + 1,
        endDate.getUTCDate(),
        end % (24 * 60),
        windows.timeZone,
      );
      if (closes > opens) out.push([opens, closes]);
    }
  }
  return out;
}

/**
 * The window in force at `at`, or the next one to open: its opening and closing instants (ISO). Looks 8 days ahead,
 * which always finds one (every window recurs weekly).
 */
export function windowAt(windows: MaintenanceWindows, at: string): { opensAt: string; closesAt: string } {
  const ms = Date.parse(at);
  const next = occurrences(windows, ms, -1, 8)
    .filter(([, closes]) => closes > ms)
    .sort((a, b) => a[0] - b[0])[0];
  // Unreachable for a validated plan (at least one window with at least one day): a week always holds an opening.
  if (next === undefined) throw new Error(`no maintenance window within 8 days of ${at} in ${windows.timeZone}`);
  return { opensAt: new Date(Math.max(next[0], ms)).toISOString(), closesAt: new Date(next[1]).toISOString() };
}

/** Whether installs may start at `at` (ISO time): it lies in a window (its opening included, its closing excluded). */
export function isWindowOpen(windows: MaintenanceWindows, at: string): boolean {
  return Date.parse(windowAt(windows, at).opensAt) <= Date.parse(at);
}

/** Says a class's windows in words: `mon,tue 01:00–05:00 (Europe/Berlin)`. */
export function describeWindows(windows: MaintenanceWindows): string {
  const each = windows.windows.map((w) => `${w.days.join(',')} ${w.start}–${w.end}`);
  return `${each.join('; ')} (${windows.timeZone})`;
}
