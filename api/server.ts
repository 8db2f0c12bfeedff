/**
 * The HTTP API (`rollout serve`): Fastify with security headers (@fastify/helmet), a body limit, a per-identity
 * rate limit on commands (@fastify/rate-limit), bearer authentication on every `/api/` route, role checks per
 * namespace and device class, and zod validation of every parameter, query and body (`routes.ts`). The actor of
 * every command is the authenticated identity, never a name the caller sends. No cookies are read or set, so there
 * is no CSRF surface: a browser never attaches a bearer token by itself.
 *
 * Every refusal is a 4xx whose JSON body says why: `{ error, message }` (400 with `problems` for a bad plan or a
 * bad request). Unexpected failures are 500 with a generic message (details in the log only); a Temporal or Kafka
 * server that does not answer is 503.
 */
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { z } from 'zod';
import { CommandRefusedError, InvalidPlanError, RolloutExistsError, UnknownRolloutError } from '../client';
import { checkOperatorOperation, isRolloutFinished, parseListLimit } from '../client/operations';
import { parseAtTime } from '../client/report';
import { EXIT, UserError } from '../config/user-error';
import type { OperatorCommandType } from '../events/domain-events';
import { parsePlan, validatePlan, type PlanError } from '../events/plan';
import { renderHtml } from '../replay/render-html';
import { renderText } from '../replay/render-text';
import { alertActions, AlertmanagerWebhookSchema } from './alertmanager';
import type { Authenticator } from './auth';
import type { RolloutBackend } from './backend';
import { registerConsole, type ConsoleSettings } from './console';
import { openApiDocument } from './openapi';
import { authorize, ROLES, type Identity, type Need, type Role } from './roles';
import {
  CommandBodySchema,
  COMMAND_ROLES,
  ListQuerySchema,
  ReportQuerySchema,
  RolloutParamsSchema,
  StartBodySchema,
  StartQuerySchema,
  StreamQuerySchema,
} from './routes';

/** What the server needs. */
export interface ServerOptions {
  backend: RolloutBackend;
  auth: Authenticator;
  /** The dev issuer's public keys, served at `/.well-known/jwks.json` when given. */
  jwks?: () => object;
  bodyLimit: number;
  commandsPerMinute: number;
  logger?: Logger;
  /** How often the status stream polls by default, in milliseconds (default 1000). */
  streamIntervalMs?: number;
  /** A comment line on the status stream at least this often, in milliseconds (default 15 s). */
  heartbeatMs?: number;
  /** Serve the web console (`/console/`, `api/console.ts`) with these settings; no console when absent. */
  console?: ConsoleSettings;
}

/** A 4xx answer with its reason. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly error: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    identity: Identity | null;
  }
}

const YAML_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml'];

/** Parses one part of a request with its schema; a 400 with every problem when it does not fit. */
function parse<S extends z.ZodType>(schema: S, value: unknown, where: string): z.infer<S> {
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => ({
    path: [where, ...i.path.map(String)].join('.'),
    message: i.code === 'unrecognized_keys' ? `unknown field(s) ${i.keys.join(', ')}` : i.message,
  }));
  const actor = result.error.issues.some((i) => i.code === 'unrecognized_keys' && i.keys.includes('actor'));
  const first = problems[0];
  const message = actor
    ? 'actor is not accepted: the actor recorded is the authenticated identity'
    : `${first?.path ?? where}: ${first?.message ?? 'invalid'}`;
  throw new HttpError(400, 'invalid-request', message, { problems });
}

/** The identity of an authenticated request (the onRequest hook ran). */
function identityOf(req: FastifyRequest): Identity {
  if (req.identity === null) throw new HttpError(401, 'missing-token', 'not authenticated');
  return req.identity;
}

/** Refuses (403, with why) unless the request's identity may do what `need` asks. */
function requireRole(req: FastifyRequest, need: Need): Identity {
  const identity = identityOf(req);
  const answer = authorize(identity, need);
  if (!answer.ok) throw new HttpError(403, 'forbidden', answer.reason);
  return identity;
}

