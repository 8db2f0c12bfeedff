/**
 * What a chaos scenario asserts once its rollout has ended, against the simulator's ground truth:
 * - every lane ended as expected (and as the undisturbed run ended);
 * - every offer's counts in the lane's folded state equal what the fleet really did (nothing lost, nothing
 *   counted twice) — exactly for lanes that completed (their long final bake lets every report land), and
 *   never above the truth for lanes that rolled back (they stop counting once the rollback is done);
 * - no order exposed more than its phase allows, and no device was exposed by two orders;
 * - orders repeated on the commands topic (an activity retried after a crash) were acted on once.
 */
import { cohortOf } from '../events/cohort';
import type { OutcomeCounts } from '../events/domain-events';
import { FleetCommandSchema, type FleetCommand } from '../events/fleet-commands';
import type { LaneState } from '../events/lane';
import type { OfferTruth } from '../simulator/fleet-model';
import { createKafka } from '../kafka/client';
import type { Config } from '../config/env';
import { laneStateQuery, laneWorkflowId } from '../workflows/messages';
import type { ChaosWorld } from './world';

/** The measured result of one scenario's checks. */
export interface CheckResult {
  failures: string[];
  /** Device outcomes compared with the ground truth. */
  eventsChecked: number;
  /** Outcomes the fleet reported that the engine never counted. */
  eventsLost: number;
  /** Outcomes the engine counted more often than the fleet reported them. */
  doubleCounts: number;
  /** Orders on the commands topic for this rollout, and how many distinct order ids among them. */
  ordersTotal: number;
  ordersDistinct: number;
  /** Each lane's final status. */
  outcomes: Record<string, string>;
}

/** Reads every order of `rolloutId` on the commands topic (up to its end at the time of the call). */
export async function readOrders(config: Config, rolloutId: string): Promise<FleetCommand[]> {
  const kafka = createKafka(config.kafka, { clientId: 'chaos-orders-reader' });
  const admin = kafka.admin();
  await admin.connect();
  const ends = new Map(
    (await admin.fetchTopicOffsets(config.topics.commands)).map((o) => [o.partition, BigInt(o.high)]),
  );
  await admin.disconnect();
  const pending = new Set([...ends].filter(([, high]) => high > 0n).map(([p]) => p));
  const orders: FleetCommand[] = [];
  if (pending.size === 0) return orders;
  const consumer = kafka.consumer({ groupId: `chaos-orders-${Date.now()}-${Math.random().toString(36).slice(2)}` });
  await consumer.connect();
  await consumer.subscribe({ topic: config.topics.commands, fromBeginning: true });
  await new Promise<void>((resolve) => {
    void consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          const parsed = FleetCommandSchema.safeParse(JSON.parse(m.value?.toString('utf8') ?? 'null'));
          if (parsed.success && parsed.data.rolloutId === rolloutId) orders.push(parsed.data);
        }
        const last = batch.messages[batch.messages.length - 1];
        if (last && BigInt(last.offset) + 1n >= (ends.get(batch.partition) ?? 0n)) pending.delete(batch.partition);
        if (pending.size === 0) resolve();
        return Promise.resolve();
      },
    });
  });
  await consumer.disconnect();
  return orders;
}

function failedTotal(byCode: Record<string, number>): number {
  return Object.values(byCode).reduce((a, b) => a + b, 0);
}

/** Per-field difference engine − truth of one offer: positive = counted twice, negative = lost. */
function diff(engine: OutcomeCounts, truth: OfferTruth): { field: string; delta: number }[] {
  const out: { field: string; delta: number }[] = [{ field: 'succeeded', delta: engine.succeeded - truth.succeeded }];
  const codes = new Set([...Object.keys(engine.failedByCode), ...Object.keys(truth.failedByCode)]);
  for (const code of codes) {
    out.push({ field: `failed.${code}`, delta: (engine.failedByCode[code] ?? 0) - (truth.failedByCode[code] ?? 0) });
  }
  out.push({ field: 'timedOut', delta: engine.timedOut - truth.silent });
  return out.filter((d) => d.delta !== 0);
}

