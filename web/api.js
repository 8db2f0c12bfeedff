// The console's only way to the server: `/api/` requests with the bearer token, and the status stream read with
// fetch (EventSource cannot send an Authorization header). The token comes from the URL fragment (`#token=…`, which
// the browser never sends to the server) or the login box, and lives in sessionStorage only: no cookie is ever set,
// so a request the page did not make carries no credentials.

const TOKEN_KEY = 'bsi-rollout.token';

/** Moves a `#token=…` from the address into sessionStorage and removes it from the address bar and history. */
export function takeTokenFromFragment() {
  const match = /(?:^#|&)token=([^&]+)/.exec(window.location.hash);
  if (!match) return;
  sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
  window.history.replaceState(null, '', window.location.pathname + window.location.search);
}

/** The token in use, or null. */
export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

/** Keeps `token` for this tab (sessionStorage), or forgets it with null. */
export function setToken(token) {
  if (token === null) sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, token);
}

/** A refusal by the API: the status and its JSON body (`{ error, message, problems? }`). */
export class ApiError extends Error {
  constructor(status, body) {
    super(body && typeof body.message === 'string' ? body.message : `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.body = body ?? {};
  }
}

function headers(extra = {}) {
  const token = getToken();
  return { ...(token ? { authorization: `Bearer ${token}` } : {}), ...extra };
}

async function bodyOf(res) {
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    return { error: `http-${res.status}`, message: text.slice(0, 500) || res.statusText };
  }
}

/**
 * Calls the API; resolves with the JSON answer, rejects with `ApiError` (status and body) on a refusal. `timeoutMs`
 * gives up on a slow answer (the connection is closed, which frees the browser's few connections to the server).
 */
export async function api(method, path, body, timeoutMs) {
  const res = await fetch(path, {
    method,
    headers: headers(body === undefined ? {} : { 'content-type': 'application/json' }),
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    ...(timeoutMs === undefined ? {} : { signal: AbortSignal.timeout(timeoutMs) }),
  });
  const answer = await bodyOf(res);
  if (!res.ok) throw new ApiError(res.status, answer);
  return answer;
}

/** Fetches a text answer (the HTML postmortem); rejects with `ApiError` on a refusal. */
export async function apiText(path) {
  const res = await fetch(path, { headers: headers() });
  if (!res.ok) throw new ApiError(res.status, await bodyOf(res));
  return res.text();
}

/** Splits a Server-Sent Events buffer into complete events; returns them and what is left over. */
function takeEvents(buffer) {
  const events = [];
  let rest = buffer;
  let cut;
  while ((cut = rest.indexOf('\n\n')) >= 0) {
    const block = rest.slice(0, cut);
    rest = rest.slice(cut + 2);
    let event = 'message';
    const data = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('event: ')) event = line.slice(7);
      else if (line.startsWith('data: ')) data.push(line.slice(6));
    }
    if (data.length > 0) events.push({ event, data: data.join('\n') });
  }
  return { events, rest };
}

/**
 * Follows a rollout's status stream until `signal` aborts or the rollout ends: `onStatus(view)` on every change,
 * `onEnd()` once it has ended, `onState(text)` with the connection's state. A dropped connection is reopened after a
 * pause; a refusal (401, 403, 404) stops with `onError(ApiError)`.
 */
export async function followStatus(rolloutId, { onStatus, onEnd, onError, onState, signal }) {
  const url = `/api/v1/rollouts/${encodeURIComponent(rolloutId)}/stream?interval=500`;
  while (!signal.aborted) {
    try {
      const res = await fetch(url, { headers: headers(), signal });
      if (!res.ok) {
        onError(new ApiError(res.status, await bodyOf(res)));
        return;
      }
      onState('live');
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        const taken = takeEvents(buffer);
        buffer = taken.rest;
        for (const { event, data } of taken.events) {
          if (event === 'status') onStatus(JSON.parse(data));
          else if (event === 'end') {
            onState('ended');
            onEnd();
            return;
          } else if (event === 'error') onState(`stream error: ${JSON.parse(data).message ?? data}`);
        }
      }
    } catch (err) {
      if (signal.aborted) return;
      onState(`reconnecting (${err instanceof Error ? err.message : String(err)})`);
    }
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}
