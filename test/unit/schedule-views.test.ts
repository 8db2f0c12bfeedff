// How a schedule reads to a person: the status line (`rollout status`), the postmortem's note and the event lines,
// from events the rollout decider itself produced.
import { scheduleLine } from '../../cli/status-view';
import { isRefusal, type RolloutInput } from '../../events/commands';
import type { DomainEvent } from '../../events/domain-events';
import { RolloutPlanSchema } from '../../events/plan';
import { fold, stepRollout, type RolloutState } from '../../events/rollout';
import { describeEvent } from '../../replay/describe';
import { scheduleNote } from '../../replay/rollout-notes';

const at = (h: number) => new Date(Date.parse('2026-12-08T00:00:00Z') + h * 3600_000).toISOString();

function run(schedule: Record<string, unknown>, inputs: RolloutInput[]): { log: DomainEvent[]; state: RolloutState } {
  const plan = RolloutPlanSchema.parse({
    releaseId: 'bsi-26.3',
    artifact: { build: '26.3.1' },
    deviceClasses: ['phone-a'],
    phases: [{ share: 100, bake: 60 }],
    thresholds: { maxFailureRate: 0.1, minSample: 10, installTimeoutSec: 600 },
    breachPolicy: { action: 'pause' },
    schedule,
  });
  let state = fold([]);
  const log: DomainEvent[] = [];
  const start: RolloutInput = { type: 'start-rollout', rolloutId: 'r', plan, actor: 'a', reason: 'r', at: at(0) };
  for (const input of [start, ...inputs]) {
    const step = stepRollout(state, input);
    if (isRefusal(step)) throw new Error(step.reason);
    log.push(...step.events);
    state = step.state;
  }
  return { log, state };
}

test('a rollout waiting for its start: status and postmortem say when it starts and how it ends', () => {
  const { log, state } = run({ startAt: at(2), endAt: at(5), endBehavior: 'cancel' }, []);
  expect(scheduleLine(state)).toBe(`  SCHEDULED, starts at ${at(2)}; at ${at(5)} it cancels`);
  expect(scheduleNote(log)).toBe(
    `Schedule: was to start its classes at ${at(2)} and never did; it was to cancel at ${at(5)}.`,
  );
  expect(describeEvent(log[1]!)).toBe(`SCHEDULED: starts at ${at(2)}; at ${at(5)} it cancels`);
});

test('a rollout stopped by its schedule: status and postmortem say what stopped', () => {
  const { log, state } = run({ startAt: at(2), endAt: at(5) }, [
    { type: 'schedule-tick', at: at(2) },
    { type: 'schedule-tick', at: at(5) },
  ]);
  expect(scheduleLine(state)).toBe(`  SCHEDULE ended at ${at(5)}: stopped phone-a (no new cohort)`);
  expect(scheduleNote(log)).toBe(
    `Schedule: waited until ${at(2)} and started its classes at ${at(2)}; at its end (${at(5)}) it stopped phone-a: ` +
      'no new cohort after it.',
  );
  expect(log.map(describeEvent).slice(2)).toEqual([
    `scheduled start ${at(2)} reached: starting the classes`,
    `SCHEDULE ENDED at ${at(5)}: stopping phone-a (no new cohort; a rollback under way finishes)`,
  ]);
});

test('no schedule: no status line, no note', () => {
  expect(scheduleLine({ status: 'running', schedule: null })).toBeNull();
  expect(scheduleNote([])).toBeNull();
});
