// The byte scanner is a shortcut, never a second opinion: whenever it reads a record, the general path
// (JSON.parse, then the schema) accepts the same record with the same values; it does read the plain JSON
// that devices send; and its timestamp reader agrees with the schema and with Date.parse.
import fc from 'fast-check';
import { cohortOf } from '../../events/cohort';
import { INSTALL_EVENT_TYPES, TimestampSchema } from '../../events/install-event';
import { decodeRecord } from '../../ingest/decode';
import { isoMillis, Report } from '../../ingest/device-report-scanner';
import { testDeviceKeys } from '../support/device-keys';

// Printable ASCII without the two characters JSON escapes (" and \): what devices send.
const printable = fc.stringMatching(/^[\x21\x23-\x5b\x5d-\x7e]{1,24}$/);
const datetime = fc
  .date({ min: new Date('0000-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true })
  .map((d) => d.toISOString());
const plainEvent = fc.record({
  eventId: printable,
  deviceId: printable,
  deviceClass: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_-]{0,10}$/),
  rolloutId: printable,
  releaseId: printable,
  offerId: printable,
  attempt: fc.integer({ min: 1, max: 1000 }),
  type: fc.constantFrom(...INSTALL_EVENT_TYPES),
  osVersion: fc.stringMatching(/^[\x20\x21\x23-\x5b\x5d-\x7e]{1,64}$/),
  at: fc.oneof(
    datetime,
    datetime.map((t) => t.replace('.', '.9').replace('Z', '+05:30')),
    datetime.map((t) => t.replace(/\.\d+Z$/, 'Z')),
  ),
  schemaVersion: fc.constant(1),
});
const whitespace = fc.constantFrom('', ' ', '\n', '\t ', '\r\n');

/** JSON text of an object, keys in the given order, with whitespace between tokens. */
function render(entries: [string, unknown][], ws: string): string {
  const body = entries.map(([k, v]) => `${ws}${JSON.stringify(k)}${ws}:${ws}${JSON.stringify(v)}${ws}`).join(',');
  return `${ws}{${body}}${ws}`;
}

const record = fc.oneof(
  // Whole events in any key order, with whitespace; some with an errorCode.
  {
    weight: 8,
    arbitrary: fc.tuple(plainEvent, fc.boolean(), whitespace, fc.nat()).map(([event, failure, ws, shift]) => {
      const entries = Object.entries(failure ? { ...event, type: 'failed', errorCode: 'E_DISK_FULL' } : event);
      const k = shift % entries.length;
      return render([...entries.slice(k), ...entries.slice(0, k)], ws);
    }),
  },
  // Near misses: a key missing, a field replaced by an arbitrary JSON value, an extra or duplicated key, an
  // escape, a sign, a fraction, a non-ASCII character.
  fc.tuple(plainEvent, fc.nat()).map(([event, k]) =>
    render(
      Object.entries(event).filter((_, i) => i !== k % 11),
      '',
    ),
  ),
  fc
    .tuple(plainEvent, fc.constantFrom('attempt', 'at', 'type', 'deviceId', 'schemaVersion', 'x'), fc.jsonValue())
    .map(([event, key, value]) => render([...Object.entries(event), [key, value]], '')),
  // A key renamed: to nothing, a prefix or extension of a real key, a real key in other case, anything.
  fc
    .tuple(
      plainEvent,
      fc.nat(),
      fc.oneof(fc.constantFrom('', 'device', 'deviceIdX', 'deviceid', 'a', 'att', 'rolloutId ', 'type"'), fc.string()),
    )
    .map(([event, k, name]) => {
      const entries: [string, unknown][] = Object.entries(event);
      entries[k % entries.length]![0] = name;
      return render(entries, '');
    }),
  // Lengths at and just past each field's limit.
  fc
    .tuple(
      plainEvent,
      fc.constantFrom(['eventId', 128], ['deviceId', 128], ['offerId', 128], ['deviceClass', 64], ['osVersion', 64]),
      fc.integer({ min: -1, max: 1 }),
    )
    .map(([event, [key, limit], over]) => JSON.stringify({ ...event, [key]: 'a'.repeat(limit + over) })),
  fc
    .tuple(plainEvent, fc.constantFrom(0, 1, 999, 1000, 1001, 9999))
    .map(([event, attempt]) => JSON.stringify({ ...event, attempt })),
  fc
    .tuple(plainEvent, fc.integer({ min: 0, max: 66 }))
    .map(([event, n]) => JSON.stringify({ ...event, errorCode: 'E'.repeat(n) })),
  plainEvent.map((event) => JSON.stringify(event).replace('"deviceId":"', '"deviceId":"\\u0041')),
  plainEvent.map((event) =>
    JSON.stringify(event).replace('"attempt":', '"attempt":-').replace('"type"', '"ty\\u0070e"'),
  ),
  plainEvent.map((event) => JSON.stringify(event).replace(/"attempt":(\d+)/, '"attempt":$1.0')),
  plainEvent.map((event) => JSON.stringify({ ...event, deviceId: `${event.deviceId ?? 'd'} é` })),
  fc.jsonValue().map((v) => JSON.stringify(v) ?? ''),
  fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes).toString('latin1')),
);

