/**
 * Maintenance windows as specifications: in a time zone, on these days and hours, is an order allowed now, and when
 * does the next window open? Across offsets that are not whole hours, midnight-crossing windows, and the days the
 * clocks jump (spring forward: a skipped hour; fall back: a repeated hour).
 */
import { MaintenanceWindowsSchema, describeWindows, isWindowOpen, windowAt, type Weekday } from './maintenance-window';

const EVERY_DAY: Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const windows = (timeZone: string, start: string, end: string, days: Weekday[] = EVERY_DAY) =>
  MaintenanceWindowsSchema.parse({ timeZone, windows: [{ days, start, end }] });

describe('maintenance windows: time zones', () => {
  test('Asia/Kolkata (+05:30): 01:00–05:00 local is 19:30–23:30 UTC the day before', () => {
    const w = windows('Asia/Kolkata', '01:00', '05:00');
    expect(windowAt(w, '2026-03-07T12:00:00Z')).toEqual({
      opensAt: '2026-03-07T19:30:00.000Z',
      closesAt: '2026-03-07T23:30:00.000Z',
    });
    expect(isWindowOpen(w, '2026-03-07T19:29:59Z')).toBe(false);
    expect(isWindowOpen(w, '2026-03-07T19:30:00Z')).toBe(true);
    expect(isWindowOpen(w, '2026-03-07T23:29:59Z')).toBe(true);
    expect(isWindowOpen(w, '2026-03-07T23:30:00Z')).toBe(false);
  });

  test('inside a window, windowAt says it is open now and when it closes', () => {
    const w = windows('Asia/Kolkata', '01:00', '05:00');
    expect(windowAt(w, '2026-03-07T20:00:00Z')).toEqual({
      opensAt: '2026-03-07T20:00:00.000Z',
      closesAt: '2026-03-07T23:30:00.000Z',
    });
  });

  test('America/Los_Angeles: a Friday 22:00–02:00 window crosses midnight into Saturday', () => {
    const w = windows('America/Los_Angeles', '22:00', '02:00', ['fri']);
    // Friday 2026-03-06 22:00 PST = Saturday 06:00 UTC; Saturday 01:00 PST is still in it, 02:00 is not.
    expect(isWindowOpen(w, '2026-03-07T06:00:00Z')).toBe(true);
    expect(isWindowOpen(w, '2026-03-07T09:00:00Z')).toBe(true);
    expect(isWindowOpen(w, '2026-03-07T10:00:00Z')).toBe(false);
    // The next one is Friday 2026-03-13, after the switch to PDT (UTC−7): 05:00 UTC.
    expect(windowAt(w, '2026-03-07T12:00:00Z')).toEqual({
      opensAt: '2026-03-14T05:00:00.000Z',
      closesAt: '2026-03-14T09:00:00.000Z',
    });
  });

  test('days are the local days the window starts on: Monday 01:00 in Berlin is Sunday 23:00 UTC in summer', () => {
    const w = windows('Europe/Berlin', '01:00', '05:00', ['mon']);
    expect(windowAt(w, '2026-06-06T12:00:00Z').opensAt).toBe('2026-06-07T23:00:00.000Z');
    expect(isWindowOpen(w, '2026-06-08T23:30:00Z')).toBe(false);
  });
});

describe('maintenance windows: daylight-saving days', () => {
  test('Europe/Berlin 2026-03-29 (02:00 → 03:00): a window starting at 02:30 opens when the clock jumps, 01:00 UTC', () => {
    const w = windows('Europe/Berlin', '02:30', '05:00', ['sun']);
    expect(windowAt(w, '2026-03-28T12:00:00Z')).toEqual({
      opensAt: '2026-03-29T01:00:00.000Z',
      closesAt: '2026-03-29T03:00:00.000Z',
    });
    expect(isWindowOpen(w, '2026-03-29T00:59:59Z')).toBe(false);
    expect(isWindowOpen(w, '2026-03-29T01:00:00Z')).toBe(true);
  });

  test('Europe/Berlin 2026-10-25 (03:00 → 02:00): 01:00–05:00 lasts five hours of real time', () => {
    const w = windows('Europe/Berlin', '01:00', '05:00', ['sun']);
    expect(windowAt(w, '2026-10-24T12:00:00Z')).toEqual({
      opensAt: '2026-10-24T23:00:00.000Z',
      closesAt: '2026-10-25T04:00:00.000Z',
    });
    // Both 02:30 CEST (00:30 UTC) and 02:30 CET (01:30 UTC) are inside.
    expect(isWindowOpen(w, '2026-10-25T00:30:00Z')).toBe(true);
    expect(isWindowOpen(w, '2026-10-25T01:30:00Z')).toBe(true);
  });

  test('America/New_York 2026-03-08 (02:00 → 03:00): 02:30 does not exist, so the window opens at 03:00 EDT', () => {
    const w = windows('America/New_York', '02:30', '05:00', ['sun']);
    expect(windowAt(w, '2026-03-07T12:00:00Z')).toEqual({
      opensAt: '2026-03-08T07:00:00.000Z',
      closesAt: '2026-03-08T09:00:00.000Z',
    });
  });

  test('America/New_York 2026-11-01 (02:00 → 01:00): 01:00 happens twice; the window opens at the first, 01:00 EDT', () => {
    const w = windows('America/New_York', '01:00', '05:00', ['sun']);
    expect(windowAt(w, '2026-10-31T12:00:00Z')).toEqual({
      opensAt: '2026-11-01T05:00:00.000Z',
      closesAt: '2026-11-01T10:00:00.000Z',
    });
  });

  test('a midnight-crossing window over a fall-back night: Saturday 22:00 to Sunday 03:00 in New York', () => {
    const w = windows('America/New_York', '22:00', '03:00', ['sat']);
    // 22:00 EDT = 02:00 UTC; 03:00 EST = 08:00 UTC: six hours of real time for five on the clock.
    expect(windowAt(w, '2026-10-31T12:00:00Z')).toEqual({
      opensAt: '2026-11-01T02:00:00.000Z',
      closesAt: '2026-11-01T08:00:00.000Z',
    });
  });
});

describe('maintenance windows: plan validation', () => {
  test('an unknown time zone is refused with the rule', () => {
    const result = MaintenanceWindowsSchema.safeParse({
      timeZone: 'Europe/Berln',
      windows: [{ days: ['mon'], start: '01:00', end: '05:00' }],
    });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]).toMatchObject({
      path: ['timeZone'],
      message: 'unknown time zone "Europe/Berln": give an IANA name such as Europe/Berlin',
    });
  });

  test('days and clock times are checked', () => {
    const result = MaintenanceWindowsSchema.safeParse({
      timeZone: 'UTC',
      windows: [{ days: ['monday'], start: '1:00', end: '24:00' }],
    });
    expect(result.error?.issues.map((i) => i.path.join('.'))).toEqual([
      'windows.0.days.0',
      'windows.0.start',
      'windows.0.end',
    ]);
  });

  test('in words', () => {
    expect(describeWindows(windows('Europe/Berlin', '01:00', '05:00', ['mon', 'tue']))).toBe(
      'mon,tue 01:00–05:00 (Europe/Berlin)',
    );
  });
});
