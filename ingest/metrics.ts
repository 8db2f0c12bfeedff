/**
 * The ingest's Prometheus metrics (prom-client) and the HTTP endpoint that serves them with `/healthz`.
 * One registry per service instance so tests can run several in one process.
 */
import type http from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { serveRegistry } from '../observability/metrics-server';
import { REJECT_REASONS } from './decode';

/** What became of a health report, as `bsi_ingest_health_reports_total` counts it. */
export const HEALTH_REPORT_RESULTS = ['routed', 'neither', 'no-lane', 'duplicate', 'dead-lettered'] as const;
export type HealthReportResult = (typeof HEALTH_REPORT_RESULTS)[number];

/** The metrics the ingest maintains. */
export interface IngestMetrics {
  registry: Registry;
  /** Records read from `bsi.install-events` (rate = events/s), by result. */
  events: Counter<'result'>;
  /**
   * Health reports by result: routed (counted in a lane's updated or control group), neither (running lanes of the
   * class, but in neither group), no-lane (no running lane of the class watches post-install signals: valid, dropped), duplicate (its period was
   * reported before), dead-lettered (invalid, or not matching the catalogue).
   */
  healthReports: Counter<'result'>;
  /** Dead-lettered records by reason. */
  deadLetters: Counter<'reason'>;
  /** Records appended by the ingest itself (timeout markers). */
  timeoutMarkers: Counter;
  /** Consumer lag per partition: log end minus next offset to read. */
  lag: Gauge<'partition'>;
  /** Time from taking a lane's deltas to Temporal accepting the signal. */
  flushLatency: Histogram;
  /** Signals by outcome: accepted, gone (lane finished: dropped), retried (transient failure). */
  signals: Counter<'outcome'>;
  /** (device, offer) states in the device table. */
  trackedDevices: Gauge;
  /** Bytes of the device table. */
  deviceTableBytes: Gauge;
  /** Partitions still being rebuilt (replayed up to the lanes' marks). */
  rebuilding: Gauge;
  /** Consumers replaced after a crash kafkajs does not restart from, by consumer (ingest, catalogue). */
  consumerReplacements: Counter<'consumer'>;
}

/** Creates the metrics on a fresh registry, with Node's default process metrics (memory, CPU, GC). */
export function createMetrics(): IngestMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'bsi_ingest_' });
  const deadLetters = new Counter({
    name: 'bsi_ingest_dead_letters_total',
    help: 'Records sent to the dead-letter topic, by reason',
    labelNames: ['reason'],
    registers: [registry],
  });
  for (const reason of REJECT_REASONS) deadLetters.inc({ reason }, 0);
  const healthReports = new Counter({
    name: 'bsi_ingest_health_reports_total',
    help: 'Post-install health reports read, by result (routed, neither, no-lane, duplicate, dead-lettered)',
    labelNames: ['result'],
    registers: [registry],
  });
  for (const result of HEALTH_REPORT_RESULTS) healthReports.inc({ result }, 0);
  return {
    registry,
    events: new Counter({
      name: 'bsi_ingest_events_total',
      help: 'Records read from the install-events topic, by result',
      labelNames: ['result'],
      registers: [registry],
    }),
    deadLetters,
    healthReports,
    consumerReplacements: new Counter({
      name: 'bsi_ingest_consumer_replacements_total',
      help: 'Kafka consumers replaced after a crash kafkajs does not restart from',
      labelNames: ['consumer'],
      registers: [registry],
    }),
    timeoutMarkers: new Counter({
      name: 'bsi_ingest_timeout_markers_total',
      help: 'Install-timeout markers appended',
      registers: [registry],
    }),
    lag: new Gauge({
      name: 'bsi_ingest_consumer_lag',
      help: 'Log end offset minus the next offset to read, per partition',
      labelNames: ['partition'],
      registers: [registry],
    }),
    flushLatency: new Histogram({
      name: 'bsi_ingest_flush_latency_seconds',
      help: 'Time from taking a lane delta to the signal being accepted',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    signals: new Counter({
      name: 'bsi_ingest_signals_total',
      help: 'Health-delta signals by outcome',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    trackedDevices: new Gauge({
      name: 'bsi_ingest_tracked_devices',
      help: '(device, offer) states in the device table',
      registers: [registry],
    }),
    deviceTableBytes: new Gauge({
      name: 'bsi_ingest_device_table_bytes',
      help: 'Bytes of the device table',
      registers: [registry],
    }),
    rebuilding: new Gauge({
      name: 'bsi_ingest_rebuilding_partitions',
      help: 'Assigned partitions still replaying up to the lanes marks',
      registers: [registry],
    }),
  };
}

/**
 * Serves `/metrics` (Prometheus text format) and `/healthz` (200 while `healthy()` is true, else 503)
 * on `port` (0 = any free port); resolves with the server and the port it listens on.
 */
export function serveMetrics(
  metrics: IngestMetrics,
  port: number,
  healthy: () => boolean,
): Promise<{ server: http.Server; port: number }> {
  return serveRegistry(metrics.registry, port, healthy);
}
