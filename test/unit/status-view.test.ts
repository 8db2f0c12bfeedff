// `rollout status` and the event log: event ids met with two contents are a warning on stderr, worded as
// `rollout events` words them, and a `conflicts` field in --json (null, with the reason, when the log was not read).
// And a status that does not mislead: lanes folded by the real decider show the window their rate judges beside the
// class total, a completed class its total, and a rolled-back or breach-paused class the breach that halted it.
import { laneStatusView, type RolloutStatusView } from '../../client';
import {
  laneCells,
  logCheckLines,
  MAX_CONFLICTS_SHOWN,
  renderStatus,
  statusJson,
  waitingText,
  type LogCheck,
} from '../../cli/status-view';
import { isRefusal, type LaneInput } from '../../events/commands';
import type { WaitingFor } from '../../events/domain-events';
import { exposureOfferId, initialLaneState, LaneStateSchema, rollbackOfferId, stepLane } from '../../events/lane';
import type { BreachPolicy, LaneConfig } from '../../events/plan';
import { conflictWarning, DuplicateChecker, type EventConflict } from '../../replay/event-conflicts';
import { testLaneConfig } from '../support/lane-config';

const view: RolloutStatusView = {
  rolloutId: 'r-1',
  codeVersion: 'bsi-rollout.0.1.0-0123456789ab',
  releaseId: 'bsi-26.3',
  status: 'running',
  startedAt: '2026-11-27T12:00:00.000Z',
  updatedAt: '2026-11-27T12:00:05.000Z',
  halts: 0,
  breachedLanes: [],
  lanes: [],
};

/** A conflict as the log reader reports it: one id read twice, with different contents. */
function conflictOf(seq: number): EventConflict {
  const checker = new DuplicateChecker();
  const event = (command: string) => ({ eventId: `r-1/phone-a/${seq}`, data: { command } });
  checker.admit(`r-1/phone-a/${seq}`, event('pause'), { partition: 2, offset: '10' });
  checker.admit(`r-1/phone-a/${seq}`, event('resume'), { partition: 2, offset: '41' });
  const [conflict] = checker.conflicts;
  if (conflict === undefined) throw new Error('no conflict');
  return conflict;
}

describe('status --json', () => {
  it('carries the conflicts found in the log, next to the view as it was', () => {
    const conflict = conflictOf(7);
    const out = JSON.parse(statusJson(view, { state: 'checked', conflicts: [conflict] })) as Record<string, unknown>;
    expect(out).toEqual({ ...view, conflicts: [conflict] });
    expect(out.conflicts).toEqual([
      {
        eventId: 'r-1/phone-a/7',
        first: { partition: 2, offset: '10' },
        second: { partition: 2, offset: '41' },
        diff: ['data.command: "pause" → "resume"'],
      },
    ]);
  });

  it('says conflicts: [] for a consistent log, and null with the reason when the log was not read', () => {
    expect(JSON.parse(statusJson(view, { state: 'checked', conflicts: [] }))).toMatchObject({ conflicts: [] });
    expect(JSON.parse(statusJson(view, { state: 'failed', reason: 'Kafka at 127.0.0.1:1 does not answer' }))).toEqual({
      ...view,
      conflicts: null,
      conflictsUnchecked: 'Kafka at 127.0.0.1:1 does not answer',
    });
    expect(JSON.parse(statusJson(view, { state: 'skipped' }))).toMatchObject({
      conflicts: null,
      conflictsUnchecked: 'skipped (--no-log-check)',
    });
  });
});

