// Starting a rollout from a plan (YAML or JSON text, typed or read from a file): posted to `POST /api/v1/rollouts`;
// a 400 lists the plan's problems (path, rule, value, line) as the engine found them. A rollout may supersede a
// finished or halted one (`rollout start --supersedes`): the engine refuses an unknown id (404) or a rollout it may not
// supersede (409) with its reason, shown here.
import { html, useState } from './vendor/preact-htm.js';
import { api } from './api.js';

function problemLine(p) {
  const where = p.line !== undefined ? ` (line ${p.line}, column ${p.column})` : '';
  const what = p.rule ?? p.message ?? '';
  const value = p.value !== undefined ? ` (value: ${JSON.stringify(p.value)})` : '';
  return `${p.path}: ${what}${value}${where}`;
}

/** The start form; `onStarted(rolloutId)` after the engine accepted the plan. */
export function StartForm({ onStarted }) {
  const [plan, setPlan] = useState('');
  const [rolloutId, setRolloutId] = useState('');
  const [reason, setReason] = useState('');
  const [supersedes, setSupersedes] = useState('');
  const [busy, setBusy] = useState(false);
  const [refusal, setRefusal] = useState(null);

  async function readFile(event) {
    const file = event.currentTarget.files?.[0];
    if (file) setPlan(await file.text());
  }

  async function submit(event) {
    event.preventDefault();
    setBusy(true);
    setRefusal(null);
    try {
      const body = {
        plan,
        ...(rolloutId.trim() ? { rolloutId: rolloutId.trim() } : {}),
        ...(reason.trim() ? { reason: reason.trim() } : {}),
        ...(supersedes.trim() ? { supersedes: supersedes.trim() } : {}),
      };
      const started = await api('POST', '/api/v1/rollouts', body);
      onStarted(started.rolloutId);
    } catch (err) {
      setRefusal({ message: `${err.status ?? ''} ${err.message}`, problems: err.body?.problems ?? [] });
    } finally {
      setBusy(false);
    }
  }

  return html`<details>
    <summary role="button" class="outline" data-open-start>Start a rollout</summary>
    <form class="start-form" onSubmit=${submit}>
      <label
        >Plan (YAML or JSON)
        <textarea
          name="plan"
          rows="12"
          required
          spellcheck="false"
          value=${plan}
          onInput=${(e) => setPlan(e.currentTarget.value)}
        ></textarea>
      </label>
      <label
        >…or read it from a file
        <input type="file" accept=".yaml,.yml,.json,text/yaml,application/json" onChange=${readFile}
      /></label>
      <div class="grid">
        <label
          >Rollout id (optional)
          <input name="rolloutId" value=${rolloutId} onInput=${(e) => setRolloutId(e.currentTarget.value)} />
        </label>
        <label
          >Reason (optional)
          <input name="startReason" value=${reason} onInput=${(e) => setReason(e.currentTarget.value)} />
        </label>
      </div>
      <label
        >Supersedes (optional): the id of a finished or halted rollout whose devices this one takes over
        <input name="supersedes" value=${supersedes} onInput=${(e) => setSupersedes(e.currentTarget.value)} />
      </label>
      <button type="submit" data-start disabled=${busy || !plan.trim()} aria-busy=${busy}>Validate and start</button>
      ${
        refusal &&
        html`<div class="refusal" role="alert" data-plan-problems>
          <p>The engine refused the plan: ${refusal.message}</p>
          ${
            refusal.problems.length > 0 &&
            html`<ul class="problems">
              ${refusal.problems.map((p) => html`<li>${problemLine(p)}</li>`)}
            </ul>`
          }
        </div>`
      }
    </form>
  </details>`;
}
