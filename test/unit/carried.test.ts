// What a workflow run is handed through continue-as-new: upcast from the shapes older code carried, validated, and
// — when the state itself does not validate — the parts that can be kept, with the reason.
import { initialLaneState } from '../../events/lane';
import { initialRolloutState } from '../../events/rollout';
import { CARRIED_VERSION, readCarriedLane, readCarriedRollout } from '../../workflows/carried';

const lane = () => ({ ...initialLaneState('r-1', 'phone-a'), status: 'running' as const, phase: 0, nextSeq: 3 });
const delta = {
  counts: { succeeded: 3, failedByCode: {}, timedOut: 0, inProgress: 0 },
  ranges: [{ partition: 0, fromOffset: '0', toOffset: '2' }],
};

describe('carried lane state', () => {
  test('version 1 (no v, no recentAnswers) is upcast to the current shape', () => {
    const read = readCarriedLane({
      state: lane(),
      inbox: [{ kind: 'health', offerId: 'phone-a/p0a1', delta }],
      runs: 4,
    });
    expect(read).toEqual({
      ok: true,
      carried: {
        v: CARRIED_VERSION,
        state: lane(),
        inbox: [{ kind: 'health', offerId: 'phone-a/p0a1', delta }],
        runs: 4,
        recentAnswers: [],
      },
    });
  });

  test('the current shape reads back as written', () => {
    const carried = {
      v: CARRIED_VERSION,
      state: { ...lane(), abortPending: null },
      inbox: [{ kind: 'health-signal', payload: { anything: 1 } }],
      runs: 2,
      recentAnswers: [{ requestId: 'req-1', answer: { accepted: true, eventIds: ['r-1/phone-a/2'] } }],
    };
    expect(readCarriedLane(carried)).toEqual({ ok: true, carried });
  });

  test('a state that does not validate is refused with the path; valid inbox items and answers are kept', () => {
    const read = readCarriedLane({
      state: { ...lane(), phase: 'two' },
      inbox: [
        { kind: 'health', offerId: 'phone-a/p0a1', delta },
        { kind: 'health', offerId: 'phone-a/p0a1', delta: { counts: {} } },
        { kind: 'fleet-halt', reason: '2 classes breached' },
      ],
      runs: 7,
      recentAnswers: [{ requestId: 'req-1', answer: { refused: true, reason: 'no' } }],
    });
    expect(read.ok).toBe(false);
    if (read.ok) return;
    expect(read.problem).toMatch(/^state\.phase: /);
    expect(read.dropped).toBe(1);
    expect(read.salvaged).toEqual({
      v: CARRIED_VERSION,
      inbox: [
        { kind: 'health', offerId: 'phone-a/p0a1', delta },
        { kind: 'fleet-halt', reason: '2 classes breached' },
      ],
      runs: 7,
      recentAnswers: [{ requestId: 'req-1', answer: { refused: true, reason: 'no' } }],
    });
  });

  test('a state from newer code (a field this code does not know) is refused, not half read', () => {
    const read = readCarriedLane({
      v: CARRIED_VERSION,
      state: { ...lane(), newField: 1 },
      inbox: [],
      runs: 1,
      recentAnswers: [],
    });
    expect(read.ok).toBe(false);
    if (!read.ok) expect(read.problem).toMatch(/state: Unrecognized key/);
  });

  test('garbage is refused and salvages nothing', () => {
    const read = readCarriedLane('not an object');
    expect(read).toMatchObject({ ok: false, salvaged: { inbox: [], runs: 0, recentAnswers: [] } });
  });
});

describe('carried rollout state', () => {
  const rollout = () => ({ ...initialRolloutState(), rolloutId: 'r-1', status: 'running' as const, nextSeq: 1 });

  test('version 1 is upcast; lanesStarted is kept', () => {
    expect(readCarriedRollout({ state: rollout(), inbox: [], lanesStarted: true, runs: 1 })).toEqual({
      ok: true,
      carried: { v: CARRIED_VERSION, state: rollout(), inbox: [], lanesStarted: true, runs: 1, recentAnswers: [] },
    });
  });

  test('an unreadable state keeps the valid inbox items; an unreadable lanesStarted is taken as started', () => {
    const read = readCarriedRollout({
      state: { ...rollout(), status: 'sideways' },
      inbox: [
        { kind: 'lane-closed', lane: 'phone-a', cause: 'terminated', detail: 'by a test' },
        { kind: 'lane-closed', lane: 'phone-a', cause: 'vanished', detail: 'by a test' },
      ],
      lanesStarted: 'yes',
      runs: 3,
    });
    expect(read).toMatchObject({
      ok: false,
      dropped: 1,
      salvaged: {
        inbox: [{ kind: 'lane-closed', lane: 'phone-a', cause: 'terminated', detail: 'by a test' }],
        lanesStarted: true,
        runs: 3,
      },
    });
  });
});
