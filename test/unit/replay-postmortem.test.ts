// Replay on a synthetic recorded rollout (the engine's deciders driving the fleet model on a simulated clock):
// the re-decided lanes reproduce the log, blast radius and exposure windows, --at, and what-if semantics.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fold } from '../../events/rollout';
import { parsePlan, type RolloutPlan } from '../../events/plan';
import { parseScenario } from '../../simulator/scenario';
import { OutcomeTracker, decodeInstallValue, offersOf } from '../../replay/outcomes';
import { renderHtml } from '../../replay/render-html';
import { renderText } from '../../replay/render-text';
import { buildReport, incidentFacts, type InstallFacts } from '../../replay/postmortem';
import { syntheticRollout, type SyntheticRollout } from '../../bench/synthetic-rollout';
import { whatIfPlanOf } from '../../replay/what-if';
import { testDeviceKeys } from '../support/device-keys';

const root = path.join(__dirname, '..', '..');
const START = Date.parse('2026-11-27T12:00:00Z');

function demoPlan(): RolloutPlan {
  const parsed = parsePlan(readFileSync(path.join(root, 'examples/plans/demo.yaml'), 'utf8'));
  if (!parsed.ok) throw new Error('demo plan invalid');
  return parsed.plan;
}

let plan: RolloutPlan;
let run: SyntheticRollout;
let install: InstallFacts;

beforeAll(() => {
  plan = demoPlan();
  // Small healthy classes, a full-size bad class (laptop-x1 fails 6% of installs of its build 26.3.2).
  const text = readFileSync(path.join(root, 'examples/scenarios/demo.yaml'), 'utf8').replace(
    /(phone-a|phone-b|tablet-c): \{ devices: 25000 \}/g,
    '$1: { devices: 6000 }',
  );
  const scenario = parseScenario(text);
  if (!scenario.ok) throw new Error('scenario invalid');
  run = syntheticRollout({
    rolloutId: 'replay-unit',
    plan,
    scenario: scenario.scenario,
    startMs: START,
    deviceKeys: testDeviceKeys(),
  });
  const tracker = new OutcomeTracker('replay-unit', offersOf(run.events), testDeviceKeys());
  for (const record of run.installs) tracker.add(record);
  install = { changes: tracker.changes, facts: tracker.facts, records: run.installs.length, skipped: tracker.skipped };
});

function whatIf(text: string) {
  const parsed = whatIfPlanOf(plan, text, 'test.yaml');
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return buildReport({
    rolloutId: 'replay-unit',
    events: run.events,
    install,
    whatIf: { plan: parsed.plan, source: 'test.yaml' },
  });
}

