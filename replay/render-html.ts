/**
 * The postmortem as one self-contained HTML file: no script, no CDN, no font or image fetched — inline
 * CSS and inline SVG charts drawn here. First what went wrong (a summary of each halted class), then per class,
 * halted ones first: exposure over time (installed devices and the exposed
 * cohort bound) and failure rate over time with the threshold line, both with decision markers; the
 * blast radius, exposure window and decision table; then the what-if.
 */
import {
  completionSentence,
  exposureWindowSentence,
  incidentFacts,
  overlapSentence,
  regressionLines,
  type ClassReport,
  type ClassSeries,
  type DecisionEntry,
  type Incident,
  type ReplayReport,
} from './postmortem';
import { signalText } from '../events/regression';
import type { WhatIfReport } from './what-if';

const esc = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const W = 640;
const H = 220;
const PAD = { left: 52, right: 12, top: 12, bottom: 28 };
const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#9467bd', '#8c564b', '#e377c2'];
const MARKER_COLOR: Record<string, string> = {
  'threshold-breached': '#d62728',
  'lane-paused': '#d62728',
  'rollback-started': '#d62728',
  'rollback-failed': '#d62728',
  'fleet-halted': '#d62728',
  'lane-aborted': '#d62728',
  'retry-issued': '#ff7f0e',
  'what-if-halt': '#9467bd',
};

type Scale = { x: (t: number) => number; y: (v: number) => number; t0: number; t1: number; yMax: number };

function scale(t0: number, t1: number, yMax: number): Scale {
  const span = Math.max(1, t1 - t0);
  return {
    t0,
    t1,
    yMax,
    x: (t) => PAD.left + ((t - t0) / span) * (W - PAD.left - PAD.right),
    y: (v) => H - PAD.bottom - (Math.min(v, yMax) / yMax) * (H - PAD.top - PAD.bottom),
  };
}

const n = (v: number): string => v.toFixed(1);

function pathOf(points: readonly [number, number][], s: Scale, step = false): string {
  let d = '';
  let prev: [number, number] | undefined;
  for (const [t, v] of points) {
    if (prev === undefined) d += `M${n(s.x(t))},${n(s.y(v))}`;
    else if (step) d += `L${n(s.x(t))},${n(s.y(prev[1]))}L${n(s.x(t))},${n(s.y(v))}`;
    else d += `L${n(s.x(t))},${n(s.y(v))}`;
    prev = [t, v];
  }
  return d;
}

function axes(s: Scale, unit: (v: number) => string): string {
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => f * s.yMax);
  const y = ticks
    .map(
      (v) =>
        `<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${n(s.y(v))}" y2="${n(s.y(v))}" stroke="#eee"/>` +
        `<text x="${PAD.left - 4}" y="${n(s.y(v) + 4)}" text-anchor="end" class="tick">${esc(unit(v))}</text>`,
    )
    .join('');
  const span = (s.t1 - s.t0) / 1000;
  const x = [0, 0.25, 0.5, 0.75, 1]
    .map((f) => {
      const t = s.t0 + f * (s.t1 - s.t0);
      return `<text x="${n(s.x(t))}" y="${H - 8}" text-anchor="middle" class="tick">+${((f * span) | 0).toString()}s</text>`;
    })
    .join('');
  return `${y}${x}<line x1="${PAD.left}" x2="${PAD.left}" y1="${PAD.top}" y2="${H - PAD.bottom}" stroke="#999"/>`;
}

function markers(series: ClassSeries, s: Scale, extra: { t: number; type: string; label: string }[]): string {
  return [...series.markers, ...extra]
    .map((m) => {
      const color = MARKER_COLOR[m.type] ?? '#888';
      const x = n(s.x(m.t));
      return `<line class="marker" data-type="${esc(m.type)}" x1="${x}" x2="${x}" y1="${PAD.top}" y2="${H - PAD.bottom}" stroke="${color}" stroke-dasharray="${m.type === 'phase-started' ? '2,3' : '5,2'}"><title>${esc(m.label)}</title></line>`;
    })
    .join('');
}

function chart(title: string, body: string): string {
  return `<figure><figcaption>${esc(title)}</figcaption><svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(title)}">${body}</svg></figure>`;
}

function timeRange(c: ClassReport): [number, number] {
  const ts: number[] = [];
  for (const [t] of c.series.exposure) ts.push(t);
  for (const [t] of c.series.bound) ts.push(t);
  for (const r of c.series.failureRate) for (const [t] of r.points) ts.push(t);
  for (const m of c.series.markers) ts.push(m.t);
  if (ts.length === 0) return [0, 1];
  return [Math.min(...ts), Math.max(...ts)];
}

