/**
 * The Grafana dashboard (`observability/grafana/bsi-rollout.json`) cannot drift from the code: it is a dashboard
 * Grafana loads (schema version, unique panel ids, a place on the grid, Prometheus targets), and every metric its
 * PromQL names exists in the registries the worker and the ingest create, with every label it selects on.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Registry } from 'prom-client';
import { createEngineMetrics } from '../../activities/engine-metrics';
import { createMetrics } from '../../ingest/metrics';

const FILE = path.join(__dirname, '..', '..', 'observability', 'grafana', 'bsi-rollout.json');

type Target = { refId?: unknown; expr?: unknown; datasource?: { type?: unknown } };
type Panel = { id?: unknown; type?: unknown; title?: unknown; gridPos?: Record<string, unknown>; targets?: Target[] };

const dashboard = JSON.parse(readFileSync(FILE, 'utf8')) as {
  title?: unknown;
  uid?: unknown;
  schemaVersion?: unknown;
  panels?: Panel[];
  templating?: { list?: { name?: unknown }[] };
};
const panels = dashboard.panels ?? [];
const exprs = panels.flatMap((p) => (p.targets ?? []).map((t) => String(t.expr)));

/** The metric (or histogram series) names of the bsi_ metrics in a PromQL expression, with the labels it selects. */
function selectors(expr: string): { name: string; labels: string[] }[] {
  return [...expr.matchAll(/\b(bsi_[a-zA-Z0-9_:]+)(\{([^}]*)\})?/g)].map((m) => ({
    name: m[1]!,
    labels: [...(m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)/g)].map((l) => l[1]!),
  }));
}

/** Looks a series name up in the registries: a metric itself, or a histogram's `_bucket`, `_sum` or `_count`. */
function find(registries: Registry[], name: string) {
  for (const registry of registries) {
    const direct = registry.getSingleMetric(name);
    if (direct !== undefined) return { metric: direct, histogramSeries: false };
    const base = /^(.*)_(bucket|sum|count)$/.exec(name)?.[1];
    const histogram = base === undefined ? undefined : registry.getSingleMetric(base);
    if (histogram !== undefined && (histogram as unknown as { type?: string }).type === 'histogram') {
      return { metric: histogram, histogramSeries: name.endsWith('_bucket') };
    }
  }
  return undefined;
}

describe('the Grafana dashboard', () => {
  test('is a Grafana dashboard: title, uid, schema version, unique panel ids on the grid, Prometheus targets', () => {
    expect(typeof dashboard.title).toBe('string');
    expect(typeof dashboard.uid).toBe('string');
    expect(dashboard.schemaVersion).toEqual(expect.any(Number));
    expect(panels.length).toBeGreaterThan(5);
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const panel of panels) {
      expect(typeof panel.title).toBe('string');
      for (const key of ['x', 'y', 'w', 'h']) expect(panel.gridPos?.[key]).toEqual(expect.any(Number));
      if (panel.type === 'row') continue;
      expect(panel.targets?.length).toBeGreaterThan(0);
      for (const target of panel.targets ?? []) {
        expect(target.datasource?.type).toBe('prometheus');
        expect(typeof target.refId).toBe('string');
        expect(typeof target.expr).toBe('string');
      }
    }
    const variables = (dashboard.templating?.list ?? []).map((v) => v.name);
    for (const expr of exprs) {
      for (const used of expr.matchAll(/\$([a-z_]+)/g)) expect(variables).toContain(used[1]);
    }
  });

  test('every metric and label its PromQL names exists in the worker and ingest registries', () => {
    const registries = [createEngineMetrics().registry, createMetrics().registry];
    const named = exprs.flatMap(selectors);
    expect(named.length).toBeGreaterThan(10);
    const problems: string[] = [];
    for (const { name, labels } of named) {
      const found = find(registries, name);
      if (found === undefined) {
        problems.push(`${name}: no such metric`);
        continue;
      }
      const labelNames = (found.metric as unknown as { labelNames: readonly string[] }).labelNames;
      const known = new Set([...labelNames, 'job', 'instance', ...(found.histogramSeries ? ['le'] : [])]);
      for (const label of labels) if (!known.has(label)) problems.push(`${name}: no label ${label}`);
    }
    expect(problems).toEqual([]);
    // The panels the dashboard exists for.
    const all = exprs.join('\n');
    for (const metric of [
      'bsi_engine_lanes',
      'bsi_engine_halts_total',
      'bsi_engine_decisions_total',
      'bsi_engine_decision_latency_seconds_bucket',
      'bsi_ingest_consumer_lag',
      'bsi_ingest_events_total',
    ]) {
      expect(all).toContain(metric);
    }
    expect(all).toMatch(/histogram_quantile\(0\.5, .*bsi_engine_decision_latency_seconds_bucket/);
    expect(all).toMatch(/histogram_quantile\(0\.95, .*bsi_engine_decision_latency_seconds_bucket/);
  });
});
