// `rollout status` and the event log: event ids met with two contents are a warning on stderr, worded as
// `rollout events` words them, and a `conflicts` field in --json (null, with the reason, when the log was not read).
import type { RolloutStatusView } from '../../client';
import { logCheckLines, MAX_CONFLICTS_SHOWN, renderStatus, statusJson, type LogCheck } from '../../cli/status-view';
import { conflictWarning, DuplicateChecker, type EventConflict } from '../../replay/event-conflicts';

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
