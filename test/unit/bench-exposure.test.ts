/**
 * `bench:exposure`'s physics and output: the time-zone fleet installs only within its devices' local online hours,
 * away devices only after they return, the AWS-style ramp stops at its abort, and the bench's last line has the
 * issue's shape (on a tiny fleet).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simulateAwsRamp } from '../../simulator/aws-ramp';
import {
  DEFAULT_FLEET,
  fleetDevice,
  floorMinutes,
  installEnd,
  installStartMin,
  localHourOf,
} from '../../simulator/time-zone-fleet';

const HORIZON = 10 * 24 * 60;
const devices = Array.from({ length: 3000 }, (_, i) => fleetDevice(DEFAULT_FLEET, 42, i));

describe('time-zone fleet', () => {
  test('offered at once, every install runs within its local 07:00–23:00, and every zone gets devices', () => {
    const zones = new Set<number>();
    for (const device of devices) {
      zones.add(device.zone);
      const start = installStartMin(DEFAULT_FLEET, device, 0, HORIZON);
      expect(start).toBeGreaterThanOrEqual(0);
      const end = start + device.installMin;
      expect(localHourOf(device, start)).toBeGreaterThanOrEqual(7);
      expect(localHourOf(device, start)).toBeLessThan(23);
      // The install ends by 23:00 the same local day.
      expect(Math.floor((start + device.offsetMin) / 1440)).toBe(Math.floor((end - 1 + device.offsetMin) / 1440));
      expect(localHourOf(device, end - 1)).toBeLessThan(23);
    }
    expect(zones.size).toBe(24);
  });

  test('away devices install only after 72 h; the others within their first online day', () => {
    const away = devices.filter((d) => d.away);
    expect(away.length).toBeGreaterThan(40);
    expect(away.length).toBeLessThan(140);
    for (const device of devices) {
      const start = installStartMin(DEFAULT_FLEET, device, 0, HORIZON);
      if (device.away) expect(start).toBeGreaterThanOrEqual(72 * 60);
      // At worst a check just too late for the install (22:4x), then the next morning's first, by 11:00.
      else expect(start).toBeLessThan(17 * 60);
    }
  });

  test('a device checks in at the same times whatever the offer: a later offer never starts it sooner', () => {
    for (const device of devices.slice(0, 300)) {
      const first = installStartMin(DEFAULT_FLEET, device, 0, HORIZON);
      const later = installStartMin(DEFAULT_FLEET, device, first + 1, HORIZON);
      expect(later).toBeGreaterThan(first);
      expect(installStartMin(DEFAULT_FLEET, device, first, HORIZON)).toBe(first);
    }
  });

  test('a worse build fails a superset of the devices a better one fails; the floor needs longer for more', () => {
    for (const device of devices) {
      if (installEnd(DEFAULT_FLEET, device, 0.01) !== 'success') {
        expect(installEnd(DEFAULT_FLEET, device, 0.05)).not.toBe('success');
      }
    }
    const half = floorMinutes(DEFAULT_FLEET, 42, 3000, 0.006, 0.5, HORIZON);
    const most = floorMinutes(DEFAULT_FLEET, 42, 3000, 0.006, 0.95, HORIZON);
    expect(half).toBeGreaterThan(0);
    expect(most).toBeGreaterThan(half);
    // 3 % are away for 72 h: 99 % patched waits for them.
    expect(floorMinutes(DEFAULT_FLEET, 42, 3000, 0.006, 0.99, HORIZON)).toBeGreaterThanOrEqual(72 * 60);
  });
});

describe('AWS-style ramp', () => {
  const ramp = {
    baseRatePerMinute: 2,
    incrementFactor: 2,
    numberOfNotifiedThings: 100,
    maximumPerMinute: 50,
    abortThresholdShare: 0.05,
    minNumberOfExecutedThings: 20,
    inProgressTimeoutMin: 30,
  };
  const installOf = (rate: number) => (index: number, notifiedMin: number) => {
    const device = devices[index]!;
    const startMin = installStartMin(DEFAULT_FLEET, device, notifiedMin, HORIZON);
    return startMin < 0
      ? null
      : { startMin, doneMin: startMin + device.installMin, outcome: installEnd(DEFAULT_FLEET, device, rate) };
  };

  test('a healthy build is never aborted and every device that can start does', () => {
    const run = simulateAwsRamp(ramp, 3000, HORIZON, installOf(0));
    expect(run.abortMin).toBe(-1);
    expect(run.exposed).toBe(3000);
    expect(run.patchedPerMin.reduce((a, b) => a + b, 0)).toBe(3000);
  });

  test('a bad build is aborted once the failed share crosses the threshold; nothing starts after the abort', () => {
    const run = simulateAwsRamp(ramp, 3000, HORIZON, installOf(0.5));
    expect(run.abortMin).toBeGreaterThan(0);
    expect(run.exposed).toBeLessThan(3000);
    const patchedLater = run.patchedPerMin.slice(run.abortMin + 60).reduce((a, b) => a + b, 0);
    expect(patchedLater).toBe(0);
  });
});

describe('bench:exposure output', () => {
  test('the last line has the issue shape, and the table and files are written', () => {
    const out = mkdtempSync(join(tmpdir(), 'bench-exposure-'));
    const root = join(__dirname, '..', '..');
    const stdout = execFileSync(
      join(root, 'node_modules', '.bin', 'tsx'),
      [
        'bench/exposure.ts',
        '--sizes',
        '2000',
        '--summary-class',
        '2000',
        '--good-runs',
        '1',
        '--bad-runs',
        '1',
        '--out',
        out,
      ],
      { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 },
    );
    const lines = stdout.trim().split('\n');
    const last = JSON.parse(lines[lines.length - 1]!) as Record<string, unknown>;
    expect(Object.keys(last)).toEqual([
      'bench',
      'floorHoursTo95',
      'hoursTo95',
      'criticalOverFloor',
      'speedupVsPhased7d',
      'badExposedVsPhased7d',
    ]);
    expect(last.bench).toBe('exposure');
    expect(Object.keys(last.hoursTo95 as object)).toEqual(['critical', 'high', 'phased7d', 'awsExponential']);
    const hours = last.hoursTo95 as Record<string, number>;
    // The floor is a floor: no schedule patches 95 % sooner.
    for (const h of Object.values(hours)) expect(h).toBeGreaterThanOrEqual(last.floorHoursTo95 as number);
    expect(last.speedupVsPhased7d).toBeCloseTo(hours.phased7d! / hours.critical!, 2);
    const runs = lines.map((l) => JSON.parse(l) as { kind?: string }).filter((l) => l.kind === 'run');
    expect(runs).toHaveLength(4 * 3);
    expect(readFileSync(join(out, 'bench-exposure.md'), 'utf8')).toContain('| 2000 | critical |');
    expect(readFileSync(join(out, 'bench-exposure.svg'), 'utf8')).toContain('<svg');
  }, 120_000);
});
