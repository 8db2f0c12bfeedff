// Fuzzing the ingest's Kafka boundary (≥ 10,000 cases each): arbitrary record values — bytes, broken and valid
// JSON, near-valid reports, timeout markers, oversized values — go through `decodeRecord` and the whole
// `IngestCore.handle`; each is accepted (an install report, a timeout marker, counted) or refused with a reason
// from the dead-letter vocabulary and a message; nothing throws. Then the memory bound: floods of unknown device
// ids and unknown rollout ids leave the device table at its cap, refused as `capacity` / `unknown-rollout`,
// and the cap and the refusals are visible in the ingest's metrics.
import fc from 'fast-check';
import { makeEvent, type EventOf } from '../../events/domain-events';
import { INSTALL_EVENT_TYPES } from '../../events/install-event';
import { laneConfigOf, validatePlan } from '../../events/plan';
import { RolloutCatalogue } from '../../ingest/catalogue';
import { IngestCore } from '../../ingest/core';
import { REJECT_REASONS, decodeRecord } from '../../ingest/decode';
import { createMetrics } from '../../ingest/metrics';
import { testDeviceKeys } from '../support/device-keys';

const RUNS = 10_000;
const R = 'r-fuzz';
const LANE = 'phone-a';
const OFFER = 'phone-a/p0a1';
const AT = '2026-03-01T12:00:00Z';
const TS = Date.parse(AT);
const MAX_BYTES = 4096;
const FLOOD = 30_000;

function core(maxDevices: number): IngestCore {
  const plan = validatePlan({
    releaseId: 'rel',
    artifact: { build: '26.3.1' },
    deviceClasses: [LANE],
    phases: [{ share: 100, bake: '1h' }],
    thresholds: { maxFailureRate: 0.5, minSample: 10, installTimeoutSec: 60, rule: 'plain' },
    breachPolicy: { action: 'pause' },
  });
  if (!plan.ok) throw new Error('plan');
  const catalogue = new RolloutCatalogue();
  catalogue.apply(
    makeEvent<EventOf<'lane-started'>>({
      rolloutId: R,
      lane: LANE,
      seq: 0,
      at: AT,
      type: 'lane-started',
      data: { config: laneConfigOf(plan.plan, LANE) },
    }),
  );
  catalogue.apply(
    makeEvent<EventOf<'exposure-issued'>>({
      rolloutId: R,
      lane: LANE,
      seq: 1,
      at: AT,
      type: 'exposure-issued',
      data: { phase: 0, attempt: 1, cohortBound: 10000, offerId: OFFER, artifact: { build: '26.3.1' }, bakeUntil: AT },
    }),
  );
  return new IngestCore(catalogue, {
    maxMessageBytes: MAX_BYTES,
    maxDevices,
    maxClockSkewSec: 3600,
    deviceKeys: testDeviceKeys(),
  });
}

const valid = {
  eventId: 'e1',
  deviceId: 'dev-1',
  deviceClass: LANE,
  rolloutId: R,
  releaseId: 'rel',
  offerId: OFFER,
  attempt: 1,
  type: 'succeeded',
  osVersion: '26.3.0',
  at: AT,
  schemaVersion: 1,
};
const KEYS = [...Object.keys(valid), 'errorCode', 'kind', 'v', 'deviceKey', '__proto__', 'constructor'];
const hostileValue = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.string({ maxLength: 200 }),
  fc.constantFrom(...INSTALL_EVENT_TYPES, 'install-timeout', '', 'x'.repeat(300), -1, 0, 1e308, 1001, null),
  fc.integer(),
  fc.double(),
);
/** A near-valid report: the valid one with some fields replaced, removed or added. */
const mutated = fc
  .record({
    set: fc.dictionary(fc.constantFrom(...KEYS), hostileValue, { maxKeys: 3 }),
    drop: fc.subarray(Object.keys(valid), { maxLength: 2 }),
    deviceId: fc.string({ minLength: 1, maxLength: 20 }),
  })
  .map(({ set, drop, deviceId }) => {
    const o: Record<string, unknown> = { ...valid, eventId: `e-${deviceId}`, deviceId };
    for (const k of drop) delete o[k];
    for (const [k, v] of Object.entries(set)) Object.defineProperty(o, k, { value: v, enumerable: true });
    return Buffer.from(JSON.stringify(o));
  });
