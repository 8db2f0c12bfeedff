/** Reading old events: the v1 → v2 upcaster, and how it explains records it cannot read. */
import { type EventOf, makeEvent } from './domain-events';
import { UpcastError, safeUpcast, upcast } from './upcast';

const exposure = makeEvent<EventOf<'exposure-issued'>>({
  type: 'exposure-issued',
  rolloutId: 'r1',
  lane: 'phone-a',
  seq: 2,
  at: '2026-03-01T00:00:00.000Z',
  data: {
    phase: 0,
    attempt: 1,
    cohortBound: 250,
    offerId: 'phone-a/p0a1',
    artifact: { build: '26.3.1' },
    bakeUntil: '2026-03-01T00:01:00.000Z',
  },
});

describe('upcast', () => {
  const v1Exposure = {
    eventId: 'r1/phone-a/2',
    rolloutId: 'r1',
    seq: 2,
    at: exposure.at,
    schemaVersion: 1,
    type: 'exposure-issued',
    data: {
      deviceClass: 'phone-a',
      phase: 0,
      attempt: 1,
      percent: 2.5,
      offerId: 'phone-a/p0a1',
      artifact: { build: '26.3.1' },
      bakeUntil: '2026-03-01T00:01:00.000Z',
    },
  };

  test('current events pass through unchanged', () =>
    expect(upcast(JSON.parse(JSON.stringify(exposure)))).toEqual(exposure));

  test('v1: the device class moves from data to the lane, percent becomes a cohort bound; the record is not touched', () => {
    const stored = JSON.parse(JSON.stringify(v1Exposure)) as typeof v1Exposure;
    expect(upcast(stored)).toEqual(exposure);
    expect(stored).toEqual(v1Exposure);
  });

  test('v1 rollout-level events get lane null; actor and reason survive', () => {
    const v1 = {
      eventId: 'r1/_/4',
      rolloutId: 'r1',
      seq: 4,
      at: exposure.at,
      schemaVersion: 1,
      actor: 'ana',
      reason: 'bad build',
      type: 'rollout-aborted',
      data: {},
    };
    expect(upcast(v1)).toEqual({ ...v1, schemaVersion: 2, lane: null });
  });

  test('v1 events other than exposure keep their data (minus the device class)', () => {
    const v1 = {
      eventId: 'r1/phone-a/7',
      rolloutId: 'r1',
      seq: 7,
      at: exposure.at,
      schemaVersion: 1,
      type: 'gate-waiting',
      data: { deviceClass: 'phone-a', phase: 1 },
    };
    expect(upcast(v1)).toMatchObject({ lane: 'phone-a', data: { phase: 1 } });
  });

  test('unknown versions, malformed v1 envelopes and malformed events are explained, not crashed on', () => {
    const unknown = safeUpcast({ ...exposure, schemaVersion: 9 });
    expect(unknown.ok).toBe(false);
    if (!unknown.ok) expect(unknown.error.message).toBe('unsupported domain event schemaVersion 9');
    expect(safeUpcast(null)).toMatchObject({
      ok: false,
      error: { message: 'unsupported domain event schemaVersion undefined' },
    });
    expect(safeUpcast({ ...v1Exposure, seq: 'two' })).toMatchObject({
      ok: false,
      error: { message: 'malformed version-1 domain event', issues: [{ path: 'seq' }] },
    });
    expect(safeUpcast({ ...exposure, data: { ...exposure.data, cohortBound: 20000 } })).toMatchObject({
      ok: false,
      error: { message: 'malformed domain event', issues: [{ path: 'data.cohortBound' }] },
    });
    expect(() => upcast({ schemaVersion: 1 })).toThrow(UpcastError);
  });
});