describe('replay of a recorded rollout', () => {
  it('re-deciding every lane over its recorded inputs reproduces the log, deltas rebuilt from install events', () => {
    const report = buildReport({ rolloutId: 'replay-unit', events: run.events, install });
    for (const c of report.classes) {
      expect(c.fidelity).toMatchObject({ identical: true, mismatchedDeltas: 0, recordedOnlyDeltas: 0 });
      expect(c.fidelity.rebuiltDeltas).toBeGreaterThan(0);
    }
    expect(report.state).toEqual(fold(run.events));
  });

  it('shows the bad class halting with evidence, its blast radius and the time from first failure to halt', () => {
    const report = buildReport({ rolloutId: 'replay-unit', events: run.events, install });
    const bad = report.classes.find((c) => c.lane === 'laptop-x1')!;
    expect(bad.status).toBe('rolled-back');
    expect(bad.halt?.type).toBe('threshold-breached');
    const breach = bad.decisions.find((d) => d.type === 'threshold-breached')!;
    expect(breach.by).toBe('engine');
    expect(breach.evidence).toMatchObject({ rule: 'sequential', threshold: 0.03 });
    expect(breach.evidence!.failures).toBeGreaterThan(0);
    const o = bad.outcomes!;
    expect(o.blastRadius.installed).toBeGreaterThan(0);
    expect(o.blastRadius.installed).toBeLessThanOrEqual(Math.ceil(25000 * 0.01) + 10);
    expect(o.blastRadius.failed).toBeGreaterThan(0);
    expect(o.firstFailureToHalt!.seconds).toBeGreaterThanOrEqual(0);
    expect(o.exposureWindow.patched50Sec).toBeNull();
    for (const c of report.classes.filter((x) => x.lane !== 'laptop-x1')) {
      expect(c.status).toBe('completed');
      expect(c.halt).toBeNull();
      expect(c.outcomes!.exposureWindow.patched50Sec).not.toBeNull();
      expect(c.outcomes!.exposureWindow.patched95Sec!).toBeGreaterThanOrEqual(c.outcomes!.exposureWindow.patched50Sec!);
      // The demo plan's completion rule: a healthy class completes once 95 % of it (estimated) reported success.
      const w = c.outcomes!.exposureWindow;
      expect(w.patched90Sec!).toBeGreaterThanOrEqual(w.patched50Sec!);
      expect(w.patched95Sec!).toBeGreaterThanOrEqual(w.patched90Sec!);
      if (w.patched99Sec !== null) expect(w.patched99Sec).toBeGreaterThanOrEqual(w.patched95Sec!);
      expect(c.completion).toMatchObject({ endedBy: 'patched-share', sizeSource: 'estimate' });
      expect(c.completion!.patchedShare).toBeGreaterThanOrEqual(0.95);
      expect(Math.abs(c.completion!.classSize - 6000) / 6000).toBeLessThan(0.05);
    }
    expect(bad.completion).toBeNull();
  });

  it('leads with what went wrong: the halted class summed up first, in JSON, text and HTML alike', () => {
    const report = buildReport({ rolloutId: 'replay-unit', events: run.events, install });
    // JSON: `incidents` is the first field, and the halted class comes first among the classes (plan order: last).
    expect(Object.keys(report)[0]).toBe('incidents');
    expect(plan.deviceClasses.at(-1)).toBe('laptop-x1');
    expect(report.classes.map((c) => c.lane)).toEqual(['laptop-x1', 'phone-a', 'phone-b', 'tablet-c']);
    const bad = report.classes[0]!;
    expect(report.incidents).toHaveLength(1);
    const incident = report.incidents[0]!;
    expect(incident).toMatchObject({
      lane: 'laptop-x1',
      build: '26.3.2',
      status: 'rolled-back',
      halt: { type: 'threshold-breached', at: bad.halt!.at, seq: bad.halt!.seq, by: 'engine' },
      breach: { rule: 'sequential', criterion: 'boot-loop', codes: ['E_BOOT_LOOP'], threshold: 0.005, phase: 0 },
      firstFailureToHaltSec: bad.outcomes!.firstFailureToHalt!.seconds,
      rollback: { state: 'finished' },
    });
    // The failures the judge saw are the boot loops that fired the criterion.
    const breach = incident.breach;
    if (breach === null || 'regression' in breach) throw new Error('expected an install breach');
    expect(breach.failedByCode.E_BOOT_LOOP).toBe(breach.failures);
    expect(incident.devices.beforeHalt).toBe(bad.outcomes!.blastRadius.installed);
    expect(incident.devices.devices).toBeGreaterThanOrEqual(incident.devices.beforeHalt!);
    expect(incident.devices.failed).toBeGreaterThan(0);
    expect(incident.rollback!.rolledBack).toBeGreaterThan(0);

    const text = renderText(report);
    const order = ['WHAT WENT WRONG: 1 class halted', '■ laptop-x1', '■ phone-a', '■ tablet-c'].map((x) =>
      text.indexOf(x),
    );
    expect(order.every((i) => i >= 0)).toBe(true);
    expect(order).toEqual([...order].sort((a, b) => a - b));
    expect(text).toContain('what failed:');
    expect(text).toMatch(/criterion boot-loop \(codes E_BOOT_LOOP\), sequential rule: \d+ of \d+/);
    expect(text).toMatch(/rollback: +finished: \d+ devices rolled back/);

    const html = renderHtml(report);
    const htmlOrder = ['class="incidents"', 'id="lane-laptop-x1"', 'id="lane-phone-a"', 'id="lane-tablet-c"'].map((x) =>
      html.indexOf(x),
    );
    expect(htmlOrder.every((i) => i >= 0)).toBe(true);
    expect(htmlOrder).toEqual([...htmlOrder].sort((a, b) => a - b));
    expect(html).toContain('What went wrong: 1 class halted');
  });

  it('says so when no class was halted, keeps the plan order, and marks what it cannot know without install events', () => {
    const early = buildReport({
      rolloutId: 'replay-unit',
      events: run.events,
      at: new Date(START + 2_000).toISOString(),
    });
    expect(early.incidents).toEqual([]);
    expect(early.classes.map((c) => c.lane)).toEqual(plan.deviceClasses);
    expect(renderText(early)).toContain('WHAT WENT WRONG: no class was halted');
    expect(renderHtml(early)).toContain('No class was halted.');

    const bare = buildReport({ rolloutId: 'replay-unit', events: run.events });
    expect(bare.incidents[0]).toMatchObject({ firstFailureToHaltSec: null, devices: { beforeHalt: null } });
    expect(renderText(bare)).toMatch(/first failing report → halt: +not known \(install events not read\)/);
  });

  it('sums up a class halted without a breach by who halted it and why', () => {
    const facts = Object.fromEntries(
      incidentFacts({
        lane: 'phone-a',
        build: '26.3.1',
        status: 'paused',
        halt: { at: '2026-11-27T12:00:10.000Z', type: 'lane-paused', seq: 9, by: 'sre-ana', why: 'store outage' },
        breach: null,
        devices: { devices: 120, failed: 1, timedOut: 0, beforeHalt: 118 },
        firstFailureToHaltSec: null,
        rollback: null,
      }),
    );
    expect(facts).toEqual({
      'what failed': 'no breach: halted by sre-ana (store outage)',
      when: 'halted 2026-11-27T12:00:10.000Z (lane-paused)',
      devices: '120 got build 26.3.1 (1 failed); 118 installed it before the halt',
      'first failing report → halt': 'no failing report before the halt',
      rollback: 'none started',
    });
  });

  it('counts no overlapping delta on a log without one', () => {
    const report = buildReport({ rolloutId: 'replay-unit', events: run.events, install });
    expect(report.classes.map((c) => c.overlappingDeltas)).toEqual(report.classes.map(() => 0));
    expect(renderText(report)).not.toContain('OVERLAP');
  });

  it('a delta that counted offsets twice is counted, shown in the timeline and named in every rendering', () => {
    const i = run.events.findIndex((e) => e.type === 'health-evaluated' && e.lane === 'phone-a');
    const recorded = run.events[i];
    if (recorded?.type !== 'health-evaluated') throw new Error('no health-evaluated for phone-a');
    const range = recorded.data.delta.ranges[0]!;
    const overlapping = {
      ...recorded,
      data: {
        ...recorded.data,
        overlap: [{ partition: range.partition, fromOffset: range.fromOffset, mark: range.fromOffset }],
      },
    };
    const events = run.events.map((e, j) => (j === i ? overlapping : e));
    const report = buildReport({ rolloutId: 'replay-unit', events, install });
    const phoneA = report.classes.find((c) => c.lane === 'phone-a')!;
    expect(phoneA.overlappingDeltas).toBe(1);
    expect(report.classes.filter((c) => c.lane !== 'phone-a').every((c) => c.overlappingDeltas === 0)).toBe(true);
    const shown = phoneA.decisions.find((d) => d.seq === recorded.seq);
    expect(shown?.what).toContain(
      `OVERLAP: counted before and again (partition ${range.partition} offsets ${range.fromOffset}-${range.fromOffset})`,
    );
    expect(renderText(report)).toContain("WARNING: 1 health delta overlapped the lane's high-water marks");
    expect(renderHtml(report)).toContain('overlapping deltas');
  });

  it('--at folds the log up to that time', () => {
    // A second into phone-a's phase 1 (the demo plan's phases bake at least 10 s).
    const phase1 = run.events.find((e) => e.lane === 'phone-a' && e.type === 'phase-started' && e.data.phase === 1)!;
    const atMs = Date.parse(phase1.at) + 1000;
    const at = new Date(atMs).toISOString();
    const report = buildReport({ rolloutId: 'replay-unit', events: run.events, install, at });
    expect(report.state).toEqual(fold(run.events.filter((e) => Date.parse(e.at) <= atMs)));
    expect(report.classes.find((c) => c.lane === 'phone-a')!.phase).toBe(1);
  });

  it('what-if with the recorded plan reports no difference', () => {
    const report = whatIf('thresholds: { maxFailureRate: 0.05 }');
    expect(report.whatIf!.differs).toBe(false);
    expect(renderText(report)).toContain('no difference');
  });

  it('what-if with a stricter threshold halts earlier and exposes fewer devices (really exposed ones only)', () => {
    const report = whatIf(
      'classes: { laptop-x1: { thresholds: { rule: plain, minSample: 1, maxFailureRate: 0.001 } } }',
    );
    const bad = report.whatIf!.classes.find((c) => c.lane === 'laptop-x1')!;
    expect(bad.differs).toBe(true);
    expect(bad.haltEarlierSec!).toBeGreaterThan(0);
    expect(bad.fewerExposed).toBeGreaterThan(0);
    expect(bad.whatIf.exposed).toBeLessThan(bad.baseline.exposed);
    expect(renderText(report)).toContain('exposure counts only exposures that really happened');
  });

  it('what-if that would not halt cannot invent exposure the recorded run never made', () => {
    const report = whatIf(
      'classes: { laptop-x1: { thresholds: { rule: plain, maxFailureRate: 0.5, errorCodes: { criteria: [] } } } }',
    );
    const bad = report.whatIf!.classes.find((c) => c.lane === 'laptop-x1')!;
    expect(bad.whatIf.haltAt).toBeNull();
    const really = install.facts.get('laptop-x1')!.size;
    expect(bad.whatIf.exposed).toBe(really);
    expect(bad.droppedDeltas).toBeGreaterThan(0);
  });

  it('renders a self-contained HTML report with charts, threshold lines and decision markers', () => {
    const html = renderHtml(
      whatIf('classes: { laptop-x1: { thresholds: { rule: plain, minSample: 1, maxFailureRate: 0.001 } } }'),
    );
    expect(html).not.toMatch(/<script|<link|https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
    expect(html.match(/<svg/g)!.length).toBe(2 * plan.deviceClasses.length);
    expect(html).toMatch(/class="series exposure" d="M[\d.]+,[\d.]+L/);
    expect(html).toMatch(/class="threshold"/);
    expect(html).toMatch(/data-type="threshold-breached"/);
    expect(html).toMatch(/data-type="what-if-halt"/);
  });
});

describe('what-if files', () => {
  it('reads a bare thresholds object, overrides, and a full plan; a bad file gets path and rule', () => {
    const bare = whatIfPlanOf(demoPlan(), 'maxFailureRate: 0.01');
    expect(bare.ok && bare.plan.thresholds.maxFailureRate).toBe(0.01);
    const policy = whatIfPlanOf(demoPlan(), 'breachPolicy: { action: pause }');
    expect(policy.ok && policy.plan.breachPolicy).toEqual({ action: 'pause' });
    const cls = whatIfPlanOf(demoPlan(), 'classes: { laptop-x1: { thresholds: { minSample: 10 } } }');
    expect(cls.ok && cls.plan.classes['laptop-x1']?.thresholds).toEqual({ maxFailureRate: 0.03, minSample: 10 });
    const full = whatIfPlanOf(demoPlan(), readFileSync(path.join(root, 'examples/plans/demo.yaml'), 'utf8'));
    expect(full.ok && full.plan.releaseId).toBe('bsi-26.3-demo');
    const bad = whatIfPlanOf(demoPlan(), 'thresholds: { maxFailureRate: 2 }');
    expect(bad.ok).toBe(false);
    expect(!bad.ok && bad.errors[0]!.path).toBe('thresholds.maxFailureRate');
  });
});

describe('install-event decoding', () => {
  it('reads device reports and timeout markers, and skips anything else', () => {
    const report = decodeInstallValue(JSON.stringify(JSON.parse(run.installs[0]!.value)));
    expect(report?.kind).toBe('report');
    const marker = decodeInstallValue(
      JSON.stringify({ kind: 'install-timeout', v: 1, rolloutId: 'r', offerId: 'o', deviceKey: '00', attempt: 1 }),
    );
    expect(marker?.kind).toBe('timeout');
    expect(decodeInstallValue('not json')).toBeNull();
    expect(decodeInstallValue(JSON.stringify({ hello: 1 }))).toBeNull();
    expect(decodeInstallValue(null)).toBeNull();
  });
});
