/**
 * A device report as the ingest's core reads it, and the scanner that reads one straight from the record's
 * bytes.
 *
 * Almost every record on `bsi.install-events` is a valid report in plain JSON: ASCII, no escapes, no
 * duplicate keys. For those, `readBytes` checks the bytes against the wire format in one pass and takes
 * out only what the core needs (rollout, offer, class, attempt, type, error code, the time in
 * milliseconds, where the device id lies), without building the JSON object, so it costs a fraction of
 * `JSON.parse`. It accepts only what `JSON.parse` followed by `InstallEventSchema` accepts, with the same
 * values (a property test compares the two on valid, mutated and arbitrary records); anything else (an
 * escape, a non-ASCII byte, a float, a missing or unknown key, an invalid field) makes it return false,
 * and the record takes the general path (`decodeRecord`: JSON.parse, then zod's words for the dead letter).
 */
import { cohortOf, cohortOfUtf8 } from '../events/cohort';
import {
  INSTALL_EVENT_TYPES,
  type InstallEvent,
  type InstallEventType,
  type InstallEventV2,
} from '../events/install-event';
import type { DeviceKeys } from '../events/device-keys';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN = 0x7b;
const CLOSE = 0x7d;

// Key indexes: the eleven required keys first, then the optional errorCode.
const KEYS = [
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
  'errorCode',
] as const;
const EVENT_ID = 0;
const DEVICE_ID = 1;
const DEVICE_CLASS = 2;
const ROLLOUT_ID = 3;
const RELEASE_ID = 4;
const OFFER_ID = 5;
const ATTEMPT = 6;
const TYPE = 7;
const OS_VERSION = 8;
const AT = 9;
const SCHEMA_VERSION = 10;
const ERROR_CODE = 11;
const ID_KEYS = [EVENT_ID, DEVICE_ID, ROLLOUT_ID, RELEASE_ID, OFFER_ID];
const ID_KEYS_MASK = ID_KEYS.reduce((mask, key) => mask | (1 << key), 0);
const REQUIRED = (1 << 11) - 1;
/** What a byte means inside a string value: printable ASCII, its end, a space, or anything the scanner leaves to JSON.parse. */
const PLAIN = 0;
const END = 1;
const SPACE = 2;
const INVALID = 3;
const STRING_BYTE = new Uint8Array(256).map((_, c) =>
  c === QUOTE ? END : c === 0x20 ? SPACE : c === BACKSLASH || c < 0x20 || c > 0x7e ? INVALID : PLAIN,
);
const KEY_BYTES = KEYS.map((k) => Buffer.from(k, 'latin1'));
const TYPE_BYTES = INSTALL_EVENT_TYPES.map((t) => Buffer.from(t, 'latin1'));

function isWhitespace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function skipWhitespace(b: Uint8Array, i: number, n: number): number {
  while (i < n && isWhitespace(b[i]!)) i++;
  return i;
}

function equalBytes(b: Uint8Array, start: number, end: number, expected: Uint8Array): boolean {
  if (end - start !== expected.length) return false;
  for (let i = 0; i < expected.length; i++) if (b[start + i] !== expected[i]) return false;
  return true;
}

/** The index in `candidates` of the bytes `b[start..end)`, or -1. */
function indexOf(b: Uint8Array, start: number, end: number, candidates: readonly Uint8Array[]): number {
  for (let k = 0; k < candidates.length; k++) if (equalBytes(b, start, end, candidates[k]!)) return k;
  return -1;
}

/** `previous` when the ASCII bytes `b[start..end)` spell it (the usual case: one rollout, one offer), else them as a string. */
function asciiString(b: Buffer, start: number, end: number, previous: string): string {
  if (previous.length === end - start) {
    let i = 0;
    while (i < previous.length && previous.charCodeAt(i) === b[start + i]) i++;
    if (i === previous.length) return previous;
  }
  return b.toString('latin1', start, end);
}

