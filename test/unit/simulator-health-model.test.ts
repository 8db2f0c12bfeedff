// The simulated fleet's post-install health as a specification: valid version-2 reports from every device every
// period, in period order per device whatever the delays; the offer named only for whole periods on the build; a
// regression that raises one class's rate on one build some hours after install; a spike that raises everyone's.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HealthReportSchema, type HealthReport } from '../../events/health-report';
import { FleetModel, type FleetOrder } from '../../simulator/fleet-model';
import { HealthModel, drawPoisson } from '../../simulator/health-model';
import { mulberry32 } from '../../simulator/prng';
import { ScenarioSchema, parseScenario, type ScenarioInput } from '../../simulator/scenario';

const input: ScenarioInput = {
  seed: 11,
  defaults: {
    failureRate: 0,
    errorCodes: { E_DISK_FULL: 1 },
    silentRate: 0,
    duplicateRate: 0,
    reorderRate: 0,
    rollbackSuccessRate: 1,
    checkInDelaySec: { median: 0.05, max: 0.1 },
    installDurationSec: { median: 0.05, max: 0.1 },
    rollbackDurationSec: { median: 0.05, max: 0.1 },
  },
  classes: { 'phone-a': { devices: 400, osVersion: '1.0' }, laptop: { devices: 400, osVersion: '1.0' } },
  health: {
    periodSec: 1,
    timeScale: 3600, // a second stands for an hour
    uptimeShare: 0.9,
    rates: { 'app-crash': 2, 'kernel-panic': 0.1 },
    reportDelaySec: { median: 0.3, max: 2 },
    offlineRate: 0.05,
    regressions: [{ class: 'laptop', build: '2.0', signal: 'app-crash', factor: 3, afterHours: 2 }],
    spikes: [{ signal: 'app-crash', factor: 4, fromHours: 10, toHours: 12 }],
  },
};
const scenario = ScenarioSchema.parse(input);

const order = (lane: string): FleetOrder => ({
  kind: 'expose',
  rolloutId: 'r1',
  lane,
  releaseId: 'rel',
  build: '2.0',
  offerId: `r1/${lane}/1`,
  attempt: 1,
  cohortBound: 10_000,
});

/** Runs 20 simulated hours: both classes get build 2.0 at once; returns the reports with `at` stamped. */
function run(): { reports: HealthReport[]; fleet: FleetModel; health: HealthModel } {
  const fleet = new FleetModel(scenario);
  const health = new HealthModel(scenario, fleet);
  const start = 1_800_000_000_000;
  health.due(start);
  fleet.apply(order('laptop'), start);
  fleet.apply(order('phone-a'), start);
  const reports = health.due(start + 20_000).map((r) => ({ ...r.event, at: new Date(r.dueMs).toISOString() }));
  return { reports, fleet, health };
}

/** The simulated hour of the period's middle (what spikes are timed by). */
const hourOf = (r: HealthReport) => (Date.parse(r.periodStart) + 500 - 1_800_000_000_000) / 1000;
function rate(reports: HealthReport[]): number {
  const events = reports.reduce((n, r) => n + (r.counts['app-crash'] ?? 0), 0);
  const hours = reports.reduce((n, r) => n + r.uptimeSec, 0); // uptime seconds stand for hours here
  return events / hours;
}