/** Each lane's folded state, by query (works on closed lane workflows while a worker polls the task queue). */
async function laneStates(world: ChaosWorld, rolloutId: string, lanes: string[]): Promise<Record<string, LaneState>> {
  const client = await world.client();
  const states: Record<string, LaneState> = {};
  for (const lane of lanes) {
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        states[lane] = await client.workflow.getHandle(laneWorkflowId(rolloutId, lane)).query(laneStateQuery);
        break;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }
  return states;
}

/**
 * Runs every check of a finished rollout. `expected` is each lane's expected final status (the undisturbed
 * run's, when there was one). Call after the simulator has drained its report queue.
 */
export async function checkRollout(
  world: ChaosWorld,
  rolloutId: string,
  expected: Readonly<Record<string, string>>,
  devicesPerClass: number,
): Promise<CheckResult> {
  const failures: string[] = [];
  const lanes = Object.keys(expected);
  const states = await laneStates(world, rolloutId, lanes);
  const truth = Object.entries(world.simulator.truthOf(rolloutId));
  const orders = await readOrders(world.config, rolloutId);
  const result: CheckResult = {
    failures,
    eventsChecked: 0,
    eventsLost: 0,
    doubleCounts: 0,
    ordersTotal: orders.length,
    ordersDistinct: new Set(orders.map((o) => o.orderId)).size,
    outcomes: Object.fromEntries(lanes.map((l) => [l, states[l]!.status])),
  };

  for (const lane of lanes) {
    const state = states[lane]!;
    if (state.status !== expected[lane]) failures.push(`${lane}: ended ${state.status}, expected ${expected[lane]}`);

    // Counts per offer against the ground truth.
    const exact = state.status === 'completed';
    for (const [offerId, t] of truth.filter(([, t]) => t.lane === lane)) {
      const window = state.windows[offerId];
      if (!window) {
        failures.push(`${lane}: the fleet acted on offer ${offerId}, which the lane has no window for`);
        continue;
      }
      result.eventsChecked += t.succeeded + failedTotal(t.failedByCode) + t.silent;
      for (const d of diff(window.totals, t)) {
        if (d.delta > 0) {
          result.doubleCounts += d.delta;
          failures.push(`${lane} offer ${offerId}: ${d.field} counted ${d.delta} more than the fleet reported`);
        } else if (exact) {
          result.eventsLost -= d.delta;
          failures.push(
            `${lane} offer ${offerId}: ${d.field} lost ${-d.delta} (counted fewer than the fleet reported)`,
          );
        }
      }
    }

    // Exposure within the phase bounds, and every device exposed by at most one order.
    const config = state.config;
    let maxBound = 0;
    for (const order of orders.filter((o) => o.lane === lane && o.kind !== 'rollback')) {
      const allowed = config?.phases[order.phase]?.cohortBound;
      if (allowed === undefined || order.cohortBound > allowed) {
        failures.push(
          `${lane}: order ${order.orderId} exposes up to bucket ${order.cohortBound}, phase allows ${allowed}`,
        );
      }
      maxBound = Math.max(maxBound, order.cohortBound);
    }
    const width = String(devicesPerClass - 1).length;
    let inBound = 0;
    for (let i = 0; i < devicesPerClass; i++) {
      if (cohortOf(`${lane}-${String(i).padStart(width, '0')}`, rolloutId) < maxBound) inBound++;
    }
    const exposed = truth
      .filter(([, t]) => t.lane === lane && t.kind === 'expose')
      .reduce((sum, [, t]) => sum + t.reacted, 0);
    if (exposed > inBound) failures.push(`${lane}: ${exposed} devices exposed, only ${inBound} lie within the bounds`);
  }

  // A repeated order is acted on once: the fleet keeps one truth per offer, and every offer has one order id.
  const offersOrdered = new Map<string, Set<string>>();
  for (const o of orders) {
    const ids = offersOrdered.get(o.offerId) ?? new Set<string>();
    ids.add(o.orderId);
    offersOrdered.set(o.offerId, ids);
  }
  for (const [offerId, ids] of offersOrdered) {
    if (ids.size > 1) failures.push(`offer ${offerId} was ordered under ${ids.size} different order ids`);
  }
  if (truth.length !== offersOrdered.size) {
    failures.push(`the fleet acted on ${truth.length} offers, ${offersOrdered.size} were ordered`);
  }
  return result;
}