function isAlnum(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

/** `DeviceClassSchema`: 1 to 64 of [A-Za-z0-9_-], starting with a letter or digit. */
function isDeviceClass(b: Uint8Array, start: number, end: number): boolean {
  if (end - start < 1 || end - start > 64 || !isAlnum(b[start]!)) return false;
  for (let i = start + 1; i < end; i++) {
    const c = b[i]!;
    if (!isAlnum(c) && c !== 0x5f && c !== 0x2d) return false;
  }
  return true;
}

/** `ErrorCodeSchema`: 1 to 64 of [A-Za-z0-9_.:-]. */
function isErrorCode(b: Uint8Array, start: number, end: number): boolean {
  if (end - start < 1 || end - start > 64) return false;
  for (let i = start; i < end; i++) {
    const c = b[i]!;
    if (!isAlnum(c) && c !== 0x5f && c !== 0x2e && c !== 0x3a && c !== 0x2d) return false;
  }
  return true;
}

/** The decimal number in `b[start..start+n)`, or -1 when one of them is not a digit. */
function digits(b: Uint8Array, start: number, n: number): number {
  let v = 0;
  for (let i = start; i < start + n; i++) {
    const d = (b[i] ?? -1) - 0x30;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** Longest fraction read here; longer ones (legal, but never sent by a device) go the general way. */
const MAX_FRACTION_DIGITS = 9;

/**
 * `Date.parse` of `b[start..end)` when it matches `TimestampSchema` (`z.iso.datetime({ offset: true })`:
 * `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, real calendar dates only), else NaN.
 */
export function isoMillis(b: Uint8Array, start: number, end: number): number {
  if (end - start < 20) return NaN;
  const year = digits(b, start, 4);
  const month = digits(b, start + 5, 2);
  const day = digits(b, start + 8, 2);
  const hour = digits(b, start + 11, 2);
  const minute = digits(b, start + 14, 2);
  const second = digits(b, start + 17, 2);
  if (
    year < 0 ||
    b[start + 4] !== 0x2d ||
    b[start + 7] !== 0x2d ||
    b[start + 10] !== 0x54 ||
    b[start + 13] !== COLON ||
    b[start + 16] !== COLON ||
    month < 1 ||
    month > 12 ||
    day < 1 ||
    hour < 0 ||
    hour > 23 ||
    minute < 0 ||
    minute > 59 ||
    second < 0 ||
    second > 59
  ) {
    return NaN;
  }
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  if (day > (month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1]!)) return NaN;
  let i = start + 19;
  let millis = 0;
  if (b[i] === 0x2e) {
    const from = ++i;
    while (i < end && b[i]! >= 0x30 && b[i]! <= 0x39) i++;
    const n = i - from;
    if (n === 0 || n > MAX_FRACTION_DIGITS) return NaN;
    // Date.parse keeps milliseconds and drops the rest of the fraction.
    millis = digits(b, from, Math.min(n, 3)) * (n === 1 ? 100 : n === 2 ? 10 : 1);
  }
  let offsetMinutes = 0;
  if (b[i] === 0x5a) {
    if (i + 1 !== end) return NaN;
  } else if (b[i] === 0x2b || b[i] === 0x2d) {
    const oh = digits(b, i + 1, 2);
    const om = digits(b, i + 4, 2);
    if (i + 6 !== end || b[i + 3] !== COLON || oh < 0 || oh > 23 || om < 0 || om > 59) return NaN;
    offsetMinutes = (b[i] === 0x2b ? 1 : -1) * (oh * 60 + om);
  } else {
    return NaN;
  }
  const days = daysFromCivil(year, month, day);
  return days * 86_400_000 + ((hour * 60 + minute - offsetMinutes) * 60 + second) * 1000 + millis;
}

/**
 * One device report, reused from record to record (the core keeps nothing of it). Filled either by
 * `readBytes` from a record's bytes or by `fromEvent` from an event the general path decoded.
 */
export class Report {
  rolloutId = '';
  offerId = '';
  deviceClass = '';
  attempt = 0;
  type: InstallEventType = 'succeeded';
  errorCode: string | undefined = undefined;
  /** `at` in epoch milliseconds (as `Date.parse` reads it). */
  atMs = 0;
  private event: InstallEvent | InstallEventV2 | null = null;
  private bytes: Buffer = Buffer.alloc(0);
  private readonly starts = new Int32Array(KEYS.length);
  private readonly ends = new Int32Array(KEYS.length);
  /** The key that followed each key (index + 1; 0: the first key) in the last record read, -1 when unknown. */
  private readonly follows = new Int8Array(KEYS.length + 1).fill(-1);

  /** Takes a report the general path decoded. */
  fromEvent(e: InstallEvent | InstallEventV2): this {
    this.event = e;
    this.rolloutId = e.rolloutId;
    this.offerId = e.offerId;
    this.deviceClass = e.deviceClass;
    this.attempt = e.attempt;
    this.type = e.type;
    this.errorCode = e.errorCode;
    this.atMs = Date.parse(e.at);
    return this;
  }

  /**
   * Reads a report straight from a record's bytes; false when the record is not a valid report in plain
   * JSON (the caller then decodes it the general way, which also explains a rejection).
   */
  readBytes(b: Buffer): boolean {
    const { starts, ends, follows } = this;
    const n = b.length;
    let seen = 0;
    let previous = -1;
    let attempt = 0;
    // Whether a string value held a space (ids may not); other characters are checked while scanning.
    let spaced = 0;
    let i = skipWhitespace(b, 0, n);
    if (i >= n || b[i++] !== OPEN) return false;
    i = skipWhitespace(b, i, n);
    for (;;) {
      if (i >= n || b[i] !== QUOTE) return false;
      const keyStart = ++i;
      // Producers write their keys in one order: try the key that came after this one last time first.
      let key = follows[previous + 1]!;
      const guess = key >= 0 ? KEY_BYTES[key]! : null;
      const keyEnd = guess === null ? -1 : keyStart + guess.length;
      if (guess !== null && keyEnd < n && b[keyEnd] === QUOTE && equalBytes(b, keyStart, keyEnd, guess)) {
        i = keyEnd;
      } else {
        while (i < n && b[i] !== QUOTE) i++;
        key = indexOf(b, keyStart, i, KEY_BYTES);
        if (key >= 0) follows[previous + 1] = key;
      }
      if (key < 0 || (seen & (1 << key)) !== 0) return false;
      seen |= 1 << key;
      previous = key;
      i = skipWhitespace(b, i + 1, n);
      if (i >= n || b[i] !== COLON) return false;
      i = skipWhitespace(b, i + 1, n);
      if (i >= n) return false;
      if (key === ATTEMPT || key === SCHEMA_VERSION) {
        // A positive integer of at most four digits (no sign, fraction, exponent or leading zero).
        const from = i;
        let value = 0;
        while (i < n) {
          const d = b[i]! - 0x30;
          if (d < 0 || d > 9) break;
          value = value * 10 + d;
          i++;
        }
        if (i === from || i - from > 4 || b[from] === 0x30) return false;
        if (key === ATTEMPT) attempt = value;
        else if (value !== 1) return false;
      } else {
        if (b[i] !== QUOTE) return false;
        const from = ++i;
        // Printable ASCII only: an escape, a control or a non-ASCII byte goes the general way.
        let space = 0;
        for (; ; i++) {
          if (i >= n) return false;
          const kind = STRING_BYTE[b[i]!]!;
          if (kind === PLAIN) continue;
          if (kind === END) break;
          if (kind === INVALID) return false;
          space = 1;
        }
        spaced |= space << key;
        starts[key] = from;
        ends[key] = i++;
      }
      i = skipWhitespace(b, i, n);
      if (i >= n) return false;
      if (b[i] === COMMA) {
        i = skipWhitespace(b, i + 1, n);
        continue;
      }
      if (b[i] !== CLOSE || skipWhitespace(b, i + 1, n) !== n) return false;
      break;
    }
    if ((seen & REQUIRED) !== REQUIRED) return false;
    if (attempt < 1 || attempt > 1000) return false;
    if ((spaced & ID_KEYS_MASK) !== 0) return false;
    for (const key of ID_KEYS) {
      const length = ends[key]! - starts[key]!;
      if (length < 1 || length > 128) return false;
    }
    if (!isDeviceClass(b, starts[DEVICE_CLASS]!, ends[DEVICE_CLASS]!)) return false;
    const type = indexOf(b, starts[TYPE]!, ends[TYPE]!, TYPE_BYTES);
    if (type < 0) return false;
    const osLength = ends[OS_VERSION]! - starts[OS_VERSION]!;
    if (osLength < 1 || osLength > 64) return false;
    const atMs = isoMillis(b, starts[AT]!, ends[AT]!);
    if (Number.isNaN(atMs)) return false;
    const typeName = INSTALL_EVENT_TYPES[type]!;
    let errorCode: string | undefined;
    if ((seen & (1 << ERROR_CODE)) !== 0) {
      if (typeName !== 'failed' && typeName !== 'rollback-failed') return false;
      if (!isErrorCode(b, starts[ERROR_CODE]!, ends[ERROR_CODE]!)) return false;
      errorCode = asciiString(b, starts[ERROR_CODE]!, ends[ERROR_CODE]!, this.errorCode ?? '');
    }
    this.event = null;
    this.bytes = b;
    this.rolloutId = asciiString(b, starts[ROLLOUT_ID]!, ends[ROLLOUT_ID]!, this.rolloutId);
    this.offerId = asciiString(b, starts[OFFER_ID]!, ends[OFFER_ID]!, this.offerId);
    this.deviceClass = asciiString(b, starts[DEVICE_CLASS]!, ends[DEVICE_CLASS]!, this.deviceClass);
    this.attempt = attempt;
    this.type = typeName;
    this.errorCode = errorCode;
    this.atMs = atMs;
    return true;
  }

  /** The report's `at` as sent (for messages). */
  at(): string {
    return this.event !== null ? this.event.at : this.bytes.toString('latin1', this.starts[AT], this.ends[AT]);
  }

  /**
   * The device's cohort bucket under `salt` (`cohortOf`): its lane's cohort salt, which is the report's rollout id
   * unless the lane supersedes another rollout (`LaneConfig.cohortSalt`).
   */
  cohort(salt: string = this.rolloutId): number {
    if (this.event !== null) return cohortOf(this.event.deviceId, salt);
    return cohortOfUtf8(this.bytes, this.starts[DEVICE_ID]!, this.ends[DEVICE_ID]!, salt);
  }

  /**
   * Computes the device's 64-bit table key into `keys.hi`/`keys.lo` (`DeviceKeys`), from the record's bytes
   * when the report was read from them (no string is made of the id).
   */
  deviceKey(keys: DeviceKeys): void {
    if (this.event !== null) keys.of(this.event.deviceId);
    else keys.ofRange(this.bytes, this.starts[DEVICE_ID]!, this.ends[DEVICE_ID]!);
  }
}