function charts(c: ClassReport, whatIfHalt: string | null): string {
  const [t0, t1] = timeRange(c);
  const extra = whatIfHalt === null ? [] : [{ t: Date.parse(whatIfHalt), type: 'what-if-halt', label: 'what-if halt' }];
  const exposureMax = Math.max(1, ...c.series.bound.map(([, v]) => v), ...c.series.exposure.map(([, v]) => v));
  const se = scale(t0, t1, Math.min(100, Math.ceil(exposureMax * 1.1)));
  const bound =
    c.series.bound.length > 0 ? [...c.series.bound, [t1, c.series.bound.at(-1)![1]] as [number, number]] : [];
  const exposure =
    `${axes(se, (v) => `${v.toFixed(0)}%`)}` +
    (bound.length > 0
      ? `<path class="series bound" d="${pathOf(bound, se, true)}" fill="none" stroke="#aaa" stroke-width="1.5"/>`
      : '') +
    (c.series.exposure.length > 0
      ? `<path class="series exposure" d="${pathOf(c.series.exposure, se)}" fill="none" stroke="#1f77b4" stroke-width="2"/>`
      : '') +
    markers(c.series, se, extra);
  const maxRate = Math.max(
    (c.series.threshold ?? 0.01) * 2,
    ...c.series.failureRate.flatMap((r) => r.points.map(([, v]) => v)),
  );
  const sr = scale(t0, t1, Math.min(1, maxRate * 1.1));
  const thresholdLine =
    c.series.threshold === null
      ? ''
      : `<line class="threshold" x1="${PAD.left}" x2="${W - PAD.right}" y1="${n(sr.y(c.series.threshold))}" y2="${n(sr.y(c.series.threshold))}" stroke="#d62728" stroke-width="1.5" stroke-dasharray="6,3"><title>threshold ${(c.series.threshold * 100).toFixed(2)}%</title></line>`;
  const rates =
    `${axes(sr, (v) => `${(v * 100).toFixed(1)}%`)}${thresholdLine}` +
    c.series.failureRate
      .map(
        (r, i) =>
          `<path class="series rate" data-offer="${esc(r.offerId)}" d="${pathOf(r.points, sr)}" fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="1.5"><title>${esc(r.offerId)}</title></path>`,
      )
      .join('') +
    markers(c.series, sr, extra);
  return (
    chart(`${c.lane}: exposure over time (installed devices, blue; exposed cohort bound, grey)`, exposure) +
    chart(`${c.lane}: failure rate per offer over time (threshold dashed red)`, rates)
  );
}

function decisionRows(decisions: readonly DecisionEntry[]): string {
  return decisions
    .map((d) => {
      const ev = d.evidence;
      const evidence =
        ev !== null
          ? `${ev.failures} / ${ev.sample} = ${(ev.failureRate * 100).toFixed(2)}% (threshold ${(ev.threshold * 100).toFixed(2)}%, min ${ev.minSample}, rule ${ev.rule})`
          : (d.regression?.map(signalText).join('; ') ?? '');
      const alarm = MARKER_COLOR[d.type] === '#d62728' ? ' class="alarm"' : '';
      return `<tr${alarm}><td>${esc(d.at.replace('T', ' '))}</td><td>${d.seq}</td><td>${esc(d.by)}</td><td>${esc(d.what)}</td><td>${esc(d.why ?? '')}</td><td>${esc(evidence)}</td></tr>`;
    })
    .join('');
}

function classSection(c: ClassReport, whatIf: WhatIfReport | null): string {
  const w = whatIf?.classes.find((x) => x.lane === c.lane);
  const o = c.outcomes;
  const facts: [string, string][] = [
    ['status', `${c.status} — phase ${c.phase + 1}, exposure ${c.cohortBound / 100}%, attempt ${c.attempt}`],
    ['waiting for', c.waitingFor],
    ['halt', c.halt === null ? 'none' : `${c.halt.type} at ${c.halt.at}`],
  ];
  if (o !== null) {
    facts.push(
      [
        'blast radius',
        `${o.blastRadius.installed} devices installed the build ${o.blastRadius.haltAt === null ? '(never halted)' : 'before the halt'}; ${o.blastRadius.failed} of them failed` +
          (o.blastRadius.installedAfterHalt > 0 ? `; ${o.blastRadius.installedAfterHalt} installed after it` : ''),
      ],
      ['exposure window', exposureWindowSentence(o.exposureWindow)],
      [
        'first failing report → halt',
        o.firstFailureToHalt === null
          ? '—'
          : `${o.firstFailureToHalt.seconds.toFixed(3)} s (${o.firstFailureToHalt.firstFailureAt} → ${o.firstFailureToHalt.haltAt})`,
      ],
    );
  }
  if (c.overlappingDeltas > 0) facts.push(['overlapping deltas', overlapSentence(c.overlappingDeltas)]);
  const completion = completionSentence(c);
  if (completion !== null) facts.push(['completion', completion]);
  if (c.regression !== null) facts.push(['post-install signals', regressionLines(c.regression).join('; ')]);
  facts.push([
    're-decided',
    c.fidelity.identical
      ? `all ${c.fidelity.decisions} decisions identical to the log`
      : `differs: ${c.fidelity.firstDifference ?? ''}`,
  ]);
  if (w !== undefined) {
    facts.push([
      'what-if',
      w.differs
        ? `halt ${w.whatIf.haltAt ?? 'none'} (recorded plan: ${w.baseline.haltAt ?? 'none'}); exposed ${w.baseline.exposed} → ${w.whatIf.exposed} (${w.fewerExposed} fewer; only exposures that really happened)`
        : 'no difference',
    ]);
  }
  return `<section class="lane" id="lane-${esc(c.lane)}"><h2>${esc(c.lane)} <small>build ${esc(c.build ?? '?')}</small></h2>
<table class="facts">${facts.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('')}</table>
<div class="charts">${charts(c, w?.differs ? w.whatIf.haltAt : null)}</div>
<details open><summary>Decisions (${c.decisions.length})</summary><table class="decisions"><thead><tr><th>at</th><th>#</th><th>by</th><th>what</th><th>why</th><th>evidence</th></tr></thead><tbody>${decisionRows(c.decisions)}</tbody></table></details></section>`;
}

