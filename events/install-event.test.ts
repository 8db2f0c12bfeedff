/** Install events guard a Kafka boundary: valid reports parse, hostile ones are refused with a path. */
import { InstallEventSchema, outcomeOf, INSTALL_EVENT_TYPES } from './install-event';

const valid = {
  eventId: 'ev-1',
  deviceId: 'dev-000123',
  deviceClass: 'laptop-x1',
  rolloutId: 'r-2026-03',
  releaseId: 'bsi-26.3',
  offerId: 'laptop-x1/p0a1',
  attempt: 1,
  type: 'failed',
  errorCode: 'E_DISK_FULL',
  osVersion: '26.3.0',
  at: '2026-03-01T12:00:00.123+02:00',
  schemaVersion: 1,
};

const pathsOf = (input: unknown) => InstallEventSchema.safeParse(input).error?.issues.map((i) => i.path.join('.'));

describe('install events', () => {
  test('a valid report parses unchanged', () => {
    expect(InstallEventSchema.parse(valid)).toEqual(valid);
    const { errorCode: _errorCode, ...succeeded } = { ...valid, type: 'succeeded' };
    expect(InstallEventSchema.parse(succeeded)).toEqual(succeeded);
  });

  test.each([
    ['an id longer than 128 chars', { deviceId: 'd'.repeat(129) }, 'deviceId'],
    ['an id with spaces or control characters', { eventId: 'a b\n' }, 'eventId'],
    ['an unknown field', { admin: true }, ''],
    ['an unknown type', { type: 'exploded' }, 'type'],
    ['attempt 0', { attempt: 0 }, 'attempt'],
    ['a fractional attempt', { attempt: 1.5 }, 'attempt'],
    ['a timestamp without zone', { at: '2026-03-01 12:00' }, 'at'],
    ['schema version 2', { schemaVersion: 2 }, 'schemaVersion'],
    ['an error code with spaces', { errorCode: 'rm -rf /' }, 'errorCode'],
    ['a device class with a dot', { deviceClass: 'a.b' }, 'deviceClass'],
    ['an error code on a success', { type: 'succeeded' }, 'errorCode'],
  ])('refuses %s', (_what, patch, path) => {
    expect(pathsOf({ ...valid, ...patch })).toEqual([path]);
  });

  test('a non-object is refused', () => expect(InstallEventSchema.safeParse('{"eventId":1}').success).toBe(false));

  test('outcomeOf tells progress from final outcomes', () => {
    expect(INSTALL_EVENT_TYPES.map(outcomeOf)).toEqual([
      'progress',
      'progress',
      'progress',
      'succeeded',
      'failed',
      'rolled-back',
      'rollback-failed',
    ]);
  });
});

test('outcomeOf throws on a type outside the schema', () => {
  expect(() => outcomeOf('exploded' as never)).toThrow(/unexpected type/);
});