describe('HealthModel', () => {
  const { reports, health } = run();

  it('sends valid version-2 health reports from every device each period, in period order per device', () => {
    expect(reports.length).toBeGreaterThanOrEqual(800 * 19);
    for (const r of reports) expect(HealthReportSchema.safeParse(r).success).toBe(true);
    const byDevice = new Map<string, HealthReport[]>();
    for (const r of reports) {
      const own = byDevice.get(r.deviceId) ?? [];
      own.push(r);
      byDevice.set(r.deviceId, own);
    }
    expect(byDevice.size).toBe(800);
    for (const own of byDevice.values()) {
      for (let i = 1; i < own.length; i++) {
        expect(own[i]!.periodStart).toBe(own[i - 1]!.periodEnd);
        expect(Date.parse(own[i]!.at)).toBeGreaterThan(Date.parse(own[i - 1]!.at));
      }
    }
    // Some reports were held back by an offline device for more than a period.
    expect(reports.some((r) => Date.parse(r.at) - Date.parse(r.periodEnd) > 1000)).toBe(true);
  });

  it('names the offer only for periods wholly on the build', () => {
    const { fleet } = run();
    let before = 0;
    for (const r of reports) {
      const installed = fleet.runningBuild(r.deviceClass, Number(r.deviceId.split('-').pop()))!.fromMs;
      if (r.offerId !== undefined) expect(Date.parse(r.periodStart)).toBeGreaterThanOrEqual(installed);
      else {
        expect(Date.parse(r.periodStart)).toBeLessThan(installed);
        before++;
      }
    }
    expect(before).toBeGreaterThan(0);
    const later = reports.filter((r) => hourOf(r) >= 2);
    expect(later.every((r) => r.offerId === `r1/${r.deviceClass}/1` && r.build === '2.0')).toBe(true);
  });

  it('triples the app-crash rate of laptop on build 2.0 from 2 hours after install on, and nowhere else', () => {
    const window = (cls: string, from: number, to: number) =>
      reports.filter((r) => r.deviceClass === cls && hourOf(r) >= from && hourOf(r) < to);
    const ratio = rate(window('laptop', 4, 10)) / rate(window('phone-a', 4, 10));
    expect(ratio).toBeGreaterThan(2.6);
    expect(ratio).toBeLessThan(3.4);
    expect(rate(window('phone-a', 4, 10))).toBeGreaterThan(1.7);
    expect(rate(window('phone-a', 4, 10))).toBeLessThan(2.3);
    const truth = health.truth();
    expect(truth.regressions[0]?.devices).toBe(400);
    expect(Object.keys(truth.classes.laptop!.onOffer)).toEqual(['r1/r1/laptop/1']);
  });

  it('raises every device by the spike while it lasts, updated or not', () => {
    const spike = (cls: string) => reports.filter((r) => r.deviceClass === cls && hourOf(r) >= 10 && hourOf(r) < 12);
    const before = (cls: string) => reports.filter((r) => r.deviceClass === cls && hourOf(r) >= 5 && hourOf(r) < 9);
    for (const cls of ['phone-a', 'laptop']) {
      const ratio = rate(spike(cls)) / rate(before(cls));
      expect(ratio).toBeGreaterThan(3.3);
      expect(ratio).toBeLessThan(4.8);
    }
    expect(health.truth().spikes[0]?.reports).toBeGreaterThan(0);
  });

  it('is a function of the scenario, the orders and the clock', () => {
    expect(run().reports).toEqual(reports);
  });

  it('keeps the truth per class and build equal to what was reported', () => {
    const truth = health.truth();
    const onOffer = reports.filter((r) => r.deviceClass === 'laptop' && r.offerId !== undefined);
    const sums = truth.classes.laptop!.onOffer['r1/r1/laptop/1']!;
    expect(sums.reports).toBe(onOffer.length);
    expect(sums.events['app-crash']).toBe(onOffer.reduce((n, r) => n + (r.counts['app-crash'] ?? 0), 0));
  });
});

test('drawPoisson has the mean it is given, small or large', () => {
  const random = mulberry32(3);
  for (const mean of [0.2, 4, 200]) {
    let sum = 0;
    for (let i = 0; i < 20_000; i++) sum += drawPoisson(mean, random);
    expect(sum / 20_000).toBeGreaterThan(mean * 0.97);
    expect(sum / 20_000).toBeLessThan(mean * 1.03);
  }
});

test('a scenario health section is validated with paths', () => {
  const bad = {
    ...input,
    health: {
      ...input.health,
      regressions: [{ class: 'tablet', build: '2.0', signal: 'kernel-oops', factor: 3 }],
      spikes: [{ signal: 'app-crash', factor: 2, fromHours: 3, toHours: 1 }],
    },
  };
  const parsed = parseScenario(JSON.stringify(bad));
  expect(parsed.ok).toBe(false);
  if (parsed.ok) return;
  expect(parsed.errors.map((e) => e.path)).toEqual(
    expect.arrayContaining(['health.regressions.0.signal', 'health.spikes.0.toHours']),
  );
  const unknownClass = parseScenario(
    JSON.stringify({
      ...input,
      health: { ...input.health, regressions: [{ class: 'tablet', build: '2', signal: 'app-crash', factor: 2 }] },
    }),
  );
  expect(unknownClass.ok ? [] : unknownClass.errors.map((e) => `${e.path}: ${e.rule}`)).toEqual([
    'health.regressions.0.class: not a class of the scenario (phone-a, laptop)',
  ]);
});

test('the bundled regression scenario parses, with its regression and spike', () => {
  const text = readFileSync(join(__dirname, '../../examples/scenarios/regression.yaml'), 'utf8');
  const parsed = parseScenario(text);
  expect(parsed.ok && parsed.scenario.health?.regressions).toEqual([
    { class: 'laptop-x1', build: '26.3.2', signal: 'app-crash', factor: 3, afterHours: 0.5 },
  ]);
  expect(parsed.ok && parsed.scenario.health?.spikes.length).toBe(1);
});
