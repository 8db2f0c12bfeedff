// Fuzzing the operator-command boundary (≥ 10,000 cases): arbitrary update payloads go through exactly what the
// lane and rollout workflows' Update validators run — `OperatorRequestSchema`, then `decideLane` / `decideRollout`
// on lanes and rollouts in every reachable status. Each payload is accepted (events that validate and record the
// actor and reason) or refused with a non-empty reason; nothing throws.
import fc from 'fast-check';
import { OperatorRequestSchema, isRefusal, stampCommand, type OperatorRequest } from '../../events/commands';
import { DomainEventSchema, OPERATOR_COMMAND_TYPES, type DomainEvent } from '../../events/domain-events';
import { decideLane, foldLane, initialLaneState, type LaneState } from '../../events/lane';
import { validatePlan, laneConfigOf } from '../../events/plan';
import { decideRollout, fold, initialRolloutState, type RolloutState } from '../../events/rollout';

const LANE = 'phone-a';
const ROLLOUT = 'r-fuzz';
const AT = '2026-03-01T00:00:00.000Z';
const RUNS = 10_000;

const checked = validatePlan({
  releaseId: 'bsi-fuzz',
  artifact: { build: '1.0.0' },
  deviceClasses: [LANE, 'phone-b'],
  phases: [
    { share: 1, bake: '60s' },
    { share: 10, bake: '60s', approval: 'manual' },
    { share: 100, bake: 0 },
  ],
  thresholds: { maxFailureRate: 0.05, minSample: 10, installTimeoutSec: 60 },
  breachPolicy: { action: 'pause' },
});
if (!checked.ok) throw new Error(JSON.stringify(checked.errors));
const plan = checked.plan;

/** A lane driven through operator commands into each status the validators meet. */
function laneStates(): LaneState[] {
  const pending = initialLaneState(ROLLOUT, LANE);
  const started = decideLane(pending, {
    type: 'start-lane',
    rolloutId: ROLLOUT,
    lane: LANE,
    config: laneConfigOf(plan, LANE),
    at: AT,
  });
  if (isRefusal(started)) throw new Error(started.reason);
  const running = foldLane(started, pending);
  const after = (state: LaneState, type: OperatorRequest['type']) => {
    const answer = decideLane(state, stampCommand({ type, actor: 'sre', reason: 'setup', lane: LANE }, AT));
    if (isRefusal(answer)) throw new Error(answer.reason);
    return foldLane(answer, state);
  };
  const paused = after(running, 'pause');
  const rollingBack = after(running, 'rollback');
  const aborted = after(running, 'abort');
  return [pending, running, paused, rollingBack, aborted];
}

function rolloutStates(): RolloutState[] {
  const pending = initialRolloutState();
  const started = decideRollout(pending, {
    type: 'start-rollout',
    rolloutId: ROLLOUT,
    plan,
    actor: 'sre',
    reason: 'setup',
    at: AT,
  });
  if (isRefusal(started)) throw new Error(started.reason);
  return [pending, fold(started, pending)];
}

const LANES = laneStates();
const ROLLOUTS = rolloutStates();

const text = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.constantFrom('', ' ', '\n\t', 'sre', 'alice@example.com', LANE, 'phone-b', '__proto__', 'x'.repeat(2000)),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
);
const field = fc.oneof(text, fc.integer(), fc.constant(null), fc.boolean(), fc.jsonValue({ maxDepth: 2 }));
/** Mostly well-formed requests with hostile field values, plus arbitrary JSON. */
const payload: fc.Arbitrary<unknown> = fc.oneof(
  fc.record(
    {
      type: fc.constantFrom(...OPERATOR_COMMAND_TYPES),
      actor: fc.string({ minLength: 1, maxLength: 128 }),
      reason: fc.string({ minLength: 1, maxLength: 200 }).filter((r) => r.trim().length > 0),
      lane: fc.constantFrom(LANE, 'phone-b', null),
    },
    { requiredKeys: ['type', 'actor', 'reason'] },
  ),
  fc.record(
    {
      type: fc.oneof(fc.constantFrom(...OPERATOR_COMMAND_TYPES), text),
      actor: field,
      reason: field,
      lane: fc.oneof(fc.constantFrom(LANE, 'phone-b', null, undefined), field),
      extra: field,
    },
    { requiredKeys: ['type'] },
  ),
  fc.jsonValue({ maxDepth: 3 }),
  fc.anything({ maxDepth: 2 }),
);

/** Every accepted answer is valid events whose operator record carries the command's actor and reason. */
function assertAccepted(events: readonly DomainEvent[], request: OperatorRequest): void {
  for (const event of events) expect(DomainEventSchema.safeParse(event).success).toBe(true);
  const record = events.find((e) => e.type === 'operator-command-accepted' || e.actor !== undefined);
  if (events.length > 0) {
    expect(record?.actor).toBe(request.actor);
    expect(record?.reason).toBe(request.reason);
  }
}

test(`${RUNS} update payloads: accepted with actor and reason, or refused with a reason`, () => {
  const tally = { accepted: 0, refusedBySchema: 0, refusedByDecider: 0 };
  fc.assert(
    fc.property(payload, fc.nat(LANES.length - 1), fc.nat(ROLLOUTS.length - 1), (raw, li, ri) => {
      const parsed = OperatorRequestSchema.safeParse(raw);
      if (!parsed.success) {
        tally.refusedBySchema++;
        expect(parsed.error.message.length).toBeGreaterThan(0);
        return;
      }
      const request = parsed.data;
      const command = stampCommand(request, AT);
      // The lane validator: a command for another lane is refused before the decider.
      if (request.lane === undefined || request.lane === null || request.lane === LANE) {
        const answer = decideLane(LANES[li]!, { ...command, lane: LANE });
        if (isRefusal(answer)) {
          tally.refusedByDecider++;
          expect(answer.reason.trim().length).toBeGreaterThan(0);
        } else {
          tally.accepted++;
          assertAccepted(answer, request);
        }
      }
      // The rollout validator: lane-scoped commands go to the lane workflow.
      if (request.lane === undefined || request.lane === null) {
        const answer = decideRollout(ROLLOUTS[ri]!, command);
        if (isRefusal(answer)) expect(answer.reason.trim().length).toBeGreaterThan(0);
        else assertAccepted(answer, request);
      }
    }),
    { numRuns: RUNS, seed: 8_2026 },
  );
  // The generator reaches all three outcomes, so the property is not vacuous.
  expect(tally.accepted).toBeGreaterThan(50);
  expect(tally.refusedByDecider).toBeGreaterThan(50);
  expect(tally.refusedBySchema).toBeGreaterThan(1000);
});

test('a destructive command without a reason is refused by the schema', () => {
  for (const type of OPERATOR_COMMAND_TYPES) {
    for (const reason of [undefined, '', '   ', '\n']) {
      expect(OperatorRequestSchema.safeParse({ type, actor: 'sre', reason }).success).toBe(false);
    }
  }
});
