// The console's entry: takes a token from the URL fragment, asks for one when there is none (and checks it against
// the API), then shows the rollouts list or one rollout (`?rollout=ID`). Plain ES modules, no build step: the
// libraries are the builds their packages ship, served by `rollout serve` under /console/vendor/.
import { html, render, useEffect, useState } from './vendor/preact-htm.js';
import { api, getToken, setToken, takeTokenFromFragment } from './api.js';
import { RolloutList } from './rollout-list.js';
import { RolloutPage } from './rollout-page.js';

function Login({ onToken, problem }) {
  const [value, setValue] = useState('');
  return html`<article>
    <header><strong>Sign in</strong></header>
    <p>
      ${'Paste a bearer token: a JWT of your identity provider, a static token, or locally one of '}
      <code>rollout dev-token --sub you --role operator</code>${' while '}
      <code>BSI_API_DEV_ISSUER=1 rollout serve</code>
      ${' runs. It is kept in this tab only (sessionStorage) and sent only as an Authorization header.'}
    </p>
    ${problem && html`<p class="refusal" role="alert">${problem}</p>`}
    <form
      onSubmit=${(e) => {
        e.preventDefault();
        if (value.trim()) onToken(value.trim());
      }}
    >
      <textarea
        name="token"
        rows="3"
        required
        spellcheck="false"
        value=${value}
        onInput=${(e) => setValue(e.currentTarget.value)}
      ></textarea>
      <button type="submit">Sign in</button>
    </form>
  </article>`;
}

function App() {
  const [token, setTokenState] = useState(getToken());
  const [checked, setChecked] = useState(false);
  const [problem, setProblem] = useState(null);
  const [settings, setSettings] = useState(null);
  const rolloutId = new URLSearchParams(window.location.search).get('rollout');

  useEffect(() => {
    fetch('settings.json')
      .then((res) => (res.ok ? res.json() : null))
      .then(setSettings)
      .catch(() => setSettings(null));
  }, []);

  useEffect(() => {
    if (!token) return;
    setChecked(false);
    // A cheap authenticated call says whether the token is good before any page uses it.
    api('GET', '/api/v1/rollouts?limit=1')
      .then(() => setChecked(true))
      .catch((err) => {
        setToken(null);
        setTokenState(null);
        setProblem(`The API refused the token (${err.status ?? 'no answer'} ${err.body?.error ?? ''}): ${err.message}`);
      });
  }, [token]);

  function signIn(value) {
    setToken(value);
    setProblem(null);
    setTokenState(value);
  }

  function signOut() {
    setToken(null);
    setTokenState(null);
  }

  return html`<header class="console-bar">
      <h1><a href="./">bsi-rollout console</a></h1>
      ${token && html`<button type="button" class="secondary outline" onClick=${signOut}>Sign out</button>`}
    </header>
    ${!token && html`<${Login} onToken=${signIn} problem=${problem} />`}
    ${token && !checked && html`<p aria-busy="true">Checking the token…</p>`}
    ${token && checked && (rolloutId ? html`<${RolloutPage} rolloutId=${rolloutId} settings=${settings} />` : html`<${RolloutList} />`)}`;
}

takeTokenFromFragment();
const root = document.getElementById('app');
root.textContent = '';
render(html`<${App} />`, root);
