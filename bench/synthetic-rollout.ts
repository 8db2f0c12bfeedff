/**
 * A synthetic but realistic recorded rollout, for replay's unit tests and benchmark: the engine's own
 * deciders (`decideRollout`, `stepLane`) drive the simulator's `FleetModel` on a simulated clock, with an
 * ingest stand-in that counts install reports (`OutcomeTracker`, the ingest's rules) and sends each lane
 * one health delta per offer every flush interval, with the Kafka partition/offset ranges it covers.
 * Out come the domain log and the install records, exactly as the live system would have written them.
 * Pure and deterministic: same plan, scenario and start time, same output.
 */
import type { LaneInput } from '../events/commands';
import { murmur3 } from '../events/cohort';
import type { DomainEvent } from '../events/domain-events';
import { fleetCommandsOf } from '../events/fleet-commands';
import { initialLaneState, isLaneFinished, laneDeadlineOf, stepLane, type LaneState } from '../events/lane';
import { laneConfigOf, type RolloutPlan } from '../events/plan';
import { fold, stepRollout, type RolloutState } from '../events/rollout';
import type { DeviceKeys } from '../events/device-keys';
import { FleetModel, type FleetOrder, type ScheduledReport } from '../simulator/fleet-model';
import type { Scenario } from '../simulator/scenario';
import { OutcomeTracker, offersOf, type CountChange, type InstallRecord, type OfferInfo } from '../replay/outcomes';

/** One install record as produced to Kafka: partition, key, value, append time. */
export type SyntheticInstallRecord = InstallRecord & { key: string; value: string };

/** A synthetic rollout: its domain log and install records (offset order per partition). */
export type SyntheticRollout = {
  rolloutId: string;
  events: DomainEvent[];
  installs: SyntheticInstallRecord[];
  partitions: number;
};

/** Knobs of the synthetic run. */
export type SyntheticOptions = {
  rolloutId: string;
  plan: RolloutPlan;
  scenario: Scenario;
  startMs: number;
  /** The device keys the ingest stand-in counts with (as the live ingest's, from the deployment's secret). */
  deviceKeys: DeviceKeys;
  partitions?: number;
  /** The ingest stand-in's flush interval (default 250 ms). */
  flushMs?: number;
  /** Stop after this much simulated time (default 1 h). */
  maxDurationMs?: number;
};

/**
 * Runs a rollout end to end on a simulated clock and returns what the live system would have recorded.
 * Operator commands are not simulated: the lanes run on their plan's rules alone.
 */
