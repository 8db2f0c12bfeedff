/**
 * The CLI's way through the HTTP API instead of straight to Temporal: with `ROLLOUT_API_URL` (and
 * `ROLLOUT_API_TOKEN`) set, `start`, `status`, `list`, the operator commands, `events` and `replay` send their
 * requests to `rollout serve`, which authenticates the token and records its identity as the actor. The API's
 * answers become the CLI's usual errors and exit codes; a refused token (401) or role (403) is exit 6 with the
 * API's reason.
 */
import type { RolloutListing, RolloutStatusView } from '../client';
import type { OperatorCommandType, DomainEvent } from '../events/domain-events';
import type { EventConflict } from '../replay/event-conflicts';
import type { ReplayReport } from '../replay/postmortem';
import { API, EXIT, UnreachableError, UserError } from './errors';

/** An answer of the API to an operator command. */
export interface ApiCommandAnswer {
  rolloutId: string;
  command: OperatorCommandType;
  class: string | null;
  actor: string;
  requestId: string;
  accepted: true;
  eventIds: string[];
}

/** An answer of the API to a start. */
export interface ApiStartAnswer {
  rolloutId: string;
  workflowId: string;
  runId: string;
  actor: string;
}

type ErrorBody = { error?: unknown; message?: unknown; problems?: unknown };

/** The `rollout` command's client of the HTTP API. */
export class ApiClient {
  private readonly base: string;

  constructor(
    url: string,
    private readonly token: string,
  ) {
    this.base = url.replace(/\/+$/, '');
  }

  /** The API's address, as given. */
  get url(): string {
    return this.base;
  }

  private async request(method: 'GET' | 'POST', path: string, body?: { json: unknown } | { yaml: string }) {
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}` };
    let payload: string | undefined;
    if (body !== undefined && 'json' in body) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(body.json);
    } else if (body !== undefined) {
      headers['content-type'] = 'application/yaml';
      payload = body.yaml;
    }
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, { method, headers, ...(payload !== undefined && { body: payload }) });
    } catch (err) {
      throw new UnreachableError(API, this.base, err instanceof Error && err.cause ? err.cause : err);
    }
    if (res.ok) return res;
    const text = await res.text();
    let parsed: ErrorBody;
    try {
      parsed = JSON.parse(text) as ErrorBody;
    } catch {
      parsed = { message: text.slice(0, 500) };
    }
    throw apiError(res.status, parsed);
  }

  private async json<T>(method: 'GET' | 'POST', path: string, body?: { json: unknown } | { yaml: string }): Promise<T> {
    return (await (await this.request(method, path, body)).json()) as T;
  }

  /** `GET /api/v1/rollouts?limit=N`. */
  async list(limit: number): Promise<RolloutListing[]> {
    return (await this.json<{ rollouts: RolloutListing[] }>('GET', `/api/v1/rollouts?limit=${limit}`)).rollouts;
  }

  /** `GET /api/v1/rollouts/:id`. */
  status(rolloutId: string): Promise<RolloutStatusView> {
    return this.json('GET', `/api/v1/rollouts/${encodeURIComponent(rolloutId)}`);
  }

  /** `GET /api/v1/rollouts/:id/events`. */
  events(rolloutId: string): Promise<{ events: DomainEvent[]; conflicts: EventConflict[] }> {
    return this.json('GET', `/api/v1/rollouts/${encodeURIComponent(rolloutId)}/events`);
  }

  /** `GET /api/v1/rollouts/:id/report?format=json`. */
  report(rolloutId: string, at: string | undefined): Promise<ReplayReport> {
    const query = at === undefined ? '' : `&at=${encodeURIComponent(at)}`;
    return this.json('GET', `/api/v1/rollouts/${encodeURIComponent(rolloutId)}/report?format=json${query}`);
  }

  /** `POST /api/v1/rollouts` with the plan file's text. */
  start(planText: string, opts: { rolloutId?: string; reason?: string; supersedes?: string }): Promise<ApiStartAnswer> {
    return this.json('POST', '/api/v1/rollouts', {
      json: {
        plan: planText,
        ...(opts.rolloutId !== undefined && { rolloutId: opts.rolloutId }),
        ...(opts.supersedes !== undefined && { supersedes: opts.supersedes }),
        reason: opts.reason,
      },
    });
  }

  /** `POST /api/v1/rollouts/:id/<command>`. */
  command(
    type: OperatorCommandType,
    rolloutId: string,
    body: { class?: string; reason: string; requestId: string },
  ): Promise<ApiCommandAnswer> {
    return this.json('POST', `/api/v1/rollouts/${encodeURIComponent(rolloutId)}/${type}`, { json: body });
  }
}

/** The CLI's error for an API refusal: exit code by status, the API's reason as the message. */
export function apiError(status: number, body: ErrorBody): UserError {
  const code = typeof body.error === 'string' ? body.error : `http-${status}`;
  const message = typeof body.message === 'string' ? body.message : `HTTP ${status}`;
  if (status === 401) return new UserError(`the API refused the token (${code}): ${message}`, EXIT.unauthorized);
  if (status === 403) return new UserError(`the API refused the request (${code}): ${message}`, EXIT.unauthorized);
  if (status === 404) return new UserError(message, EXIT.unknownRollout);
  if (status === 409 || status === 429) return new UserError(`refused: ${message}`, EXIT.refused);
  if (status === 400 && Array.isArray(body.problems)) {
    const lines = body.problems.map((p: unknown) => {
      const {
        path,
        rule,
        message: m,
        value,
      } = p as { path?: unknown; rule?: unknown; message?: unknown; value?: unknown };
      return `  ${String(path)}: ${String(rule ?? m)}${value === undefined ? '' : ` (value: ${JSON.stringify(value)})`}`;
    });
    return new UserError(`${message}\n${lines.join('\n')}`, EXIT.usage);
  }
  if (status >= 400 && status < 500) return new UserError(message, EXIT.usage);
  if (status === 503) return new UserError(`the API answers 503: ${message}`, EXIT.unreachable);
  return new UserError(`the API failed (HTTP ${status}): ${message}`, EXIT.failure);
}

/**
 * The API client the environment asks for: `ROLLOUT_API_URL` (http or https) with `ROLLOUT_API_TOKEN`, or undefined
 * when `ROLLOUT_API_URL` is unset (the CLI then talks to Temporal directly). A URL without a token is a `UserError`.
 */
export function apiClientFromEnv(env: Readonly<Record<string, string | undefined>>): ApiClient | undefined {
  const url = env.ROLLOUT_API_URL?.trim();
  if (!url) return undefined;
  if (!/^https?:\/\/[^\s/]+/.test(url)) {
    throw new UserError(`ROLLOUT_API_URL=${JSON.stringify(url)}: must be an http:// or https:// URL`);
  }
  const token = env.ROLLOUT_API_TOKEN?.trim();
  if (!token) {
    throw new UserError(
      'ROLLOUT_API_URL is set but ROLLOUT_API_TOKEN is not: the API needs a bearer token (`rollout dev-token` mints one for the dev issuer)',
    );
  }
  return new ApiClient(url, token);
}