describe('status for a person', () => {
  it('warns once per conflict on stderr, in the words of `rollout events`, after a summary', () => {
    const conflict = conflictOf(7);
    const lines = logCheckLines({ state: 'checked', conflicts: [conflict] }, 'r-1');
    expect(lines).toEqual([
      expect.stringMatching(/^rollout: warning: 1 event id\(s\) of rollout r-1 appear with two contents/),
      'rollout: warning: event r-1/phone-a/7 appears with two contents (partition 2 offset 10 was read first; ' +
        'partition 2 offset 41 differs: data.command: "pause" → "resume")',
    ]);
    expect(lines[0]).toContain('rollout replay r-1 --check-determinism');
    expect(conflictWarning(conflict, 'is shown')).toContain('(partition 2 offset 10 is shown; partition 2 offset 41');
    // The table itself is the workflows' state, unchanged.
    expect(renderStatus(view, Date.parse(view.updatedAt!))).not.toContain('warning');
  });

  it('lists at most a few conflicts and counts the rest', () => {
    const conflicts = Array.from({ length: MAX_CONFLICTS_SHOWN + 3 }, (_, i) => conflictOf(i));
    const lines = logCheckLines({ state: 'checked', conflicts }, 'r-1');
    expect(lines).toHaveLength(1 + MAX_CONFLICTS_SHOWN + 1);
    expect(lines[0]).toContain(`${MAX_CONFLICTS_SHOWN + 3} event id(s)`);
    expect(lines[lines.length - 1]).toBe('rollout: warning: … and 3 more (`rollout events r-1` lists them all)');
  });

  it('says nothing for a consistent log or a skipped check, and notes a log it could not read', () => {
    const quiet: LogCheck[] = [{ state: 'checked', conflicts: [] }, { state: 'skipped' }];
    for (const check of quiet) expect(logCheckLines(check, 'r-1')).toEqual([]);
    expect(logCheckLines({ state: 'failed', reason: 'no answer within 15 s' }, 'r-1')).toEqual([
      'rollout: note: the event log was not checked for event ids with two contents: no answer within 15 s',
    ]);
  });
});

const T0 = Date.parse('2026-03-01T00:00:00Z');
const at = (sec: number): string => new Date(T0 + sec * 1000).toISOString();
const LANE = 'laptop-x1';
const offer = (phase: number, attempt = 1) => exposureOfferId(LANE, phase, attempt);

/** Two phases (10% bake 60 s, 100% bake 0), plain rule: at most 5% failures after 10 outcomes. */
function config(breachPolicy: BreachPolicy): LaneConfig {
  const base = testLaneConfig();
  return testLaneConfig({
    deviceClass: LANE,
    artifact: { build: '26.3.2' },
    phases: [
      { share: 10, cohortBound: 1000, bakeSec: 60, approval: 'none' },
      { share: 100, cohortBound: 10000, bakeSec: 0, approval: 'none' },
    ],
    thresholds: { ...base.thresholds, maxFailureRate: 0.05, errorCodes: { ignore: ['E_LOW_BATTERY'], criteria: [] } },
    breachPolicy,
  });
}

let offset = 0;
const delta = (offerId: string, ok: number, failedByCode: Record<string, number>, t: number): LaneInput => {
  offset += 10;
  return {
    type: 'health-delta',
    lane: LANE,
    offerId,
    delta: {
      counts: { succeeded: ok, failedByCode, timedOut: 0, inProgress: 0 },
      ranges: [{ partition: 0, fromOffset: String(offset - 9), toOffset: String(offset) }],
    },
    at: at(t),
  };
};
const timer = (kind: 'bake' | 'retry-backoff' | 'rollback', t: number): LaneInput => ({
  type: 'timer-fired',
  lane: LANE,
  kind,
  at: at(t),
});

/** The state of a lane driven through the real decider by `inputs` (after its start). */
function laneStateAfter(breachPolicy: BreachPolicy, ...inputs: LaneInput[]) {
  const start: LaneInput = {
    type: 'start-lane',
    rolloutId: 'r-1',
    lane: LANE,
    config: config(breachPolicy),
    at: at(0),
  };
  let state = initialLaneState();
  for (const next of [start, ...inputs]) {
    const step = stepLane(state, next);
    if (isRefusal(step)) throw new Error(`refused ${next.type}: ${step.reason}`);
    state = step.state;
  }
  return state;
}

