// The install-events wire format, version 2, as a specification: health reports that parse, the ones that are
// refused with the path and rule, and version-1 install events read as version 2.
import { readDeviceRecord, upcastInstallEventV1 } from '../../events/device-record';
import { HealthReportSchema, MAX_REPORT_PERIOD_SEC, MAX_SIGNAL_COUNT } from '../../events/health-report';
import type { InstallEvent } from '../../events/install-event';
import { MAX_SIGNALS } from '../../events/post-install';
import { decodeInstallValue } from '../../replay/outcomes';

const report = {
  type: 'health-report',
  eventId: 'd-1:2026-03-01T12:00:00Z',
  deviceId: 'd-1',
  deviceClass: 'phone-a',
  build: '26.3.1',
  rolloutId: 'r-1',
  offerId: 'r-1/phone-a/3',
  periodStart: '2026-03-01T12:00:00Z',
  periodEnd: '2026-03-01T12:15:00Z',
  uptimeSec: 900,
  counts: { 'app-crash': 2, 'kernel-panic': 0, 'compat-error:e_webview': 1 },
  at: '2026-03-01T12:15:03Z',
  schemaVersion: 2,
};

const v1: InstallEvent = {
  eventId: 'e-1',
  deviceId: 'd-1',
  deviceClass: 'phone-a',
  rolloutId: 'r-1',
  releaseId: 'rel',
  offerId: 'r-1/phone-a/3',
  attempt: 1,
  type: 'failed',
  errorCode: 'E_DISK_FULL',
  osVersion: '26.3.0',
  at: '2026-03-01T12:00:00Z',
  schemaVersion: 1,
};

function refusal(value: unknown): string {
  const result = readDeviceRecord(value);
  if (result.ok) throw new Error('accepted');
  return `${result.error.reason}: ${result.error.message}`;
}

describe('health reports (schemaVersion 2)', () => {
  it('accepts a report of an updated device and one of a device on no rollout build', () => {
    expect(readDeviceRecord(report)).toEqual({ ok: true, record: report });
    const { rolloutId: _r, offerId: _o, ...control } = report;
    expect(readDeviceRecord(control)).toEqual({ ok: true, record: control });
    expect(readDeviceRecord({ ...report, counts: {} }).ok).toBe(true);
  });

  it('refuses half an offer reference, an empty or over-long period, uptime beyond the period, and a report sent early', () => {
    const { offerId: _o, ...noOffer } = report;
    expect(refusal(noOffer)).toMatch(/^invalid-event: offerId: rolloutId and offerId go together/);
    expect(refusal({ ...report, periodEnd: report.periodStart })).toMatch(/periodEnd: the period must end after/);
    expect(
      refusal({
        ...report,
        periodEnd: new Date(Date.parse(report.periodStart) + (MAX_REPORT_PERIOD_SEC + 1) * 1000).toISOString(),
        at: '2026-03-03T00:00:00Z',
      }),
    ).toMatch(/periodEnd: the period must end after it starts and last at most 86400 s/);
    expect(refusal({ ...report, uptimeSec: 901 })).toMatch(/uptimeSec: uptime 901 s exceeds the period's 900 s/);
    expect(refusal({ ...report, at: '2026-03-01T12:14:59Z' })).toMatch(/at: a report is sent after its period ends/);
  });

  it('bounds the signals: names, how many, and counts', () => {
    expect(refusal({ ...report, counts: { 'App-Crash': 1 } })).toMatch(
      /counts\.App-Crash: signal name "App-Crash" must be a lower-case name/,
    );
    const many = Object.fromEntries(Array.from({ length: MAX_SIGNALS + 1 }, (_, i) => [`s-${i}`, 1]));
    expect(refusal({ ...report, counts: many })).toMatch(/counts: at most 64 signals/);
    expect(refusal({ ...report, counts: { 'app-crash': MAX_SIGNAL_COUNT + 1 } })).toMatch(/counts\.app-crash/);
    expect(refusal({ ...report, counts: { 'app-crash': 1.5 } })).toMatch(/counts\.app-crash/);
    expect(refusal({ ...report, counts: { 'app-crash': -1 } })).toMatch(/counts\.app-crash/);
  });

  it('is strict: unknown keys, wrong types and bad ids are refused with their path', () => {
    expect(refusal({ ...report, extra: 1 })).toMatch(/^invalid-event: .*extra/);
    expect(refusal({ ...report, uptimeSec: '900' })).toMatch(/uptimeSec/);
    expect(refusal({ ...report, deviceId: 'has space' })).toMatch(/deviceId: must be printable ASCII/);
    expect(refusal({ ...report, deviceClass: '-x' })).toMatch(/deviceClass/);
    expect(refusal({ ...report, build: '' })).toMatch(/build/);
    expect(refusal({ ...report, periodStart: 'yesterday' })).toMatch(/periodStart/);
  });

  it('is version 2 only: a health report under schemaVersion 1 is refused, an unknown version named', () => {
    expect(refusal({ ...report, schemaVersion: 1 })).toMatch(/^invalid-event: /);
    expect(refusal({ ...report, schemaVersion: 3 })).toBe(
      'unknown-schema-version: schemaVersion 3 is not supported (expected 1 or 2)',
    );
    expect(HealthReportSchema.safeParse({ ...report, schemaVersion: 2 }).success).toBe(true);
  });
});

describe('install events across versions', () => {
  it('upcasts a version-1 install event to version 2 with the same fields, leaving the record untouched', () => {
    const copy = structuredClone(v1);
    expect(upcastInstallEventV1(v1)).toEqual({ ...v1, schemaVersion: 2 });
    expect(v1).toEqual(copy);
    expect(readDeviceRecord(v1)).toEqual({ ok: true, record: { ...v1, schemaVersion: 2 } });
  });

  it('carries every install event unchanged in version 2, with the same rules', () => {
    expect(readDeviceRecord({ ...v1, schemaVersion: 2 })).toEqual({ ok: true, record: { ...v1, schemaVersion: 2 } });
    expect(refusal({ ...v1, schemaVersion: 2, type: 'succeeded' })).toMatch(
      /errorCode: errorCode is only allowed on failed and rollback-failed events/,
    );
    expect(refusal({ ...v1, schemaVersion: 1, type: 'succeeded' })).toMatch(/errorCode: errorCode is only allowed/);
    expect(refusal({ ...v1, schemaVersion: 2, attempt: 0 })).toMatch(/attempt/);
  });

  it('names a missing version as the version-1 schema would, and never throws on foreign JSON', () => {
    const { schemaVersion: _v, ...unversioned } = v1;
    expect(refusal(unversioned)).toMatch(/schemaVersion/);
    for (const value of [null, 1, 'x', [], {}, { type: 'health-report', schemaVersion: 2 }]) {
      expect(readDeviceRecord(value).ok).toBe(false);
    }
  });
});

test('replay reads install events of either version and passes over health reports, as the ingest counts them', () => {
  expect(decodeInstallValue(JSON.stringify(v1))).toMatchObject({ kind: 'report', report: { deviceId: 'd-1' } });
  expect(decodeInstallValue(JSON.stringify({ ...v1, schemaVersion: 2 }))).toMatchObject({ kind: 'report' });
  expect(decodeInstallValue(JSON.stringify(report))).toBeNull();
  expect(decodeInstallValue(JSON.stringify({ ...v1, schemaVersion: 3 }))).toBeNull();
});
