/**
 * Which rollouts supersede a given one (`rollout start --supersedes <id>`): the link is recorded only by the new
 * rollout, in its `rollout-started` (the old rollout's log is closed by then), so the old one's postmortem finds it
 * by reading the event-log topic for such a `rollout-started`. Bounded: only the records appended since the old
 * rollout started (less a margin for clock skew between appenders) — a rollout that supersedes it can only start
 * after it — and only records that mention `supersedes` are parsed.
 */
import type { Kafka } from 'kafkajs';
import { readTopicSlice } from '../kafka/read-slice';

/** Margin for clock skew between the appenders and the broker's time index. */
const SKEW_MS = 5 * 60 * 1000;
const MARK = Buffer.from('"supersedes"');

/**
 * The ids of the rollouts whose `rollout-started` names `rolloutId` in `supersedes`, in log order, reading the
 * event-log `topic` from `startedAt` (the old rollout's start, ISO) on.
 */
export async function findSupersedingRollouts(
  kafka: Kafka,
  topic: string,
  rolloutId: string,
  startedAt: string,
): Promise<string[]> {
  const found: string[] = [];
  await readTopicSlice(
    kafka,
    topic,
    (_partition, _offset, _ms, _key, value) => {
      if (value === null || !value.includes(MARK)) return;
      const id = supersededIdOf(value);
      if (id?.supersedes === rolloutId && !found.includes(id.rolloutId)) found.push(id.rolloutId);
    },
    { fromMs: Date.parse(startedAt) - SKEW_MS, label: 'superseded-by' },
  );
  return found;
}

/** The new and the superseded rollout ids of a `rollout-started` record that supersedes one, else null. */
function supersededIdOf(value: Buffer): { rolloutId: string; supersedes: string } | null {
  let record: unknown;
  try {
    record = JSON.parse(value.toString('utf8'));
  } catch {
    return null;
  }
  if (typeof record !== 'object' || record === null) return null;
  const r = record as { type?: unknown; rolloutId?: unknown; data?: { supersedes?: { rolloutId?: unknown } } };
  const old = r.data?.supersedes?.rolloutId;
  if (r.type !== 'rollout-started' || typeof r.rolloutId !== 'string' || typeof old !== 'string') return null;
  return { rolloutId: r.rolloutId, supersedes: old };
}