function incidentsSection(incidents: readonly Incident[]): string {
  if (incidents.length === 0)
    return `<section class="incidents"><h2>What went wrong</h2><p>No class was halted.</p></section>`;
  const blocks = incidents
    .map(
      (i) =>
        `<h3><a href="#lane-${esc(i.lane)}">${esc(i.lane)}</a> <small>build ${esc(i.build ?? '?')} — ${esc(i.status)}</small></h3>` +
        `<table class="facts">${incidentFacts(i)
          .map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`)
          .join('')}</table>`,
    )
    .join('');
  return `<section class="incidents"><h2>What went wrong: ${incidents.length} class${incidents.length === 1 ? '' : 'es'} halted</h2>${blocks}</section>`;
}

function whatIfSection(w: WhatIfReport): string {
  const rows = w.classes
    .map(
      (c) =>
        `<tr><td>${esc(c.lane)}</td><td>${c.differs ? 'yes' : 'no difference'}</td><td>${esc(c.baseline.haltAt ?? '—')}</td><td>${esc(c.whatIf.haltAt ?? '—')}</td><td>${c.haltEarlierSec === null ? '—' : c.haltEarlierSec.toFixed(3)}</td><td>${c.baseline.exposed} → ${c.whatIf.exposed}</td><td>${c.fewerExposed}</td><td>${c.fewerFailed}</td></tr>`,
    )
    .join('');
  return `<section class="what-if"><h2>What if: ${esc(w.source)} — ${w.differs ? 'decisions would differ' : 'no difference'}</h2>
<table><thead><tr><th>class</th><th>differs</th><th>halt (recorded plan)</th><th>halt (what-if)</th><th>halts earlier by (s)</th><th>exposed</th><th>fewer exposed</th><th>fewer failed</th></tr></thead><tbody>${rows}</tbody></table>
<p><strong>Exposure counts only exposures that really happened.</strong></p><ul>${w.notes.map((x) => `<li>${esc(x)}</li>`).join('')}</ul></section>`;
}

/** The postmortem as a self-contained HTML document. */
export function renderHtml(r: ReplayReport): string {
  const title = `Postmortem: rollout ${r.rolloutId}`;
  const css = `body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}small{color:#666;font-weight:normal}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top;font-size:12px}
.facts th{background:#f6f6f6;width:200px}.incidents{border-left:4px solid #d62728;padding-left:12px}h3{font-size:15px;margin:16px 0 4px}.decisions tr.alarm td{background:#fdecea}.charts{display:flex;flex-wrap:wrap;gap:12px}
figure{margin:0}figcaption{font-size:12px;color:#444}.tick{font-size:10px;fill:#666}svg{background:#fff;border:1px solid #eee}`;
  const summary = `<p>Release ${esc(r.releaseId ?? '?')} — status <strong>${esc(r.status)}</strong>; started ${esc(r.startedAt ?? '?')}; last event ${esc(r.lastEventAt ?? '?')}; ${r.events} events${r.asOf !== null ? `; <strong>state as of ${esc(r.asOf)}</strong>` : ''}.${r.install !== null ? ` Install events: ${r.install.records} read, ${r.install.counted} counted.` : ''}</p>`;
  const notes = r.notes.map((note) => `<p data-note>${esc(note)}</p>`).join('');
  const rollout =
    r.rolloutDecisions.length === 0
      ? ''
      : `<h2>Rollout-level decisions</h2><table class="decisions"><thead><tr><th>at</th><th>#</th><th>by</th><th>what</th><th>why</th><th>evidence</th></tr></thead><tbody>${decisionRows(r.rolloutDecisions)}</tbody></table>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${esc(title)}</title><style>${css}</style></head>
<body><h1>${esc(title)}</h1>${summary}${notes}${incidentsSection(r.incidents)}${rollout}${r.classes.map((c) => classSection(c, r.whatIf)).join('\n')}${r.whatIf !== null ? whatIfSection(r.whatIf) : ''}
</body></html>
`;
}
