/**
 * The bridge to the lane workflows: sends a lane's health deltas as `healthDeltaSignal` (at most 64
 * offers and 8 post-install deltas per signal, as the contract allows) and asks lanes for their high-water marks.
 * Both calls are idempotent on the lane's side (a delta at or below a mark is dropped), so retrying after an unclear
 * failure is safe. A lane that no longer exists (finished, or never started) is reported as `gone`.
 */
import type { Client } from '@temporalio/client';
import {
  HealthDeltaSignalSchema,
  healthDeltaSignal,
  highWaterMarksQuery,
  laneWorkflowId,
  type HealthDeltaSignal,
} from '../workflows/messages';
import type { TakenLane } from './aggregator';

/** What became of a signal. */
export type SignalOutcome = 'accepted' | 'gone';

/** The lane workflows as the ingest sees them; `createSignaler` is the Temporal implementation. */
export interface LaneSignaler {
  /** Delivers a lane's deltas; resolves once Temporal accepted every signal, or the lane is gone. Throws on transient failure. */
  send(taken: TakenLane): Promise<SignalOutcome>;
  /** The lane's marks (offerId → partition → offset), or `{}` when the lane does not exist. Throws on transient failure. */
  marks(rolloutId: string, lane: string): Promise<Record<string, Record<string, string>>>;
}

const MAX_DELTAS_PER_SIGNAL = 64;
const MAX_POST_INSTALL_PER_SIGNAL = 8;

/**
 * The signal payloads of a lane's taken deltas, in order: ≤ 64 offer deltas and ≤ 8 post-install deltas each (the
 * contract's limits); `postInstall` is left out of a payload that has none, as older ingests sent it.
 */
export function signalPayloads(taken: TakenLane): HealthDeltaSignal[] {
  const payloads: HealthDeltaSignal[] = [];
  const { deltas, postInstall } = taken;
  for (
    let n = 0;
    n * MAX_DELTAS_PER_SIGNAL < deltas.length || n * MAX_POST_INSTALL_PER_SIGNAL < postInstall.length;
    n++
  ) {
    const post = postInstall.slice(n * MAX_POST_INSTALL_PER_SIGNAL, (n + 1) * MAX_POST_INSTALL_PER_SIGNAL);
    payloads.push({
      lane: taken.lane.lane,
      deltas: deltas.slice(n * MAX_DELTAS_PER_SIGNAL, (n + 1) * MAX_DELTAS_PER_SIGNAL),
      ...(post.length > 0 && { postInstall: post }),
    });
  }
  return payloads;
}

function isGone(err: unknown): boolean {
  const name = (err as { name?: string } | null)?.name;
  return name === 'WorkflowNotFoundError' || name === 'NamespaceNotFoundError';
}

/**
 * Builds the Temporal signaler. Payloads are checked against `HealthDeltaSignalSchema` before sending:
 * the lane drops invalid payloads, so sending one would lose counts silently; here it throws instead.
 */
export function createSignaler(client: Client): LaneSignaler {
  return {
    async send(taken) {
      const handle = client.workflow.getHandle(laneWorkflowId(taken.lane.rolloutId, taken.lane.lane));
      for (const payload of signalPayloads(taken)) {
        const check = HealthDeltaSignalSchema.safeParse(payload);
        if (!check.success) throw new Error(`refusing an invalid health delta: ${check.error.message.slice(0, 500)}`);
        try {
          await handle.signal(healthDeltaSignal, payload);
        } catch (err) {
          if (isGone(err)) return 'gone';
          throw err;
        }
      }
      return 'accepted';
    },
    async marks(rolloutId, lane) {
      try {
        return await client.workflow.getHandle(laneWorkflowId(rolloutId, lane)).query(highWaterMarksQuery);
      } catch (err) {
        if (isGone(err)) return {};
        throw err;
      }
    },
  };
}
