/**
 * Post-install health reports, version 2 of the `bsi.install-events` wire format: a device reports, per period, its
 * uptime and how often each watched signal happened in it (`app-crash`, `kernel-panic`, `compat-error:<code>`).
 * Devices that run a rollout's build name the offer that gave it to them; devices not on any rollout's build name
 * none, and their reports are the concurrent control of their class. Like every record of the topic this is a
 * hostile-input boundary: strict, bounded, and dead-lettered with the reason when it does not parse.
 */
import { z } from 'zod';
import { DeviceClassSchema, IdSchema, TimestampSchema } from './install-event';
import { MAX_SIGNALS, SignalNameSchema } from './post-install';

/** Longest period one report may cover (a device that was offline reports its periods one by one). */
export const MAX_REPORT_PERIOD_SEC = 86_400;
/** Most events of one signal one report may count (far above any real device's crashes in a day). */
export const MAX_SIGNAL_COUNT = 100_000;

/** One device's post-install health over one period. */
export const HealthReportSchema = z
  .object({
    type: z.literal('health-report'),
    /** Unique per report (the period's, not the send's: a resent report keeps it). */
    eventId: IdSchema,
    deviceId: IdSchema,
    deviceClass: DeviceClassSchema,
    /** The build the device runs over the period. */
    build: z.string().min(1).max(64),
    /** The rollout and offer that gave the device `build`; both absent for a device not on any rollout's build. */
    rolloutId: IdSchema.optional(),
    offerId: IdSchema.optional(),
    periodStart: TimestampSchema,
    periodEnd: TimestampSchema,
    /** Seconds the device was up in the period: at most the period. */
    uptimeSec: z.number().min(0).max(MAX_REPORT_PERIOD_SEC),
    /** Events per signal in the period (signals that did not happen may be left out). */
    counts: z.record(z.string(), z.number().int().min(0).max(MAX_SIGNAL_COUNT)).superRefine((counts, ctx) => {
      const names = Object.keys(counts);
      if (names.length > MAX_SIGNALS) ctx.addIssue({ code: 'custom', message: `at most ${MAX_SIGNALS} signals` });
      for (const name of names.slice(0, MAX_SIGNALS + 1)) {
        const check = SignalNameSchema.safeParse(name);
        if (!check.success) {
          const rule = check.error.issues[0]?.message ?? 'invalid';
          ctx.addIssue({
            code: 'custom',
            path: [name],
            message: `signal name ${JSON.stringify(name.slice(0, 80))} ${rule}`,
          });
        }
      }
    }),
    /** When the report was sent. */
    at: TimestampSchema,
    schemaVersion: z.literal(2),
  })
  .strict()
  .superRefine((report, ctx) => {
    if ((report.rolloutId === undefined) !== (report.offerId === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [report.rolloutId === undefined ? 'rolloutId' : 'offerId'],
        message: 'rolloutId and offerId go together: both name the offer the build came from, or both are absent',
      });
    }
    const start = Date.parse(report.periodStart);
    const end = Date.parse(report.periodEnd);
    const periodSec = (end - start) / 1000;
    if (!(periodSec > 0) || periodSec > MAX_REPORT_PERIOD_SEC) {
      ctx.addIssue({
        code: 'custom',
        path: ['periodEnd'],
        message: `the period must end after it starts and last at most ${MAX_REPORT_PERIOD_SEC} s`,
      });
    } else if (report.uptimeSec > periodSec) {
      ctx.addIssue({
        code: 'custom',
        path: ['uptimeSec'],
        message: `uptime ${report.uptimeSec} s exceeds the period's ${periodSec} s`,
      });
    }
    if (Date.parse(report.at) < end) {
      ctx.addIssue({ code: 'custom', path: ['at'], message: 'a report is sent after its period ends' });
    }
  });
export type HealthReport = z.infer<typeof HealthReportSchema>;