/**
 * The coarse check before a request's input is read: the identity holds `role` (or higher) somewhere in the
 * namespace. The fine check, per class, follows once the input says which classes it touches.
 */
function requireSomewhere(req: FastifyRequest, role: Role, namespace: string): Identity {
  const identity = identityOf(req);
  const rank = ROLES.indexOf(role);
  if (!identity.grants.some((g) => g.namespace === namespace && ROLES.indexOf(g.role) >= rank)) {
    const answer = authorize(identity, { role, namespace, classes: 'all' });
    throw new HttpError(403, 'forbidden', answer.ok ? `${identity.name} lacks role ${role}` : answer.reason);
  }
  return identity;
}

/** Longest JSON text of an offending value a plan problem echoes; a longer one is shown cut. */
const MAX_SHOWN_VALUE_CHARS = 200;

/**
 * A plan problem's offending value as the answer shows it: as is when its JSON is short, else that JSON cut to
 * `MAX_SHOWN_VALUE_CHARS` with its length. A caller's value may be huge or nested thousands deep, which the reply's
 * serializer cannot write (the answer would lose its reason), and echoing it whole helps nobody.
 */
function shownValue(value: unknown): unknown {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    return '(a value nested too deeply to show)';
  }
  if (text === undefined || text.length <= MAX_SHOWN_VALUE_CHARS) return value;
  return `${text.slice(0, MAX_SHOWN_VALUE_CHARS)}… (${text.length} characters)`;
}

function planProblems(errors: readonly PlanError[]): HttpError {
  return new HttpError(400, 'invalid-plan', `invalid plan: ${errors.length} problem(s)`, {
    problems: errors.map((e) => ({
      path: e.path,
      rule: e.rule,
      value: shownValue(e.value),
      ...(e.line !== undefined && { line: e.line, column: e.column }),
    })),
  });
}

/** Whether an error means Temporal or Kafka could not be reached (the server's problem, not the caller's). */
function isUnreachable(err: unknown): boolean {
  const text = err instanceof Error ? `${err.name} ${err.message}` : String(err);
  return /TransportError|ECONNREFUSED|UNAVAILABLE|KafkaJSConnectionError|KafkaJSNumberOfRetriesExceeded|deadline exceeded/i.test(
    text,
  );
}

/** Maps an error to its status and body. */
function answerFor(err: unknown, bodyLimit: number): { status: number; body: Record<string, unknown> } {
  if (err instanceof HttpError) {
    return { status: err.statusCode, body: { error: err.error, message: err.message, ...err.extra } };
  }
  if (err instanceof InvalidPlanError) return answerFor(planProblems(err.errors), bodyLimit);
  if (err instanceof CommandRefusedError) return { status: 409, body: { error: 'refused', message: err.reason } };
  if (err instanceof UnknownRolloutError)
    return { status: 404, body: { error: 'unknown-rollout', message: err.message } };
  if (err instanceof RolloutExistsError)
    return { status: 409, body: { error: 'rollout-exists', message: err.message } };
  if (err instanceof UserError) {
    const status = err.exitCode === EXIT.unknownRollout ? 404 : err.exitCode === EXIT.refused ? 409 : 400;
    const error = status === 404 ? 'unknown-rollout' : status === 409 ? 'refused' : 'invalid-request';
    return { status, body: { error, message: err.message } };
  }
  const fastifyError = err as { statusCode?: unknown; code?: unknown; message?: unknown };
  const status = typeof fastifyError.statusCode === 'number' ? fastifyError.statusCode : 500;
  const code = typeof fastifyError.code === 'string' ? fastifyError.code : '';
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE' || status === 413) {
    return {
      status: 413,
      body: { error: 'body-too-large', message: `request body larger than ${bodyLimit} bytes (BSI_API_BODY_LIMIT)` },
    };
  }
  if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || status === 415) {
    return {
      status: 415,
      body: { error: 'unsupported-media-type', message: 'send application/json (or YAML for a plan)' },
    };
  }
  if (status === 429) {
    const message = typeof fastifyError.message === 'string' ? fastifyError.message : 'too many requests';
    return { status, body: { error: 'rate-limited', message } };
  }
  if (status >= 400 && status < 500) {
    const message = typeof fastifyError.message === 'string' ? fastifyError.message : 'bad request';
    const error =
      code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err instanceof SyntaxError ? 'invalid-json' : 'bad-request';
    return { status, body: { error, message } };
  }
  if (isUnreachable(err)) {
    return {
      status: 503,
      body: { error: 'unavailable', message: 'the engine’s servers (Temporal, Kafka) do not answer' },
    };
  }
  return { status: 500, body: { error: 'internal', message: 'unexpected error (see the server log)' } };
}