/** The status view of such a lane. */
const laneAfter = (breachPolicy: BreachPolicy, ...inputs: LaneInput[]) =>
  laneStatusView(laneStateAfter(breachPolicy, ...inputs));

describe('status of a class that finished or halted', () => {
  it('a class completed after a retry shows its total, not the healthy retry window alone', () => {
    // Attempt 1 of phase 1 breaches (8 of 20 failed), the retry passes both phases cleanly: 8 of 20 + 2 of 200 failed.
    const lane = laneAfter(
      { action: 'retry', attempts: 1, backoff: 5, then: 'pause' },
      delta(offer(0), 12, { E_INSTALL: 8 }, 10),
      timer('retry-backoff', 15),
      delta(offer(0, 2), 100, { E_INSTALL: 1, E_LOW_BATTERY: 7 }, 30),
      timer('bake', 75),
      delta(offer(1, 2), 98, { E_INSTALL: 1 }, 80),
      timer('bake', 81),
    );
    expect(lane.status).toBe('completed');
    // Ignored codes are out of the rate, as the judge counts: 10 failures of 20 + 101 + 99 final outcomes.
    expect(lane.totalFailureRate).toBeCloseTo(10 / 220, 10);
    expect(lane.windowLabel).toBe('phase 2, attempt 2');
    expect(lane.failureRate).toBeCloseTo(2 / 200, 10);
    const cells = laneCells(lane, T0);
    expect(cells.rate).toBe('4.55% total / 5.00%');
    expect(cells.verdict).toBe('healthy');
    expect(lane.lastBreach).toMatchObject({ at: at(10), phase: 0, failureRate: 0.4, maxFailureRate: 0.05 });
  });

  it('a class rolled back after a breach shows the breach and its evidence, not the rollback window\'s "healthy"', () => {
    const lane = laneAfter(
      { action: 'rollback' },
      delta(offer(0), 30, {}, 10),
      delta(offer(0), 5, { E_BOOT_LOOP: 15 }, 20),
      delta(rollbackOfferId(LANE, 1), 50, {}, 40),
      timer('rollback', 140),
    );
    expect(lane.status).toBe('rolled-back');
    expect(lane.verdict).toBe('healthy');
    expect(lane.windowLabel).toBe('rollback');
    expect(lane.lastBreach).toEqual({
      at: at(20),
      phase: 0,
      failureRate: 15 / 50,
      maxFailureRate: 0.05,
      explanation: expect.stringContaining('15 of 50 failed (30%)'),
    });
    const cells = laneCells(lane, T0);
    expect(cells.verdict).toBe('breach (phase 1: 30.00% > 5.00%)');
    expect(cells.rate).toBe('0.00% (rollback) · 30.00% total / 5.00%');
    const table = renderStatus({ ...view, status: 'completed', lanes: [lane] }, T0);
    expect(table).toContain('FAIL RATE (WINDOW) · CLASS TOTAL / MAX');
    expect(table).toContain(`  BREACH ${LANE} at ${at(20)}, phase 1: 15 of 50 failed (30%)`);
    expect(table).not.toMatch(/\bhealthy\b/);
  });

  it('a class paused by a breach keeps showing the breach when late outcomes make its window look healthy', () => {
    const lane = laneAfter(
      { action: 'pause' },
      delta(offer(0), 10, { E_INSTALL: 3 }, 10),
      // Late reports of the paused window: 3 of 113 failed, the window's own verdict turns healthy.
      delta(offer(0), 100, {}, 30),
    );
    expect(lane.status).toBe('paused');
    expect(lane.pausedBy).toBe('breach');
    expect(lane.verdict).toBe('healthy');
    const cells = laneCells(lane, T0);
    expect(cells.verdict).toBe('breach (phase 1: 23.08% > 5.00%)');
    expect(cells.rate).toBe('2.65% (phase 1) · 2.65% total / 5.00%');
    expect(renderStatus({ ...view, lanes: [lane] }, T0)).toContain(`BREACH ${LANE} at ${at(10)}, phase 1: 3 of 13`);
  });

  it('a running class names its window; before the first phase there is no rate and no breach', () => {
    const running = laneAfter({ action: 'pause' }, delta(offer(0), 49, { E_INSTALL: 1 }, 10));
    expect(running.windowLabel).toBe('phase 1, attempt 1');
    expect(laneCells(running, T0)).toMatchObject({ rate: '2.00% (phase 1) · 2.00% total / 5.00%', verdict: 'healthy' });
    const pending = laneStatusView(initialLaneState('r-1', LANE));
    expect(pending).toMatchObject({ windowLabel: 'before the first phase', totalFailureRate: null, lastBreach: null });
    expect(laneCells(pending, T0)).toMatchObject({ rate: '- · - total / -', verdict: '-' });
  });

  it('--json carries the new fields beside every field it had', () => {
    const lane = laneAfter({ action: 'pause' }, delta(offer(0), 10, { E_INSTALL: 3 }, 10));
    const out = JSON.parse(statusJson({ ...view, lanes: [lane] }, { state: 'skipped' })) as RolloutStatusView;
    expect(out.lanes[0]).toMatchObject({
      counts: lane.counts,
      total: lane.total,
      failureRate: lane.failureRate,
      verdict: 'breach',
      totalFailureRate: 3 / 13,
      windowLabel: 'phase 1, attempt 1',
      lastBreach: { at: at(10), phase: 0, maxFailureRate: 0.05 },
    });
  });

  it('a lane state carried from before `lastBreach` still parses, and shows no breach evidence', () => {
    const state = laneStateAfter({ action: 'pause' }, delta(offer(0), 10, { E_INSTALL: 3 }, 10));
    expect(state.lastBreach).toBeDefined();
    const { lastBreach: _dropped, ...older } = state;
    const parsed = LaneStateSchema.parse(older);
    const shown = laneStatusView(parsed);
    expect(shown.lastBreach).toBeNull();
    expect(laneCells(shown, T0).verdict).toBe('breach');
  });
});

