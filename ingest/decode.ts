/**
 * Decoding of one `bsi.install-events` record: size check, safe JSON parse, then either the ingest's own
 * timeout marker or a device record. (The core first tries `device-report-scanner.ts`, which reads a plain valid
 * report straight from the bytes; every other record comes here.) Version-1 install events go through a hand-written
 * fast path that accepts exactly what `InstallEventSchema` accepts (a property test proves the equivalence on arbitrary
 * JSON); everything else — version-2 records (install events and health reports) and rejected input — is read by
 * `readDeviceRecord` (zod), whose issues become the dead-letter message. Zod on every one of
 * a million events costs more than Kafka itself; the fast path costs about as much as `JSON.parse`.
 *
 * Safety: `JSON.parse` defines `__proto__` as an ordinary own property (it never calls the setter), and
 * both the fast path and the strict zod schema reject unknown keys, so such input is dead-lettered and
 * never spread into another object.
 */
import { readDeviceRecord, upcastInstallEventV1, describeIssues } from '../events/device-record';
import type { HealthReport } from '../events/health-report';
import { INSTALL_EVENT_TYPES, type InstallEvent, type InstallEventV2 } from '../events/install-event';
import { TIMEOUT_MARKER_KIND, TimeoutMarkerSchema, type TimeoutMarker } from './timeout-marker';

/** Why a record was dead-lettered: a stable code for dashboards plus a human message. */
export type RejectReason =
  | 'empty'
  | 'oversized'
  | 'bad-json'
  | 'unknown-schema-version'
  | 'invalid-event'
  | 'invalid-timeout-marker'
  | 'clock-skew'
  | 'unknown-rollout'
  | 'unknown-offer'
  | 'wrong-lane'
  | 'outside-cohort'
  | 'attempt-not-issued'
  | 'wrong-offer-kind'
  | 'orphan-timeout-marker'
  | 'capacity';

/** Every reject reason, for metrics initialisation and docs. */
export const REJECT_REASONS: readonly RejectReason[] = [
  'empty',
  'oversized',
  'bad-json',
  'unknown-schema-version',
  'invalid-event',
  'invalid-timeout-marker',
  'clock-skew',
  'unknown-rollout',
  'unknown-offer',
  'wrong-lane',
  'outside-cohort',
  'attempt-not-issued',
  'wrong-offer-kind',
  'orphan-timeout-marker',
  'capacity',
];

/** The result of decoding one record. */
export type Decoded =
  | { kind: 'install'; event: InstallEventV2 }
  | { kind: 'health'; report: HealthReport }
  | { kind: 'timeout'; marker: TimeoutMarker }
  | { kind: 'reject'; reason: RejectReason; message: string; health?: true };

const ID = /^[\x21-\x7e]+$/;
const DEVICE_CLASS = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;
const ERROR_CODE = /^[A-Za-z0-9_.:-]+$/;
// The pattern zod 4 uses for z.iso.datetime({ offset: true }); the equivalence test guards against drift.
const DATETIME =
  /^(?:(?:\d\d[2468][048]|\d\d[13579][26]|\d\d0[48]|[02468][048]00|[13579][26]00)-02-29|\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)|(?:02)-(?:0[1-9]|1\d|2[0-8])))T(?:(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?(?:Z|([+-](?:[01]\d|2[0-3]):[0-5]\d)))$/;
const TYPES: ReadonlySet<unknown> = new Set(INSTALL_EVENT_TYPES);

function isId(v: unknown): boolean {
  return typeof v === 'string' && v.length >= 1 && v.length <= 128 && ID.test(v);
}

/**
 * The fast path: returns the value typed as an `InstallEvent` when `InstallEventSchema` would accept it,
 * otherwise undefined. Hand-checked field by field (no allocation); must stay equivalent to the schema,
 * which `test/unit/ingest-decode.test.ts` checks with fast-check on valid, mutated and arbitrary values.
 */
export function fastInstallEvent(value: unknown): InstallEvent | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const o = value as Record<string, unknown>;
  let required = 0;
  for (const key of Object.keys(o)) {
    switch (key) {
      case 'eventId':
      case 'deviceId':
      case 'deviceClass':
      case 'rolloutId':
      case 'releaseId':
      case 'offerId':
      case 'attempt':
      case 'type':
      case 'osVersion':
      case 'at':
      case 'schemaVersion':
        required++;
        break;
      case 'errorCode':
        break;
      default:
        return undefined;
    }
  }
  if (required !== 11) return undefined;
  if (!isId(o.eventId) || !isId(o.deviceId) || !isId(o.rolloutId) || !isId(o.releaseId) || !isId(o.offerId)) {
    return undefined;
  }
  const deviceClass = o.deviceClass;
  if (typeof deviceClass !== 'string' || deviceClass.length > 64 || !DEVICE_CLASS.test(deviceClass)) return undefined;
  const attempt = o.attempt;
  if (typeof attempt !== 'number' || !Number.isInteger(attempt) || attempt < 1 || attempt > 1000) return undefined;
  const type = o.type;
  if (!TYPES.has(type)) return undefined;
  const os = o.osVersion;
  if (typeof os !== 'string' || os.length < 1 || os.length > 64) return undefined;
  if (typeof o.at !== 'string' || !DATETIME.test(o.at)) return undefined;
  if (o.schemaVersion !== 1) return undefined;
  const code = o.errorCode;
  if (code !== undefined) {
    if (typeof code !== 'string' || code.length < 1 || code.length > 64 || !ERROR_CODE.test(code)) return undefined;
    if (type !== 'failed' && type !== 'rollback-failed') return undefined;
  }
  return o as InstallEvent;
}

/** Reads a value that failed the fast path as a version-2 device record, or rejects it with zod's issues. */
function decodeOther(value: unknown): Decoded {
  const result = readDeviceRecord(value);
  if (!result.ok) {
    const health =
      typeof value === 'object' && value !== null && (value as { type?: unknown }).type === 'health-report';
    return { kind: 'reject', ...result.error, ...(health && { health: true as const }) };
  }
  const record = result.record;
  return record.type === 'health-report' ? { kind: 'health', report: record } : { kind: 'install', event: record };
}

/**
 * Decodes one record value: `empty` for a missing value, `oversized` above `maxBytes` (not parsed at
 * all), `bad-json` when it is not JSON, a timeout marker when it carries `kind: install-timeout`, else a
 * device record: a version-1 install event via the fast path, anything else via zod (which explains a rejection);
 * install events of either version come back as version 2. Never throws.
 */
export function decodeRecord(bytes: Buffer | null, maxBytes: number): Decoded {
  if (bytes === null || bytes.length === 0) return { kind: 'reject', reason: 'empty', message: 'record has no value' };
  if (bytes.length > maxBytes) {
    return { kind: 'reject', reason: 'oversized', message: `${bytes.length} bytes > ${maxBytes}` };
  }
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    return { kind: 'reject', reason: 'bad-json', message: (err as Error).message.slice(0, 300) };
  }
  const event = fastInstallEvent(value);
  if (event !== undefined) return { kind: 'install', event: upcastInstallEventV1(event) };
  if (
    typeof value === 'object' &&
    value !== null &&
    Object.hasOwn(value, 'kind') &&
    (value as { kind: unknown }).kind === TIMEOUT_MARKER_KIND
  ) {
    const marker = TimeoutMarkerSchema.safeParse(value);
    return marker.success
      ? { kind: 'timeout', marker: marker.data }
      : { kind: 'reject', reason: 'invalid-timeout-marker', message: describeIssues(marker.error.issues) };
  }
  return decodeOther(value);
}
