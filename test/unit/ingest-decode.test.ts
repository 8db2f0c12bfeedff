// The fast path accepts exactly what InstallEventSchema accepts (property test), and decodeRecord turns
// every kind of bad input into a reason instead of a throw.
import fc from 'fast-check';
import { INSTALL_EVENT_TYPES, InstallEventSchema } from '../../events/install-event';
import { decodeRecord, fastInstallEvent } from '../../ingest/decode';

const id = fc.stringMatching(/^[\x21-\x7e]{1,20}$/);
const validEvent = fc.record(
  {
    eventId: id,
    deviceId: id,
    deviceClass: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_-]{0,10}$/),
    rolloutId: id,
    releaseId: id,
    offerId: id,
    attempt: fc.integer({ min: 1, max: 1000 }),
    type: fc.constantFrom(...INSTALL_EVENT_TYPES),
    errorCode: fc.stringMatching(/^[A-Za-z0-9_.:-]{1,10}$/),
    osVersion: fc.string({ minLength: 1, maxLength: 64 }),
    at: fc
      .date({ min: new Date('1990-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true })
      .map((d) => d.toISOString()),
    schemaVersion: fc.constant(1),
  },
  {
    requiredKeys: [
      'eventId',
      'deviceId',
      'deviceClass',
      'rolloutId',
      'releaseId',
      'offerId',
      'attempt',
      'type',
      'osVersion',
      'at',
      'schemaVersion',
    ],
  },
);
const anyValue = fc.oneof(
  fc.jsonValue(),
  fc.string(),
  fc.integer(),
  fc.double(),
  fc.constant(null),
  fc.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?(Z|[+-]\d\d:\d\d)$/),
);
const keys = [
  'eventId',
  'deviceId',
  'deviceClass',
  'rolloutId',
  'releaseId',
  'offerId',
  'attempt',
  'type',
  'errorCode',
  'osVersion',
  'at',
  'schemaVersion',
  '__proto__',
  'extra',
];
const mutated = fc
  .tuple(validEvent, fc.constantFrom(...keys), anyValue, fc.boolean())
  .map(([event, key, value, remove]) => {
    const copy: Record<string, unknown> = JSON.parse(JSON.stringify(event));
    if (remove) delete copy[key];
    else Object.defineProperty(copy, key, { value, enumerable: true, writable: true, configurable: true });
    return JSON.parse(JSON.stringify(copy)) as unknown;
  });

describe('fastInstallEvent', () => {
  it('accepts exactly what InstallEventSchema accepts (valid, mutated and arbitrary JSON)', () => {
    fc.assert(
      fc.property(fc.oneof(validEvent, mutated, mutated, fc.jsonValue()), (value) => {
        expect(fastInstallEvent(value) !== undefined).toBe(InstallEventSchema.safeParse(value).success);
      }),
      { numRuns: 20_000 },
    );
  });

  it('rejects a __proto__ key from JSON text without polluting Object.prototype', () => {
    const text = JSON.stringify({
      eventId: 'e',
      deviceId: 'd',
      deviceClass: 'c',
      rolloutId: 'r',
      releaseId: 'x',
      offerId: 'o',
      attempt: 1,
      type: 'succeeded',
      osVersion: '1',
      at: '2026-01-01T00:00:00Z',
      schemaVersion: 1,
    }).replace('{', '{"__proto__":{"polluted":"yes"},');
    const decoded = decodeRecord(Buffer.from(text), 65536);
    expect(decoded).toMatchObject({ kind: 'reject', reason: 'invalid-event' });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('decodeRecord', () => {
  it('never throws and names a reason for every bad input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const decoded = decodeRecord(Buffer.from(bytes), 200);
        if (decoded.kind === 'reject') expect(decoded.reason).toMatch(/^[a-z-]+$/);
      }),
    );
  });

  it('classifies empty, oversized, bad JSON and unknown schema versions', () => {
    expect(decodeRecord(null, 10)).toMatchObject({ reason: 'empty' });
    expect(decodeRecord(Buffer.from('x'.repeat(11)), 10)).toMatchObject({ reason: 'oversized' });
    expect(decodeRecord(Buffer.from('{"a":'), 100)).toMatchObject({ reason: 'bad-json' });
    expect(decodeRecord(Buffer.from('{"schemaVersion":3}'), 100)).toMatchObject({ reason: 'unknown-schema-version' });
  });
});
