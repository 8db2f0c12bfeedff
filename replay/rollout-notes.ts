/**
 * The postmortem's notes on the rollout as a whole, each one sentence: the rollout it supersedes and those that
 * supersede it (`rollout start --supersedes`), and its schedule (when it waited for, how it ended) from the
 * schedule's events in the log. Kept beside the timeline, which lists the same events one by one.
 */
import type { DomainEvent, Supersedes } from '../events/domain-events';

/** `Supersedes R: …` for the link this rollout recorded, and `Superseded by R.` for each rollout that names it. */
export function supersedeNotes(supersedes: Supersedes | undefined, supersededBy: readonly string[]): string[] {
  const notes: string[] = [];
  if (supersedes !== undefined) {
    const lanes = Object.entries(supersedes.lanes).map(
      ([lane, old]) => `${lane} (${old.status} after exposing ${(old.cohortBound / 100).toFixed(2)}%)`,
    );
    notes.push(
      `Supersedes ${supersedes.rolloutId}: a fixed build for ${lanes.join(', ')}; those devices were offered it first.`,
    );
  }
  for (const id of supersededBy) notes.push(`Superseded by ${id}: a later rollout brought a fixed build.`);
  return notes;
}

/** What the schedule did, in one sentence, or null when the rollout had none. */
export function scheduleNote(log: readonly DomainEvent[]): string | null {
  const scheduled = log.find((e) => e.type === 'rollout-scheduled');
  if (scheduled?.type !== 'rollout-scheduled') return null;
  const { waitUntil, endAt, endBehavior } = scheduled.data;
  const started = log.find((e) => e.type === 'schedule-started');
  const ended = log.find((e) => e.type === 'schedule-ended');
  const parts = [
    waitUntil === null
      ? 'Schedule: started its classes at once'
      : started === undefined
        ? `Schedule: was to start its classes at ${waitUntil} and never did`
        : `Schedule: waited until ${waitUntil} and started its classes at ${started.at}`,
  ];
  if (ended?.type === 'schedule-ended') {
    const { stopLanes, lanesStarted } = ended.data;
    parts.push(
      !lanesStarted
        ? `its end (${ended.data.endAt}) came before the start: the rollout ended with no class started`
        : ended.data.endBehavior === 'cancel'
          ? `at its end (${ended.data.endAt}) it cancelled the rollout`
          : `at its end (${ended.data.endAt}) it stopped ${stopLanes.join(', ') || 'no class'}: no new cohort after it`,
    );
  } else if (endAt !== null) {
    parts.push(`it was to ${endBehavior === 'cancel' ? 'cancel' : 'stop'} at ${endAt}`);
  }
  return `${parts.join('; ')}.`;
}