describe('Report.readBytes', () => {
  it('reads a record only when the general path accepts it, and with the same values', () => {
    const fast = new Report();
    const general = new Report();
    const keys = testDeviceKeys();
    const keyOf = (r: Report) => {
      r.deviceKey(keys);
      return [keys.hi, keys.lo];
    };
    let read = 0;
    fc.assert(
      fc.property(record, (text) => {
        const bytes = Buffer.from(text, 'utf8');
        if (!fast.readBytes(bytes)) return;
        read++;
        const decoded = decodeRecord(bytes, 1 << 20);
        expect(decoded.kind).toBe('install');
        if (decoded.kind !== 'install') return;
        general.fromEvent(decoded.event);
        const view = (r: Report) => ({
          rolloutId: r.rolloutId,
          offerId: r.offerId,
          deviceClass: r.deviceClass,
          attempt: r.attempt,
          type: r.type,
          errorCode: r.errorCode,
          atMs: r.atMs,
          at: r.at(),
          cohort: r.cohort(),
          key: keyOf(r),
        });
        expect(view(fast)).toEqual(view(general));
        expect(general.cohort()).toBe(cohortOf(decoded.event.deviceId, decoded.event.rolloutId));
        expect(keyOf(general)).toEqual(keys.of(decoded.event.deviceId));
      }),
      { numRuns: 20_000 },
    );
    // The property above is empty if the scanner reads nothing: it must read a good share.
    expect(read).toBeGreaterThan(5_000);
  });

  it('reads every plain valid report (the shortcut is actually taken)', () => {
    const r = new Report();
    fc.assert(
      fc.property(plainEvent, fc.boolean(), (event, failure) => {
        const text = JSON.stringify(failure ? { ...event, type: 'failed', errorCode: 'E_BOOT_LOOP' } : event);
        expect(r.readBytes(Buffer.from(text))).toBe(true);
      }),
      { numRuns: 5_000 },
    );
  });

  it('leaves escapes, non-ASCII text, duplicate keys and non-integers to the general path', () => {
    const base = {
      eventId: 'e1',
      deviceId: 'd1',
      deviceClass: 'phone-a',
      rolloutId: 'r1',
      releaseId: 'rel',
      offerId: 'phone-a/p0a1',
      attempt: 1,
      type: 'succeeded',
      osVersion: '26.3.0',
      at: '2026-03-01T12:00:00Z',
      schemaVersion: 1,
    };
    const r = new Report();
    const text = JSON.stringify(base);
    expect(r.readBytes(Buffer.from(text))).toBe(true);
    for (const variant of [
      // After the valid record, the reader expects its key order: a renamed key must not pass for the expected one.
      text.replace('"deviceId"', '""'),
      text.replace('"deviceId"', '"device"'),
      text.replace('"deviceId"', '"deviceIdX"'),
      text.replace('"at"', '"a"'),
      text.replace('"d1"', '"d\\u0031"'),
      JSON.stringify({ ...base, osVersion: 'Gerät 1' }),
      text.replace('"attempt":1', '"attempt":1,"attempt":1'),
      text.replace('"attempt":1', '"attempt":1.0'),
      text.replace('"attempt":1', '"attempt":1e0'),
      text.replace('"schemaVersion":1', '"schemaVersion":01'),
      `\ufeff${text}`,
      `${text} x`,
    ]) {
      expect(r.readBytes(Buffer.from(variant))).toBe(false);
    }
    // The general path still reads the valid ones among them.
    expect(decodeRecord(Buffer.from(text.replace('"d1"', '"d\\u0031"')), 4096)).toMatchObject({
      kind: 'install',
      event: { deviceId: 'd1' },
    });
  });
});

describe('isoMillis', () => {
  const shaped = fc
    .tuple(
      fc.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/),
      fc.oneof(fc.constant(''), fc.stringMatching(/^\.\d{1,12}$/)),
      fc.oneof(fc.constant('Z'), fc.stringMatching(/^[+-]\d\d:\d\d$/), fc.constantFrom('z', '', '+0530', 'Z ')),
    )
    .map(([date, fraction, zone]) => date + fraction + zone);

  it('accepts exactly what TimestampSchema accepts (up to nine fraction digits), with the value of Date.parse', () => {
    fc.assert(
      fc.property(fc.oneof(shaped, datetime, fc.string({ maxLength: 40 })), (text) => {
        const bytes = Buffer.from(text, 'utf8');
        const ms = isoMillis(bytes, 0, bytes.length);
        const fraction = /\.(\d+)/.exec(text)?.[1] ?? '';
        if (fraction.length > 9) {
          expect(ms).toBeNaN();
          return;
        }
        expect(Number.isNaN(ms)).toBe(!TimestampSchema.safeParse(text).success);
        if (!Number.isNaN(ms)) expect(ms).toBe(Date.parse(text));
      }),
      { numRuns: 30_000 },
    );
  });

  it('knows leap years and month lengths', () => {
    const ms = (text: string) => isoMillis(Buffer.from(text), 0, text.length);
    expect(ms('2024-02-29T00:00:00Z')).toBe(Date.parse('2024-02-29T00:00:00Z'));
    expect(ms('2000-02-29T00:00:00Z')).toBe(Date.parse('2000-02-29T00:00:00Z'));
    expect(ms('1900-02-29T00:00:00Z')).toBeNaN();
    expect(ms('2026-04-31T00:00:00Z')).toBeNaN();
    expect(ms('2026-12-31T23:59:59.999-23:59')).toBe(Date.parse('2026-12-31T23:59:59.999-23:59'));
  });
});
