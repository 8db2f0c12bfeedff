// Operator buttons for a class or the whole rollout. Each asks for a reason first (it lands in the audit trail with
// the signed-in identity as the actor), then posts the command; the engine's refusal (the API's error body) is shown
// as it came, so the person sees why nothing happened.
import { html, useState } from './vendor/preact-htm.js';
import { api } from './api.js';

/** The buttons: `commands` to offer, for `lane` (a class) or the rollout when `lane` is null. */
export function ActionBar({ rolloutId, lane, commands, onDone }) {
  const [chosen, setChosen] = useState(null);
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [answer, setAnswer] = useState(null);
  const target = lane ?? 'the rollout';

  async function submit(event) {
    event.preventDefault();
    if (!reason.trim()) return;
    setBusy(true);
    try {
      const body = { reason: reason.trim(), ...(lane ? { class: lane } : {}) };
      const result = await api('POST', `/api/v1/rollouts/${encodeURIComponent(rolloutId)}/${chosen}`, body);
      setAnswer({ ok: true, text: `${chosen} of ${target} accepted, recorded as ${result.actor}` });
      setChosen(null);
      setReason('');
      onDone?.();
    } catch (err) {
      const status = err.status ? ` (${err.status} ${err.body?.error ?? ''})` : '';
      setAnswer({ ok: false, text: `The engine refused ${chosen} of ${target}${status}: ${err.message}` });
    } finally {
      setBusy(false);
    }
  }

  return html`<div class="action-bar" data-actions=${lane ?? '*'}>
    <div class="actions" role="group" aria-label=${`commands for ${target}`}>
      ${commands.map(
        (command) =>
          html`<button
            type="button"
            class=${chosen === command ? '' : 'outline'}
            data-action=${command}
            onClick=${() => {
              setChosen(command);
              setAnswer(null);
            }}
          >
            ${command}
          </button>`,
      )}
    </div>
    ${
      chosen &&
      html`<form class="reason-form" onSubmit=${submit}>
        <label
          >Reason to ${chosen} ${target} (recorded in the audit trail)
          <input
            name="reason"
            required
            maxlength="1000"
            value=${reason}
            onInput=${(e) => setReason(e.currentTarget.value)}
            placeholder="why, for the postmortem"
        /></label>
        <div class="actions">
          <button type="submit" data-confirm=${chosen} disabled=${busy || !reason.trim()} aria-busy=${busy}>
            Confirm ${chosen}
          </button>
          <button type="button" class="secondary outline" onClick=${() => setChosen(null)}>Cancel</button>
        </div>
      </form>`
    }
    ${answer && html`<p role=${answer.ok ? 'status' : 'alert'} class=${answer.ok ? 'accepted' : 'refusal'}>${answer.text}</p>`}
  </div>`;
}