export function syntheticRollout(options: SyntheticOptions): SyntheticRollout {
  const { rolloutId, plan, scenario, startMs } = options;
  const partitions = options.partitions ?? 6;
  const flushMs = options.flushMs ?? 250;
  const endMs = startMs + (options.maxDurationMs ?? 3_600_000);
  const model = new FleetModel(scenario);
  const events: DomainEvent[] = [];
  const installs: SyntheticInstallRecord[] = [];
  const nextOffset = new Array<number>(partitions).fill(0);
  const offers = new Map<string, OfferInfo>();
  const tracker = new OutcomeTracker(rolloutId, offers, options.deviceKeys);
  let queue: ScheduledReport[] = [];
  let head = 0;
  const iso = (ms: number) => new Date(ms).toISOString();

  let rollout: RolloutState = fold([]);
  const lanes = new Map<string, LaneState>();
  const record = (list: readonly DomainEvent[]): void => {
    for (const e of list) events.push(e);
    for (const [id, offer] of offersOf(list)) offers.set(id, offer);
  };
  const started = stepRollout(rollout, {
    type: 'start-rollout',
    rolloutId,
    plan,
    actor: 'synthetic',
    reason: 'synthetic rollout',
    at: iso(startMs),
  });
  if ('refused' in started) throw new Error(started.reason);
  rollout = started.state;
  record(started.events);

  const feed = (lane: string, input: LaneInput, nowMs: number): void => {
    const before = lanes.get(lane) ?? initialLaneState(rolloutId, lane);
    const step = stepLane(before, input);
    if ('refused' in step || step.events.length === 0) return;
    lanes.set(lane, step.state);
    record(step.events);
    const config = step.state.config!;
    const orders = fleetCommandsOf(step.events, config, before.phase);
    const fresh: ScheduledReport[] = [];
    for (const order of orders) {
      const fleetOrder: FleetOrder = {
        kind: order.kind,
        rolloutId,
        lane,
        releaseId: order.releaseId,
        build: order.artifact.build,
        offerId: order.offerId,
        attempt: order.attempt,
        cohortBound: order.cohortBound,
      };
      for (const report of model.apply(fleetOrder, nowMs)) fresh.push(report);
    }
    if (fresh.length > 0) {
      fresh.sort((a, b) => a.dueMs - b.dueMs);
      queue = merge(queue, head, fresh);
      head = 0;
    }
    const report = stepRollout(rollout, { type: 'lane-report', lane, events: [...step.events], at: input.at });
    if ('refused' in report) return;
    rollout = report.state;
    record(report.events);
    for (const e of report.events) {
      if (e.type !== 'fleet-halted') continue;
      for (const halted of e.data.haltLanes) {
        feed(halted, { type: 'fleet-halt', lane: halted, reason: e.data.reason, at: e.at }, nowMs);
      }
    }
  };
  for (const lane of plan.deviceClasses) {
    feed(lane, { type: 'start-lane', rolloutId, lane, config: laneConfigOf(plan, lane), at: iso(startMs) }, startMs);
  }

  let pending: CountChange[] = [];
  let now = startMs;
  while (now < endMs) {
    const nextFlush = now + flushMs;
    while (head < queue.length && queue[head]!.dueMs <= nextFlush) {
      const r = queue[head++]!;
      const timestampMs = Math.round(r.dueMs);
      const partition = murmur3(r.event.deviceId, 0) % partitions;
      const offset = nextOffset[partition]!++;
      const event = { ...r.event, at: iso(timestampMs) };
      const rec: SyntheticInstallRecord = {
        kind: 'report',
        report: event,
        partition,
        offset,
        timestampMs,
        key: event.deviceId,
        value: JSON.stringify(event),
      };
      installs.push(rec);
      const change = tracker.add(rec);
      if (change !== null) pending.push(change);
    }
    // Timers due before the flush fire first, at their deadline.
    for (const [lane, state] of lanes) {
      // The lane's next deadline, as its workflow arms it (`laneDeadlineOf`: a completion rule adds two).
      const w = laneDeadlineOf(state);
      if (w !== null && Date.parse(w.until) <= nextFlush && state.status !== 'paused') {
        const at = Math.max(now, Date.parse(w.until));
        feed(lane, { type: 'timer-fired', lane, kind: w.kind, at: iso(at) }, at);
      }
    }
    now = nextFlush;
    flush(pending, now);
    pending = [];
    const done = plan.deviceClasses.every((lane) => isLaneFinished(lanes.get(lane)?.status ?? 'pending'));
    if (done && head >= queue.length) break;
  }
  installs.sort((a, b) => a.partition - b.partition || a.offset - b.offset);
  return { rolloutId, events, installs, partitions };

  function flush(changes: CountChange[], nowMs: number): void {
    const byLane = new Map<string, Map<string, CountChange[]>>();
    for (const c of changes) {
      const offersOfLane = byLane.get(c.lane) ?? new Map<string, CountChange[]>();
      byLane.set(c.lane, offersOfLane);
      const list = offersOfLane.get(c.offerId) ?? [];
      list.push(c);
      offersOfLane.set(c.offerId, list);
    }
    for (const [lane, byOffer] of byLane) {
      for (const [offerId, list] of byOffer) {
        const counts = { succeeded: 0, failedByCode: {} as Record<string, number>, timedOut: 0, inProgress: 0 };
        const ranges = new Map<number, { from: number; to: number }>();
        for (const c of list) {
          counts.succeeded += c.succeeded;
          counts.timedOut += c.timedOut;
          counts.inProgress += c.inProgress;
          if (c.failedCode !== null) counts.failedByCode[c.failedCode] = (counts.failedByCode[c.failedCode] ?? 0) + 1;
          const r = ranges.get(c.partition);
          ranges.set(c.partition, {
            from: Math.min(r?.from ?? c.offset, c.offset),
            to: Math.max(r?.to ?? c.offset, c.offset),
          });
        }
        const delta = {
          counts,
          ranges: [...ranges]
            .sort((a, b) => a[0] - b[0])
            .map(([partition, r]) => ({ partition, fromOffset: String(r.from), toOffset: String(r.to) })),
        };
        feed(lane, { type: 'health-delta', lane, offerId, delta, at: iso(nowMs) }, nowMs);
      }
    }
  }
}

/** Merges the unread tail of a sorted queue with a sorted batch. */
function merge(queue: ScheduledReport[], head: number, fresh: ScheduledReport[]): ScheduledReport[] {
  const out: ScheduledReport[] = new Array<ScheduledReport>(queue.length - head + fresh.length);
  let i = head;
  let j = 0;
  let k = 0;
  while (i < queue.length && j < fresh.length)
    out[k++] = queue[i]!.dueMs <= fresh[j]!.dueMs ? queue[i++]! : fresh[j++]!;
  while (i < queue.length) out[k++] = queue[i++]!;
  while (j < fresh.length) out[k++] = fresh[j++]!;
  return out;
}
