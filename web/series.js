// The time series a lane's chart draws, from the event log (exposure bound when each offer went out, the judged
// failure rate and its threshold at each health evaluation, the class's running total over all its exposure
// windows) and from the live status stream, which is ahead of the last read of the log.
import { failuresOf, totalRate } from './words.js';

/** One point: time in seconds, exposure bound %, judged failure rate %, threshold %, class total failure rate %. */
function point(t, exposure, rate, threshold, total) {
  return { t, exposure, rate, threshold, total };
}

/** The points of `lane` that the event log gives. */
export function pointsFromEvents(events, lane) {
  const out = [];
  const windowTotals = new Map();
  for (const e of events) {
    if (e.lane !== lane) continue;
    const t = Date.parse(e.at) / 1000;
    if (e.type === 'exposure-issued') out.push(point(t, e.data.cohortBound / 100, null, null, null));
    else if (e.type === 'rollback-completed') out.push(point(t, 0, null, null, null));
    else if (e.type === 'health-evaluated' && e.data.window === 'exposure') {
      windowTotals.set(e.data.offerId, e.data.totals);
      let f = 0;
      let n = 0;
      for (const totals of windowTotals.values()) {
        const c = failuresOf(totals);
        f += c.failures;
        n += c.sample;
      }
      const evidence = e.data.verdict.evidence;
      out.push(point(t, null, evidence.failureRate * 100, evidence.threshold * 100, n > 0 ? (f / n) * 100 : null));
    }
  }
  return out;
}

/** The point a status view of `lane` gives at time `t` (seconds). */
export function pointFromStatus(view, t) {
  const rolledBack = view.status === 'rolled-back';
  const judging = view.status !== 'rolling-back' && !rolledBack;
  const { rate } = totalRate(view);
  const total = typeof rate === 'number' ? rate * 100 : null;
  return point(
    t,
    rolledBack ? 0 : view.exposurePercent,
    judging && typeof view.failureRate === 'number' ? view.failureRate * 100 : null,
    typeof view.maxFailureRate === 'number' ? view.maxFailureRate * 100 : null,
    total,
  );
}

/**
 * uPlot's data: `[times, exposure, judged rate, threshold, total]`, sorted by time; exposure and threshold carried
 * forward (a bound holds until the next one), the rates left as gaps where nothing was judged.
 */
export function chartData(points) {
  const sorted = [...points].sort((a, b) => a.t - b.t);
  const data = [[], [], [], [], []];
  let exposure = null;
  let threshold = null;
  for (const p of sorted) {
    if (p.exposure !== null) exposure = p.exposure;
    if (p.threshold !== null) threshold = p.threshold;
    data[0].push(p.t);
    data[1].push(exposure);
    data[2].push(p.rate);
    data[3].push(threshold);
    data[4].push(p.total);
  }
  return data;
}
