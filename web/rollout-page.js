// One rollout, live: its status follows the SSE stream (no reload), the event log is read again when the status
// changes (at most every few seconds), each class has its card and chart, the rollout has its commands, and links
// lead to the postmortem and to the workflow in the Temporal UI.
import { html, useEffect, useRef, useState } from './vendor/preact-htm.js';
import { api, apiText, followStatus } from './api.js';
import { ActionBar } from './action-bar.js';
import { LaneCard } from './lane-card.js';
import { pointFromStatus } from './series.js';
import { Timeline } from './timeline.js';
import { clock, scheduleText } from './words.js';

const ROLLOUT_COMMANDS = ['pause', 'resume', 'rollback', 'abort'];
const NONE = [];
/** Least time between two reads of the event log (each is a Kafka read on the server). */
const EVENTS_EVERY_MS = 3000;

/** Seconds since the epoch, ticking once a second (for countdowns). */
function useNow() {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);
  return now;
}

/** Opens the HTML postmortem (fetched with the token) in a new tab. */
async function openPostmortem(rolloutId, setProblem) {
  // Opened now, while the click still counts as the person's, and filled when the report is there.
  const tab = window.open('about:blank', '_blank');
  try {
    const text = await apiText(`/api/v1/rollouts/${encodeURIComponent(rolloutId)}/report?format=html`);
    const url = URL.createObjectURL(new Blob([text], { type: 'text/html' }));
    if (tab) tab.location.href = url;
    else window.location.href = url;
  } catch (err) {
    tab?.close();
    setProblem(`The postmortem could not be made: ${err.message}`);
  }
}

function summary(view) {
  const breached = view.breachedLanes.length > 0 ? `, breached: ${view.breachedLanes.join(', ')}` : '';
  const code = view.codeVersion ? ` Runs on build ${view.codeVersion}.` : '';
  return `Release ${view.releaseId ?? '—'}, started ${clock(view.startedAt)}, last change ${clock(view.updatedAt)}; ${view.halts} fleet halt(s)${breached}.${code}`;
}

/** The page of rollout `rolloutId`. */
export function RolloutPage({ rolloutId, settings }) {
  const [view, setView] = useState(null);
  const [log, setLog] = useState({ events: [], conflicts: [] });
  const [live, setLive] = useState({});
  const [stream, setStream] = useState('connecting');
  const [problem, setProblem] = useState(null);
  const lastRead = useRef(0);
  const pending = useRef(null);
  const now = useNow();

  function readEvents() {
    const wait = Math.max(0, lastRead.current + EVENTS_EVERY_MS - Date.now());
    if (pending.current) return;
    pending.current = setTimeout(() => {
      lastRead.current = Date.now();
      api('GET', `/api/v1/rollouts/${encodeURIComponent(rolloutId)}/events`)
        .then((answer) => setLog({ events: answer.events ?? [], conflicts: answer.conflicts ?? [] }))
        .catch((err) => {
          // Right after the start the log may still be empty (404): the next status change reads it again.
          if (err.status !== 404) setProblem(`The event log could not be read: ${err.message}`);
        })
        .finally(() => {
          pending.current = null;
        });
    }, wait);
  }

  useEffect(() => {
    const abort = new AbortController();
    readEvents();
    void followStatus(rolloutId, {
      signal: abort.signal,
      onStatus: (next) => {
        setView(next);
        const t = Date.now() / 1000;
        setLive((old) => {
          const out = { ...old };
          for (const lane of next.lanes)
            out[lane.lane] = [...(old[lane.lane] ?? []), pointFromStatus(lane, t)].slice(-600);
          return out;
        });
        readEvents();
      },
      onEnd: () => readEvents(),
      onError: (err) => setProblem(`${err.status} ${err.body?.error ?? ''}: ${err.message}`),
      onState: setStream,
    });
    return () => {
      abort.abort();
      clearTimeout(pending.current);
    };
  }, [rolloutId]);

  const temporalLink = settings
    ? `${settings.temporalUiUrl}/namespaces/${encodeURIComponent(settings.namespace)}/workflows/${encodeURIComponent(`rollout/${rolloutId}`)}`
    : null;
  return html`<section data-rollout=${rolloutId}>
    <nav aria-label="breadcrumb">
      <ul>
        <li><a href="./">Rollouts</a></li>
        <li>${rolloutId}</li>
      </ul>
    </nav>
    <header class="console-bar">
      <h2>
        ${rolloutId} ${view && html`<span class=${`chip ${view.status}`} data-rollout-status>${view.status}</span>`}
      </h2>
      <span class="live muted" data-stream=${stream}>status stream: ${stream}</span>
    </header>
    ${problem && html`<p class="refusal" role="alert">${problem}</p>`}
    ${view && html`<p data-summary>${summary(view)}</p>`}
    ${view && scheduleText(view, Date.now()) && html`<p data-schedule>${scheduleText(view, Date.now())}</p>`}
    <p class="actions">
      <button
        type="button"
        class="secondary"
        data-link="postmortem"
        onClick=${() => openPostmortem(rolloutId, setProblem)}
      >
        Postmortem (HTML report)
      </button>
      ${
        temporalLink &&
        html`<a
          role="button"
          class="secondary outline"
          data-link="temporal"
          href=${temporalLink}
          target="_blank"
          rel="noopener noreferrer"
          >Workflow in the Temporal UI</a
        >`
      }
    </p>
    <details>
      <summary>Commands for the whole rollout</summary>
      <${ActionBar} rolloutId=${rolloutId} lane=${null} commands=${ROLLOUT_COMMANDS} onDone=${readEvents} />
    </details>
    ${!view && !problem && html`<p aria-busy="true">Reading the status…</p>`}
    <div class="lanes">
      ${view?.lanes.map(
        (lane) =>
          html`<${LaneCard}
            key=${lane.lane}
            rolloutId=${rolloutId}
            lane=${lane}
            events=${log.events}
            livePoints=${live[lane.lane] ?? NONE}
            now=${now}
            onCommand=${readEvents}
          />`,
      )}
    </div>
    <${Timeline} events=${log.events} conflicts=${log.conflicts} />
  </section>`;
}
