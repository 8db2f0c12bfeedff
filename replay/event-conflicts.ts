/**
 * Conflicts in the event log: one event id with two contents. Domain event ids are deterministic (rollout,
 * stream, seq), so a retried append repeats an event byte for byte and readers drop the copy; a copy whose
 * content differs means two runs of the deciders disagreed (a non-deterministic change, a replayed decision
 * that came out otherwise) and must never be dropped silently. Pure.
 */

/** Where a record lies in the log. */
export type LogPosition = { partition: number; offset: string };

/** One event id met with two contents: where each was read, and what differs. */
export type EventConflict = { eventId: string; first: LogPosition; second: LogPosition; diff: string[] };

/** Most differences `diffValues` lists (the rest is summarised in one line). */
export const MAX_DIFF_LINES = 8;

function show(value: unknown): string {
  const text = value === undefined ? 'absent' : JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/**
 * The differences between two JSON values, one line per differing leaf (`data.phase: 1 → 2`), in key order,
 * at most `MAX_DIFF_LINES` of them (then `… and N more`). Empty when the values are equal.
 */
export function diffValues(a: unknown, b: unknown): string[] {
  const out: string[] = [];
  let more = 0;
  const walk = (x: unknown, y: unknown, path: string): void => {
    const bothObjects = typeof x === 'object' && x !== null && typeof y === 'object' && y !== null;
    if (bothObjects && Array.isArray(x) === Array.isArray(y)) {
      const keys = [...new Set([...Object.keys(x), ...Object.keys(y)])].sort();
      for (const k of keys) {
        walk((x as Record<string, unknown>)[k], (y as Record<string, unknown>)[k], path === '' ? k : `${path}.${k}`);
      }
      return;
    }
    if (JSON.stringify(x) === JSON.stringify(y)) return;
    if (out.length < MAX_DIFF_LINES) out.push(`${path === '' ? '(value)' : path}: ${show(x)} → ${show(y)}`);
    else more++;
  };
  walk(a, b, '');
  if (more > 0) out.push(`… and ${more} more`);
  return out;
}

/**
 * Remembers the content of each event id read so far and sorts every later record with a known id into a
 * duplicate (same content: drop it) or a conflict (different content: report it).
 */
export class DuplicateChecker {
  private readonly seen = new Map<string, { text: string; value: unknown; at: LogPosition }>();
  /** Records dropped as exact copies of an earlier one. */
  duplicates = 0;
  /** Records whose id was seen with another content. */
  readonly conflicts: EventConflict[] = [];

  /**
   * Whether the event is new (keep it). `event` must be in a canonical form (e.g. as the schema parsed it),
   * so equal contents serialise equally.
   */
  admit(eventId: string, event: unknown, at: LogPosition): boolean {
    const text = JSON.stringify(event);
    const first = this.seen.get(eventId);
    if (first === undefined) {
      this.seen.set(eventId, { text, value: event, at });
      return true;
    }
    if (first.text === text) this.duplicates++;
    else this.conflicts.push({ eventId, first: first.at, second: at, diff: diffValues(first.value, event) });
    return false;
  }
}

/**
 * The warning a reader prints for one conflict (`rollout events`, `rollout status`), without the `rollout: `
 * prefix: `warning: event <id> appears with two contents (partition P offset O <firstIs>; partition P' offset O'
 * differs: <diff>)`. `firstIs` says what the reader did with the first content ("is shown", "was read first").
 */
export function conflictWarning(conflict: EventConflict, firstIs: string): string {
  const { eventId, first, second, diff } = conflict;
  return (
    `warning: event ${eventId} appears with two contents (partition ${first.partition} offset ${first.offset} ${firstIs}; ` +
    `partition ${second.partition} offset ${second.offset} differs: ${diff.join('; ')})`
  );
}

/** One line per conflict and its differences, for the CLI. */
export function formatConflicts(conflicts: readonly EventConflict[]): string {
  return conflicts
    .map(
      (c) =>
        `CONFLICT ${c.eventId}: partition ${c.first.partition} offset ${c.first.offset} vs partition ${c.second.partition} offset ${c.second.offset}\n` +
        c.diff.map((d) => `    ${d}\n`).join(''),
    )
    .join('');
}
