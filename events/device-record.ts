/**
 * Reading a record of `bsi.install-events` in any supported version of the wire format as version 2. Stored
 * records are never rewritten: a reader upcasts each one in memory.
 *
 * Version 1 → 2: v1 carried install events only; v2 carries the same install events unchanged (`schemaVersion: 2`)
 * and adds the post-install health report (`health-report.ts`). A v1 install event is therefore read as the v2
 * install event with the same fields.
 */
import { z } from 'zod';
import { HealthReportSchema, type HealthReport } from './health-report';
import { InstallEventSchema, InstallEventV2Schema, type InstallEvent, type InstallEventV2 } from './install-event';

/** The current version of the device wire format. */
export const DEVICE_RECORD_SCHEMA_VERSION = 2;

/** A device record of version 2: an install event or a health report. */
export type DeviceRecord = InstallEventV2 | HealthReport;

/** Reads a version-1 install event as version 2 (the same fields). Pure: the stored record is left untouched. */
export function upcastInstallEventV1(event: InstallEvent): InstallEventV2 {
  return { ...event, schemaVersion: 2 };
}

/** Why a record is not a device record: a stable reason and a message naming the paths and rules broken. */
export type DeviceRecordError = { reason: 'unknown-schema-version' | 'invalid-event'; message: string };

/** Zod issues as one line: `path: rule; …` (the first five, at most 1000 characters). */
export function describeIssues(issues: readonly { path: readonly PropertyKey[]; message: string }[]): string {
  return issues
    .slice(0, 5)
    .map((i) => `${i.path.length > 0 ? i.path.map(String).join('.') : '(root)'}: ${i.message}`)
    .join('; ')
    .slice(0, 1000);
}

const V2Schema = z.union([HealthReportSchema, InstallEventV2Schema]);

/**
 * Reads one parsed JSON value as a version-2 device record, upcasting a version-1 install event, or says why it is
 * none: an unknown `schemaVersion`, or the schema's issues. A v2 value with `type: 'health-report'` is explained
 * by the health report's schema, any other v2 value by the install event's.
 */
export function readDeviceRecord(
  value: unknown,
): { ok: true; record: DeviceRecord } | { ok: false; error: DeviceRecordError } {
  const version =
    typeof value === 'object' && value !== null && !Array.isArray(value) && Object.hasOwn(value, 'schemaVersion')
      ? (value as { schemaVersion: unknown }).schemaVersion
      : undefined;
  if (version === 1 || version === undefined) {
    const v1 = InstallEventSchema.safeParse(value);
    if (v1.success) return { ok: true, record: upcastInstallEventV1(v1.data) };
    return { ok: false, error: { reason: 'invalid-event', message: describeIssues(v1.error.issues) } };
  }
  if (version !== DEVICE_RECORD_SCHEMA_VERSION) {
    return {
      ok: false,
      error: {
        reason: 'unknown-schema-version',
        message: `schemaVersion ${JSON.stringify(version)?.slice(0, 50)} is not supported (expected 1 or 2)`,
      },
    };
  }
  const v2 = V2Schema.safeParse(value);
  if (v2.success) return { ok: true, record: v2.data };
  const isHealth = (value as { type?: unknown }).type === 'health-report';
  const explained = (isHealth ? HealthReportSchema : InstallEventV2Schema).safeParse(value);
  const issues = explained.success ? v2.error.issues : explained.error.issues;
  return { ok: false, error: { reason: 'invalid-event', message: describeIssues(issues) } };
}