/** Builds the server (not listening: `listen()` it, or `inject()` requests in tests). */
export async function buildServer(options: ServerOptions): Promise<FastifyInstance> {
  const { backend, auth, bodyLimit } = options;
  const log = options.logger;
  const app = Fastify({
    bodyLimit,
    logger: false,
    // Proxies in front of it are not trusted: the rate limit's fallback key is the peer address.
    trustProxy: false,
    // Long ids reach the zod check (and its 400 with the rule) instead of a bare 414.
    maxParamLength: 1000,
    return503OnClosing: true,
    // Close ends the status streams too (they never go idle on their own).
    forceCloseConnections: true,
    ajv: { customOptions: { allErrors: false } },
    // Errors Fastify raises before routing (a URL with a broken escape) get the same answers as every other error.
    frameworkErrors: (err, _req, reply) => {
      const { status, body } = answerFor(err, bodyLimit);
      // The option types the reply with the route generics left open; it is a plain reply here.
      void (reply as unknown as FastifyReply).code(status).type('application/json').send(body);
    },
  });
  app.decorateRequest('identity', null);
  await app.register(helmet, { global: true });
  await app.register(rateLimit, {
    global: false,
    hook: 'preHandler',
    keyGenerator: (req) => (req.identity ? `${req.identity.kind}:${req.identity.name}` : req.ip),
    errorResponseBuilder: (_req, context) => ({
      statusCode: 429,
      error: 'rate-limited',
      message: `more than ${context.max} commands per ${context.after === '1 minute' ? 'minute' : context.after} from this identity; retry in ${Math.ceil(context.ttl / 1000)} s`,
    }),
  });
  app.addContentTypeParser(YAML_TYPES, { parseAs: 'string' }, (_req, body, done) => done(null, body));

  app.setErrorHandler((err, req, reply) => {
    const { status, body } = answerFor(err, bodyLimit);
    if (status >= 500) log?.error({ err, method: req.method, url: req.url }, 'request failed');
    void reply.code(status).type('application/json').send(body);
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send({ error: 'not-found', message: `no route ${req.method} ${req.url.split('?')[0]}` });
  });

  app.addHook('onRequest', async (req) => {
    if (!req.url.startsWith('/api/')) return;
    const result = await auth.authenticate(req.headers.authorization);
    if (!result.ok) throw new HttpError(result.failure.status, result.failure.error, result.failure.message);
    req.identity = result.identity;
  });

  const ns = backend.namespace;
  const limited = { rateLimit: { max: options.commandsPerMinute, timeWindow: 60_000 } };

  app.get('/healthz', () => Promise.resolve({ ok: true }));
  if (options.console) await registerConsole(app, options.console);
  app.get('/openapi.json', () => Promise.resolve(openApiDocument()));
  if (options.jwks) {
    const jwks = options.jwks;
    app.get('/.well-known/jwks.json', () => Promise.resolve(jwks()));
  }

  app.get('/api/v1/rollouts', async (req) => {
    requireRole(req, { role: 'viewer', namespace: ns, classes: 'all' });
    const query = parse(ListQuerySchema, req.query, 'query');
    const limit = parseListLimit(query.limit, 'limit');
    return { rollouts: await backend.list(limit) };
  });

  app.post('/api/v1/rollouts', { config: limited }, async (req, reply) => {
    const actor = requireSomewhere(req, 'operator', ns);
    let planInput: { text: string } | { value: unknown };
    let rolloutId: string | undefined;
    let reason: string | undefined;
    let supersedes: string | undefined;
    if (typeof req.body === 'string') {
      const query = parse(StartQuerySchema, req.query, 'query');
      planInput = { text: req.body };
      rolloutId = query.rolloutId;
      reason = query.reason?.trim() || undefined;
      supersedes = query.supersedes;
    } else {
      parse(z.object({}).strict(), req.query, 'query');
      const body = parse(StartBodySchema, req.body, 'body');
      planInput = typeof body.plan === 'string' ? { text: body.plan } : { value: body.plan };
      rolloutId = body.rolloutId;
      reason = body.reason;
      supersedes = body.supersedes;
    }
    const checked = 'text' in planInput ? parsePlan(planInput.text, 'plan') : validatePlan(planInput.value);
    if (!checked.ok) throw planProblems(checked.errors);
    requireRole(req, { role: 'operator', namespace: ns, classes: checked.plan.deviceClasses });
    const started = await backend.start({
      plan: checked.plan,
      ...(rolloutId !== undefined && { rolloutId }),
      ...(supersedes !== undefined && { supersedes }),
      actor: actor.name,
      reason: reason ?? `started through the API by ${actor.name}`,
    });
    return reply.code(201).send({
      rolloutId: started.rolloutId,
      workflowId: started.workflowId,
      runId: started.runId,
      actor: actor.name,
    });
  });

  app.get('/api/v1/rollouts/:id', async (req) => {
    requireRole(req, { role: 'viewer', namespace: ns, classes: 'all' });
    const { id } = parse(RolloutParamsSchema, req.params, 'params');
    parse(z.object({}).strict(), req.query, 'query');
    return backend.status(id);
  });

  app.get('/api/v1/rollouts/:id/events', async (req) => {
    requireRole(req, { role: 'viewer', namespace: ns, classes: 'all' });
    const { id } = parse(RolloutParamsSchema, req.params, 'params');
    parse(z.object({}).strict(), req.query, 'query');
    return backend.events(id);
  });

  app.get('/api/v1/rollouts/:id/report', async (req, reply) => {
    requireRole(req, { role: 'viewer', namespace: ns, classes: 'all' });
    const { id } = parse(RolloutParamsSchema, req.params, 'params');
    const query = parse(ReportQuerySchema, req.query, 'query');
    const report = await backend.report(id, parseAtTime(query.at, 'at'));
    if (query.format === 'html') return reply.type('text/html; charset=utf-8').send(renderHtml(report));
    if (query.format === 'text') return reply.type('text/plain; charset=utf-8').send(renderText(report));
    return report;
  });

  app.get('/api/v1/rollouts/:id/stream', async (req, reply) => {
    requireRole(req, { role: 'viewer', namespace: ns, classes: 'all' });
    const { id } = parse(RolloutParamsSchema, req.params, 'params');
    const query = parse(StreamQuerySchema, req.query, 'query');
    const requested = query.interval === undefined ? (options.streamIntervalMs ?? 1000) : Number(query.interval);
    const intervalMs = Math.min(60_000, Math.max(options.streamIntervalMs ?? 250, requested));
    // The first status before the stream opens: an unknown rollout is a plain 404.
    const first = await backend.status(id);
    streamStatus(reply, first, () => backend.status(id), intervalMs, options.heartbeatMs ?? 15_000, log);
  });

  for (const type of Object.keys(COMMAND_ROLES) as OperatorCommandType[]) {
    const role = COMMAND_ROLES[type];
    app.post(`/api/v1/rollouts/:id/${type}`, { config: limited }, async (req) => {
      const actor = requireSomewhere(req, role, ns);
      const { id } = parse(RolloutParamsSchema, req.params, 'params');
      parse(z.object({}).strict(), req.query, 'query');
      const body = parse(CommandBodySchema, req.body, 'body');
      requireRole(req, { role, namespace: ns, classes: body.class === undefined ? 'all' : [body.class] });
      const op = checkOperatorOperation({
        type,
        rolloutId: id,
        ...(body.class !== undefined && { lane: body.class }),
        reason: body.reason,
        actor: actor.name,
        ...(body.requestId !== undefined && { requestId: body.requestId }),
        via: 'the API',
        reasonName: 'a "reason"',
      });
      const result = await backend.command(op);
      return {
        rolloutId: id,
        command: type,
        class: body.class ?? null,
        actor: actor.name,
        requestId: op.requestId,
        ...result,
      };
    });
  }

  app.post('/api/v1/alertmanager', { config: limited }, async (req) => {
    const actor = requireSomewhere(req, 'operator', ns);
    parse(z.object({}).strict(), req.query, 'query');
    const webhook = parse(AlertmanagerWebhookSchema, req.body, 'body');
    const results = [];
    for (const action of alertActions(webhook)) {
      if (action.kind === 'ignored') {
        results.push({ alertname: action.alertname, outcome: 'ignored', message: action.why });
        continue;
      }
      const target = { rolloutId: action.rolloutId, class: action.lane ?? null };
      const allowed = authorize(actor, {
        role: 'operator',
        namespace: ns,
        classes: action.lane === undefined ? 'all' : [action.lane],
      });
      if (!allowed.ok) {
        results.push({ ...target, outcome: 'forbidden', message: allowed.reason });
        continue;
      }
      try {
        const result = await backend.command(
          checkOperatorOperation({
            type: 'pause',
            rolloutId: action.rolloutId,
            ...(action.lane !== undefined && { lane: action.lane }),
            reason: action.reason,
            actor: actor.name,
            requestId: action.requestId,
            via: 'Alertmanager',
            reasonName: 'a reason',
          }),
        );
        results.push({ ...target, outcome: 'paused', eventIds: result.eventIds, message: action.reason });
      } catch (err) {
        const { status, body } = answerFor(err, bodyLimit);
        if (status >= 500) throw err;
        results.push({ ...target, outcome: body.error, message: body.message });
      }
    }
    return { results };
  });

  return app;
}

