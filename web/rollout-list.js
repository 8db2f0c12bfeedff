// The rollouts of the namespace as Temporal's visibility lists them (running ones first): state, release, classes
// (with each one's state), breaches, who started it and when. Each row's status and its starter (the actor of its
// `rollout-started` event) are read after the list, a few at a time, each given up after a few seconds (a rollout
// whose workers are gone cannot answer a query); the list is read again every 15 s, and statuses that can still
// change with it.
import { html, useEffect, useState } from './vendor/preact-htm.js';
import { api } from './api.js';
import { StartForm } from './start-form.js';

const REFRESH_MS = 15_000;
/** Rows whose status (and starter) are read; older ones show what visibility says. */
const DETAILED = 50;
/** How long one row's status or log may take before the row says it had no answer. */
const ROW_TIMEOUT_MS = 6000;
const FINAL = new Set(['completed', 'aborted']);

async function starterOf(rolloutId) {
  const log = await api('GET', `/api/v1/rollouts/${encodeURIComponent(rolloutId)}/events`, undefined, ROW_TIMEOUT_MS);
  return log.events.find((e) => e.type === 'rollout-started')?.actor ?? '?';
}

/** Runs `work` over `items`, `width` at a time. */
async function inTurns(items, width, work) {
  const queue = [...items];
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (queue.length > 0) await work(queue.shift());
    }),
  );
}

/** The row's state: the rollout's own when it answered, else visibility's (and that it did not answer). */
function stateOf(row, view) {
  if (view) return view.status;
  const listed = row.executionStatus.toLowerCase();
  return view === null ? `${listed} (no answer)` : listed;
}

/** The list page. */
export function RolloutList() {
  const [rows, setRows] = useState(null);
  const [details, setDetails] = useState({});
  const [starters, setStarters] = useState({});
  const [problem, setProblem] = useState(null);

  useEffect(() => {
    let stopped = false;
    let loading = false;
    const views = {};
    const known = {};
    async function readRow(row) {
      if (views[row.rolloutId] !== undefined && FINAL.has(views[row.rolloutId]?.status)) return;
      const path = `/api/v1/rollouts/${encodeURIComponent(row.rolloutId)}`;
      views[row.rolloutId] = await api('GET', path, undefined, ROW_TIMEOUT_MS).catch(() => null);
      if (!stopped) setDetails((old) => ({ ...old, [row.rolloutId]: views[row.rolloutId] }));
      if (known[row.rolloutId] === undefined) {
        known[row.rolloutId] = await starterOf(row.rolloutId).catch(() => '?');
        if (!stopped) setStarters((old) => ({ ...old, [row.rolloutId]: known[row.rolloutId] }));
      }
    }
    async function load() {
      if (loading) return;
      loading = true;
      try {
        const answer = await api('GET', '/api/v1/rollouts?limit=50');
        if (stopped) return;
        setRows(answer.rollouts);
        setProblem(null);
        await inTurns(answer.rollouts.slice(0, DETAILED), 4, readRow);
      } catch (err) {
        if (!stopped) setProblem(`${err.status ?? ''} ${err.message}`);
      } finally {
        loading = false;
      }
    }
    void load();
    const timer = setInterval(() => void load(), REFRESH_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, []);

  return html`<section>
    <${StartForm} onStarted=${(id) => window.location.assign(`?rollout=${encodeURIComponent(id)}`)} />
    <h2>Rollouts</h2>
    ${problem && html`<p class="refusal" role="alert">${problem}</p>`}
    ${rows === null && !problem && html`<p aria-busy="true">Reading the rollouts…</p>`}
    ${rows?.length === 0 && html`<p>No rollout in this namespace yet.</p>`}
    ${
      rows?.length > 0 &&
      html`<table class="compact striped" data-rollout-list>
        <thead>
          <tr>
            <th>rollout</th>
            <th>state</th>
            <th>release</th>
            <th>classes</th>
            <th>breaches</th>
            <th>started by</th>
            <th>started</th>
          </tr>
        </thead>
        <tbody>
          ${rows.map((row) => {
            const view = details[row.rolloutId];
            const breaches = view ? view.lanes.reduce((n, lane) => n + lane.breaches, 0) : null;
            // Not read yet, or no answer.
            const missing = view === null ? '—' : '…';
            return html`<tr key=${row.rolloutId} data-row=${row.rolloutId}>
              <td><a href=${`?rollout=${encodeURIComponent(row.rolloutId)}`}>${row.rolloutId}</a></td>
              <td>
                <span class=${`chip ${view?.status ?? ''}`}>${stateOf(row, view)}</span>
              </td>
              <td>${view?.releaseId ?? missing}</td>
              <td>
                ${view?.lanes.map((lane) => html`<span class=${`chip ${lane.lost ? 'lost' : lane.status}`} title=${lane.status}>${lane.lane}</span>`) ?? missing}
              </td>
              <td>
                ${breaches === null ? missing : `${breaches}${view.breachedLanes.length > 0 ? ` (${view.breachedLanes.join(', ')})` : ''}`}
              </td>
              <td>${starters[row.rolloutId] ?? missing}</td>
              <td title=${row.startTime}>${new Date(row.startTime).toLocaleString()}</td>
            </tr>`;
          })}
        </tbody>
      </table>`
    }
  </section>`;
}
