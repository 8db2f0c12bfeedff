import { parse } from 'yaml';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cohortOf } from '../../events/cohort';
import { InstallEventSchema } from '../../events/install-event';
import { FleetModel, type FleetOrder } from '../../simulator/fleet-model';
import { ScenarioSchema, parseScenario, type Scenario } from '../../simulator/scenario';

const scenario: Scenario = ScenarioSchema.parse({
  seed: 7,
  defaults: {
    failureRate: 0.1,
    errorCodes: { E_DISK_FULL: 1, E_NETWORK: 1 },
    silentRate: 0.02,
    duplicateRate: 0.05,
    reorderRate: 0.05,
    rollbackSuccessRate: 0.9,
    checkInDelaySec: { median: 2, max: 8 },
    installDurationSec: { median: 3, max: 10 },
    rollbackDurationSec: { median: 2, max: 6 },
  },
  classes: { 'phone-a': { devices: 2000 }, laptop: { devices: 500, builds: { '2.0': { failureRate: 0.5 } } } },
});

const order = (over: Partial<FleetOrder> = {}): FleetOrder => ({
  kind: 'expose',
  rolloutId: 'r1',
  lane: 'phone-a',
  releaseId: 'rel',
  build: '1.0',
  offerId: 'r1/phone-a/p0/a1',
  attempt: 1,
  cohortBound: 1000,
  ...over,
});