describe('what a baking class waits for', () => {
  const at = (s: number) => new Date(Date.UTC(2026, 11, 1, 0, 0, s)).toISOString();
  const lane = (waitingFor: WaitingFor) => ({ waitingFor, pausedBy: null, status: 'running' as const });
  it('a plain bake counts down to its end', () => {
    expect(waitingText(lane({ kind: 'bake', phase: 0, until: at(90) }), Date.parse(at(0)))).toBe('bake 1m30s');
  });
  it('a { min, max } bake names its minimum, then that proof or the maximum ends it', () => {
    const during = lane({ kind: 'bake', phase: 0, until: at(60), minUntil: at(60), maxUntil: at(600) });
    expect(waitingText(during, Date.parse(at(0)))).toBe('min bake 1m0s (max 10m0s)');
    const after = lane({ kind: 'bake', phase: 0, until: at(600), minUntil: at(60) });
    expect(waitingText(after, Date.parse(at(100)))).toBe('proof, or bake 8m20s');
  });
});

describe('status of a class that patches after its last phase (completion rule)', () => {
  /** The same two phases with a completion rule: 95 % of 1,000 devices, deadline 1 h, stalled after 10 min. */
  function patchingState(...inputs: LaneInput[]) {
    const start: LaneInput = {
      type: 'start-lane',
      rolloutId: 'r-1',
      lane: LANE,
      config: {
        ...config({ action: 'pause' }),
        completion: { patchedShare: 0.95, deadlineSec: 3600, stallAfterSec: 600, expectedDevices: 1000 },
      },
      at: at(0),
    };
    let state = initialLaneState();
    for (const next of [start, ...inputs]) {
      const step = stepLane(state, next);
      if (isRefusal(step)) throw new Error(`refused ${next.type}: ${step.reason}`);
      state = step.state;
    }
    return state;
  }
  const stall: LaneInput = { type: 'timer-fired', lane: LANE, kind: 'stall', at: at(900) };

  it('shows the patched share against its target, the estimate of when it is reached and the times to 50/90 %', () => {
    const lane = laneStatusView(
      patchingState(
        delta(offer(0), 100, {}, 10),
        timer('bake', 60),
        timer('bake', 60),
        delta(offer(1), 500, {}, 70),
        delta(offer(1), 200, {}, 400),
        delta(offer(1), 100, {}, 700),
      ),
    );
    expect(lane.status).toBe('running');
    expect(lane.waitingFor).toMatchObject({ kind: 'patching', patchedShare: 0.95 });
    // 900 of 1,000; checkpoints at 400 s (800) and 700 s: 100 in 300 s, so the 50 missing take 150 s more.
    expect(lane.patched).toEqual({
      succeeded: 900,
      classSize: 1000,
      sizeSource: 'plan',
      patchedShare: 0.9,
      target: 0.95,
      eta: at(850),
      secondsTo: { '50': 70, '90': 700, '95': null, '99': null },
    });
    expect(lane.stalled).toBeNull();
    const cells = laneCells(lane, Date.parse(at(700)));
    expect(cells.patched).toBe('90.0% / 95% eta 00:14:10Z');
    expect(cells.waiting).toBe('95% patched, or deadline 49m30s');
    const text = renderStatus({ ...view, lanes: [lane] }, Date.parse(at(700)));
    expect(text).toContain('PATCHED / TARGET');
    expect(text).toContain(
      '  PATCHED laptop-x1: 50% after 1m10s, 90% after 11m40s, 95% -, 99% - (of 1000 devices, from the plan)',
    );
    expect(JSON.parse(statusJson({ ...view, lanes: [lane] }, { state: 'skipped' })).lanes[0].patched).toEqual(
      lane.patched,
    );
  });

  it('shows a stalled lane in its status cell, on a line of its own and in JSON, until outcomes arrive again', () => {
    const quiet = patchingState(
      delta(offer(0), 100, {}, 10),
      timer('bake', 60),
      timer('bake', 60),
      delta(offer(1), 500, {}, 70),
    );
    let step = stepLane(quiet, { ...stall, at: at(670) });
    if (isRefusal(step)) throw new Error(step.reason);
    const lane = laneStatusView(step.state);
    expect(lane.stalled).toEqual({ at: at(670), quietSince: at(70), offerId: offer(1), cohortBound: 10000 });
    expect(laneCells(lane, Date.parse(at(700))).status).toBe('running (stalled)');
    const text = renderStatus({ ...view, lanes: [lane] }, Date.parse(at(700)));
    expect(text).toContain(
      `  STALLED laptop-x1: no outcome since ${at(70)} (flagged ${at(670)}) on offer ${offer(1)}, exposed up to 100.00%`,
    );
    expect(JSON.parse(statusJson({ ...view, lanes: [lane] }, { state: 'skipped' })).lanes[0].stalled).toEqual(
      lane.stalled,
    );
    step = stepLane(step.state, delta(offer(1), 10, {}, 800));
    if (isRefusal(step)) throw new Error(step.reason);
    expect(laneStatusView(step.state).stalled).toBeNull();
  });

  it('a class without the rule shows no patched share and no stall', () => {
    const lane = laneAfter({ action: 'pause' }, delta(offer(0), 100, {}, 10), timer('bake', 60));
    expect(lane.patched).toBeNull();
    expect(lane.stalled).toBeNull();
    expect(laneCells(lane, Date.parse(at(60))).patched).toBe('-');
  });
});