const record: fc.Arbitrary<Buffer | null> = fc.oneof(
  mutated,
  fc.jsonValue({ maxDepth: 4 }).map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
  fc.string({ maxLength: 300 }).map((s) => Buffer.from(s)),
  fc.nat({ max: 20_000 }).map((n) => Buffer.alloc(MAX_BYTES + n, 0x20)),
  fc.constant(null),
  fc.constant(Buffer.alloc(0)),
  fc.nat({ max: 5000 }).map((depth) => Buffer.from('['.repeat(depth) + ']'.repeat(depth))),
);

const REASONS: ReadonlySet<string> = new Set(REJECT_REASONS);

test(`${RUNS} record values: decoded as a report or marker, or refused with a dead-letter reason`, () => {
  const tally: Record<string, number> = {};
  fc.assert(
    fc.property(record, (bytes) => {
      const d = decodeRecord(bytes, MAX_BYTES);
      tally[d.kind] = (tally[d.kind] ?? 0) + 1;
      if (d.kind === 'reject') {
        expect(REASONS.has(d.reason)).toBe(true);
        expect(d.message.length).toBeGreaterThan(0);
        expect(d.message.length).toBeLessThanOrEqual(1000);
      }
      if (bytes !== null && bytes.length > MAX_BYTES) expect(d).toMatchObject({ kind: 'reject', reason: 'oversized' });
    }),
    { numRuns: RUNS, seed: 8_2026 },
  );
  expect(tally.install).toBeGreaterThan(100);
  expect(tally.reject).toBeGreaterThan(1000);
});

test(`${RUNS} record values through the ingest core: counted, ignored, or refused with a reason`, () => {
  const c = core(1_000_000);
  let offset = 0;
  const kinds: Record<string, number> = {};
  fc.assert(
    fc.property(record, (bytes) => {
      const result = c.handle(0, offset++, TS, bytes);
      kinds[result.kind] = (kinds[result.kind] ?? 0) + 1;
      if (result.kind === 'reject' || result.kind === 'unknown') {
        expect(REASONS.has(result.reason)).toBe(true);
        expect(result.message.length).toBeGreaterThan(0);
      }
    }),
    { numRuns: RUNS, seed: 8_2027 },
  );
  expect(kinds.counted).toBeGreaterThan(100);
});

test('a flood of unknown device ids stops at the device-table cap, refused as capacity; memory stays bounded', () => {
  const cap = 2000;
  const c = core(cap);
  const results: Record<string, number> = {};
  const heapBefore = process.memoryUsage().heapUsed;
  let bytesAtCap = 0;
  for (let i = 0; i < FLOOD; i++) {
    if (i === cap) bytesAtCap = c.table.byteLength;
    const deviceId = `flood-${i.toString(36)}-${(i * 2654435761) >>> 0}`;
    const bytes = Buffer.from(JSON.stringify({ ...valid, eventId: `f${i}`, deviceId }));
    const r = c.handle(1, i, TS, bytes);
    const key = r.kind === 'reject' ? r.reason : r.kind;
    results[key] = (results[key] ?? 0) + 1;
  }
  expect(c.table.size).toBe(cap);
  expect(results.counted).toBe(cap);
  expect(results.capacity).toBe(FLOOD - cap);
  // The table's typed arrays stop growing at the cap, whatever the flood.
  expect(c.table.byteLength).toBe(bytesAtCap);
  expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(64 * 1024 * 1024);
});

test('a flood of unknown rollout ids is refused as unknown-rollout and tracks nothing', () => {
  const c = core(1000);
  for (let i = 0; i < FLOOD / 2; i++) {
    const rolloutId = `ghost-${i}`;
    const bytes = Buffer.from(JSON.stringify({ ...valid, eventId: `g${i}`, deviceId: `d${i}`, rolloutId }));
    expect(c.handle(2, i, TS, bytes)).toMatchObject({ kind: 'unknown', reason: 'unknown-rollout' });
  }
  expect(c.table.size).toBe(0);
});

test('the cap and the refusals are visible in the metrics', async () => {
  const metrics = createMetrics();
  const text = await metrics.registry.metrics();
  expect(text).toContain('bsi_ingest_tracked_devices');
  expect(text).toContain('bsi_ingest_device_table_bytes');
  expect(text).toContain('bsi_ingest_dead_letters_total{reason="capacity"} 0');
  expect(text).toContain('bsi_ingest_dead_letters_total{reason="unknown-rollout"} 0');
  expect(text).toContain('bsi_ingest_dead_letters_total{reason="oversized"} 0');
});