describe('FleetModel', () => {
  it('exposes exactly the devices of the class whose cohort bucket lies below the bound', () => {
    const fleet = new FleetModel(scenario);
    const reports = fleet.apply(order(), 0);
    const devices = new Set(reports.map((r) => r.event.deviceId));
    for (const id of devices) expect(cohortOf(id, 'r1')).toBeLessThan(1000);
    expect(devices.size).toBe(fleet.truthOf('r1')['r1/phone-a/p0/a1']?.reacted);
    expect(devices.size).toBeGreaterThan(150);
    expect(devices.size).toBeLessThan(250);
  });

  it('a rate step of the same offer reaches only the devices between the bound carried out and the new one', () => {
    const fleet = new FleetModel(scenario);
    const first = new Set(fleet.apply(order({ cohortBound: 400 }), 0).map((r) => r.event.deviceId));
    const step = new Set(fleet.apply(order({ cohortBound: 1000 }), 1000).map((r) => r.event.deviceId));
    for (const id of first) expect(cohortOf(id, 'r1')).toBeLessThan(400);
    for (const id of step) {
      expect(cohortOf(id, 'r1')).toBeGreaterThanOrEqual(400);
      expect(cohortOf(id, 'r1')).toBeLessThan(1000);
    }
    expect(fleet.truthOf('r1')['r1/phone-a/p0/a1']?.reacted).toBe(first.size + step.size);
    // A redelivered step reaches nobody.
    expect(fleet.apply(order({ cohortBound: 1000 }), 2000)).toEqual([]);
  });

  it('emits valid install events whose final outcomes match the ground truth', () => {
    const fleet = new FleetModel(scenario);
    const reports = fleet.apply(order(), 0);
    for (const r of reports)
      expect(InstallEventSchema.safeParse({ ...r.event, at: '2026-01-01T00:00:00Z' }).success).toBe(true);
    const finals = new Map<string, string>();
    for (const r of reports)
      if (r.event.type === 'succeeded' || r.event.type === 'failed')
        finals.set(r.event.deviceId, r.event.errorCode ?? 'ok');
    const truth = fleet.truthOf('r1')['r1/phone-a/p0/a1'];
    const failed = [...finals.values()].filter((c) => c !== 'ok').length;
    expect(truth?.succeeded).toBe(finals.size - failed);
    expect(Object.values(truth?.failedByCode ?? {}).reduce((a, b) => a + b, 0)).toBe(failed);
    expect((truth?.succeeded ?? 0) + failed + (truth?.silent ?? 0)).toBe(truth?.reacted);
  });

  it('is deterministic and ignores a redelivered order', () => {
    const a = new FleetModel(scenario).apply(order(), 0);
    const fleet = new FleetModel(scenario);
    const b = fleet.apply(order(), 0);
    expect(b).toEqual(a);
    expect(fleet.apply(order(), 5000)).toEqual([]);
  });

  it('nests phases: a later exposure only reaches devices not yet offered', () => {
    const fleet = new FleetModel(scenario);
    const first = new Set(fleet.apply(order(), 0).map((r) => r.event.deviceId));
    const second = fleet.apply(order({ offerId: 'r1/phone-a/p1/a1', cohortBound: 5000 }), 0);
    for (const r of second) {
      expect(first.has(r.event.deviceId)).toBe(false);
      expect(cohortOf(r.event.deviceId, 'r1')).toBeLessThan(5000);
    }
  });

  it('retries only failed devices, and rolls back only devices that installed', () => {
    const fleet = new FleetModel(scenario);
    fleet.apply(order({ lane: 'laptop', build: '2.0', offerId: 'x' }), 0);
    const t0 = fleet.truthOf('r1').x;
    const failedBefore = Object.values(t0?.failedByCode ?? {}).reduce((a, b) => a + b, 0);
    const retry = fleet.apply(order({ kind: 'retry', lane: 'laptop', build: '2.0', offerId: 'y', attempt: 2 }), 10_000);
    expect(fleet.truthOf('r1').y?.reacted).toBe(failedBefore);
    expect(new Set(retry.map((r) => r.event.attempt))).toEqual(new Set([2]));
    const succeeded = (t0?.succeeded ?? 0) + (fleet.truthOf('r1').y?.succeeded ?? 0);
    const rollback = fleet.apply(order({ kind: 'rollback', lane: 'laptop', build: '2.0', offerId: 'z' }), 20_000);
    expect(fleet.truthOf('r1').z?.reacted).toBe(succeeded);
    expect(new Set(rollback.map((r) => r.event.type))).toEqual(new Set(['rolled-back', 'rollback-failed']));
  });

  it('applies the per-build behaviour: the bad build fails far more often', () => {
    const fleet = new FleetModel(scenario);
    fleet.apply(order({ lane: 'laptop', build: '2.0', offerId: 'bad', cohortBound: 10000 }), 0);
    const t = fleet.truthOf('r1').bad;
    const failed = Object.values(t?.failedByCode ?? {}).reduce((a, b) => a + b, 0);
    expect(failed / (t?.reacted ?? 1)).toBeGreaterThan(0.4);
  });

  it('keeps offers of different rollouts apart (offer ids repeat across rollouts)', () => {
    const fleet = new FleetModel(scenario);
    const a = fleet.apply(order(), 0);
    const b = fleet.apply(order({ rolloutId: 'r2' }), 0);
    expect(b.length).toBeGreaterThan(0);
    expect(fleet.truthOf('r2')['r1/phone-a/p0/a1']?.reacted).toBe(new Set(b.map((r) => r.event.deviceId)).size);
    expect(new Set(a.map((r) => r.event.eventId)).size + new Set(b.map((r) => r.event.eventId)).size).toBe(
      new Set([...a, ...b].map((r) => r.event.eventId)).size,
    );
  });

  it('ignores orders for classes it does not simulate', () => {
    expect(new FleetModel(scenario).apply(order({ lane: 'watch' }), 0)).toEqual([]);
  });
});

describe('parseScenario', () => {
  it('accepts the bundled demo scenario', () => {
    const text = readFileSync(join(__dirname, '../../examples/scenarios/demo.yaml'), 'utf8');
    const parsed = parseScenario(text);
    expect(parsed.ok).toBe(true);
    expect(Object.keys((parse(text) as { classes: object }).classes)).toHaveLength(4);
  });

  it('reports path, value and rule', () => {
    const parsed = parseScenario('seed: -1\ndefaults: {}\nclasses: { "bad class": { devices: 0 } }');
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.errors.map((e) => e.path)).toEqual(expect.arrayContaining(['seed', 'defaults.failureRate']));
    expect(parsed.errors.find((e) => e.path === 'seed')?.value).toBe(-1);
  });

  it('reports YAML syntax errors without throwing', () => {
    const parsed = parseScenario('seed: [1');
    expect(parsed.ok).toBe(false);
  });
});
