// Readers drop a repeated event id only when its content is the same; a second content is a conflict,
// reported with where both records lie and what differs.
import { DuplicateChecker, diffValues, formatConflicts } from '../../replay/event-conflicts';

const event = (phase: number, extra: Record<string, unknown> = {}) => ({
  eventId: 'r1/_/3',
  type: 'phase-advanced',
  data: { phase, ...extra },
});

describe('DuplicateChecker', () => {
  it('keeps a new id, drops an identical copy silently', () => {
    const c = new DuplicateChecker();
    expect(c.admit('r1/_/3', event(1), { partition: 0, offset: '5' })).toBe(true);
    expect(c.admit('r1/_/3', event(1), { partition: 0, offset: '9' })).toBe(false);
    expect(c.duplicates).toBe(1);
    expect(c.conflicts).toEqual([]);
  });

  it('reports the same id with another content, with both positions and the difference', () => {
    const c = new DuplicateChecker();
    c.admit('r1/_/3', event(1), { partition: 0, offset: '5' });
    expect(c.admit('r1/_/3', event(2, { reason: 'x' }), { partition: 0, offset: '9' })).toBe(false);
    expect(c.duplicates).toBe(0);
    expect(c.conflicts).toEqual([
      {
        eventId: 'r1/_/3',
        first: { partition: 0, offset: '5' },
        second: { partition: 0, offset: '9' },
        diff: ['data.phase: 1 → 2', 'data.reason: absent → "x"'],
      },
    ]);
    expect(formatConflicts(c.conflicts)).toContain('CONFLICT r1/_/3: partition 0 offset 5 vs partition 0 offset 9');
  });
});

describe('diffValues', () => {
  it('is empty for equal values, whatever the key order', () => {
    expect(diffValues({ a: 1, b: [1, { c: 2 }] }, { b: [1, { c: 2 }], a: 1 })).toEqual([]);
  });

  it('names array elements and caps the list', () => {
    expect(diffValues({ xs: [1, 2] }, { xs: [1, 3] })).toEqual(['xs.1: 2 → 3']);
    const a = Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`k${i}`, i]));
    const b = Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`k${i}`, i + 1]));
    const diff = diffValues(a, b);
    expect(diff).toHaveLength(9);
    expect(diff[8]).toBe('… and 4 more');
  });
});