/**
 * Streams a rollout's status as Server-Sent Events: an `event: status` with the whole status view at once and on
 * every change (polled through the backend), a comment line as heartbeat, and `event: end` when the rollout has
 * ended (then the stream closes). A failed poll sends `event: error` with the reason and closes.
 */
function streamStatus(
  reply: FastifyReply,
  first: Awaited<ReturnType<RolloutBackend['status']>>,
  poll: RolloutBackend['status'] extends (id: string) => infer R ? () => R : never,
  intervalMs: number,
  heartbeatMs: number,
  log: Logger | undefined,
): void {
  reply.hijack();
  const res = reply.raw;
  // Helmet's headers are already set on the raw response; these are the stream's own.
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    'x-accel-buffering': 'no',
  });
  let closed = false;
  let wake: (() => void) | undefined;
  res.on('close', () => {
    closed = true;
    wake?.();
  });
  let seq = 0;
  const send = (event: string, data: unknown) => {
    if (!closed) res.write(`event: ${event}\nid: ${++seq}\ndata: ${JSON.stringify(data)}\n\n`);
  };
  const loop = async () => {
    let view = first;
    let last = '';
    let lastWrite = Date.now();
    while (!closed) {
      const json = JSON.stringify(view);
      if (json !== last) {
        send('status', view);
        last = json;
        lastWrite = Date.now();
      } else if (Date.now() - lastWrite >= heartbeatMs) {
        res.write(`: heartbeat\n\n`);
        lastWrite = Date.now();
      }
      if (isRolloutFinished(view)) {
        send('end', { rolloutId: view.rolloutId, status: view.status });
        break;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, intervalMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      if (closed) break;
      try {
        view = await poll();
      } catch (err) {
        const { body } = answerFor(err, 0);
        send('error', body);
        break;
      }
    }
    res.end();
  };
  loop().catch((err: unknown) => {
    log?.error({ err }, 'status stream failed');
    res.destroy();
  });
}
