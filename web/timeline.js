// The rollout's event log as a timeline, newest first: when, which class, what happened in words, who did it and
// why. Health evaluations (one per batch of outcomes) are hidden unless asked for.
import { html, useState } from './vendor/preact-htm.js';
import { clock, describeEvent } from './words.js';

/** The timeline of `events` (domain events from `GET /api/v1/rollouts/:id/events`). */
export function Timeline({ events, conflicts }) {
  const [all, setAll] = useState(false);
  const shown = [...events].reverse().filter((e) => all || e.type !== 'health-evaluated');
  return html`<section class="timeline">
    <h3>Timeline</h3>
    <label>
      <input type="checkbox" role="switch" checked=${all} onChange=${(e) => setAll(e.currentTarget.checked)} />
      ${' show every health evaluation'}
    </label>
    ${
      conflicts?.length > 0 &&
      html`<p class="refusal">
        ${conflicts.length} event id(s) were appended with two contents: see \`rollout events\`.
      </p>`
    }
    <table class="compact striped">
      <thead>
        <tr>
          <th>time</th>
          <th>class</th>
          <th>what</th>
          <th>actor</th>
          <th>reason</th>
        </tr>
      </thead>
      <tbody>
        ${shown.map(
          (e) =>
            html`<tr key=${e.eventId} data-event=${e.type} data-lane=${e.lane ?? ''}>
              <td title=${e.at}>${clock(e.at)}</td>
              <td>${e.lane ?? 'rollout'}</td>
              <td>${describeEvent(e)}</td>
              <td data-actor>${e.actor ?? ''}</td>
              <td data-reason>${e.reason ?? ''}</td>
            </tr>`,
        )}
      </tbody>
    </table>
  </section>`;
}
