// The HTTP API's routes through Fastify's inject (no network, a fake backend): every route, every role's allowed
// and refused actions, the authenticated actor, token forgery, expiry and audience, validation, limits, the status
// stream and the Alertmanager receiver.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, SignJWT } from 'jose';
import type { FastifyInstance } from 'fastify';
import { Authenticator } from '../../api/auth';
import { DevIssuer } from '../../api/dev-issuer';
import { authorize, type Role } from '../../api/roles';
import { ROUTES } from '../../api/routes';
import type { FakeBackend } from '../support/api-fixtures';
import {
  AUDIENCE,
  grant,
  ISSUER,
  makeKey,
  PLAN_YAML,
  REFUSING,
  sign,
  STATIC_SECRET,
  statusView,
  testServer,
  UNKNOWN,
  type TestKey,
} from '../support/api-fixtures';

let key: TestKey;
let app: FastifyInstance;
let backend: FakeBackend;
const tokens: Partial<Record<Role | 'stranger', string>> = {};

beforeAll(async () => {
  key = await makeKey();
  ({ app, backend } = await testServer(key));
  for (const role of ['viewer', 'operator', 'approver', 'admin'] as const) {
    tokens[role] = await sign(key, [grant(role)], { sub: `${role}-user` });
  }
  tokens.stranger = await sign(key, [grant('admin', undefined, 'other-namespace')], { sub: 'stranger' });
});
afterAll(async () => {
  await app.close();
});

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

type Call = { method: 'GET' | 'POST'; url: string; payload?: object | string; headers?: Record<string, string> };
type RouteCall = { name: string; call: Call; role: Role };
const ROUTE_CALLS: RouteCall[] = [
  { name: 'list', call: { method: 'GET', url: '/api/v1/rollouts' }, role: 'viewer' },
  { name: 'status', call: { method: 'GET', url: '/api/v1/rollouts/r-1' }, role: 'viewer' },
  { name: 'events', call: { method: 'GET', url: '/api/v1/rollouts/r-1/events' }, role: 'viewer' },
  { name: 'report', call: { method: 'GET', url: '/api/v1/rollouts/r-1/report' }, role: 'viewer' },
  { name: 'stream', call: { method: 'GET', url: '/api/v1/rollouts/done-1/stream' }, role: 'viewer' },
  {
    name: 'start',
    call: { method: 'POST', url: '/api/v1/rollouts', payload: { plan: PLAN_YAML, reason: 'ship it' } },
    role: 'operator',
  },
  ...(['pause', 'resume', 'retry', 'rollback', 'abort', 'restart'] as const).map((type): RouteCall => ({
    name: type,
    call: {
      method: 'POST',
      url: `/api/v1/rollouts/r-1/${type}`,
      payload: { class: 'phone-a', reason: 'why' },
    },
    role: 'operator',
  })),
  {
    name: 'approve',
    call: { method: 'POST', url: '/api/v1/rollouts/r-1/approve', payload: { class: 'phone-a', reason: 'looks good' } },
    role: 'approver',
  },
  {
    name: 'alertmanager',
    call: { method: 'POST', url: '/api/v1/alertmanager', payload: alertWebhook('firing') },
    role: 'operator',
  },
];

function alertWebhook(status: 'firing' | 'resolved', labels: Record<string, string> = {}) {
  return {
    version: '4',
    groupKey: '{}:{alertname="BootLoops"}',
    status,
    receiver: 'bsi-rollout',
    groupLabels: { alertname: 'BootLoops' },
    commonLabels: { alertname: 'BootLoops' },
    commonAnnotations: {},
    externalURL: 'http://alertmanager.test',
    alerts: [
      {
        status,
        labels: { alertname: 'BootLoops', rollout_id: 'r-1', device_class: 'laptop-x1', ...labels },
        annotations: { summary: 'boot loops above 1% on laptop-x1' },
        startsAt: '2026-12-01T10:00:00Z',
        endsAt: '0001-01-01T00:00:00Z',
        generatorURL: 'http://prometheus.test/graph',
        fingerprint: 'c0ffee12',
      },
    ],
  };
}

async function send(call: Call, token?: string) {
  backend.statuses = [statusView('done-1', 'completed')];
  return app.inject({
    method: call.method,
    url: call.url,
    ...(call.payload !== undefined && { payload: call.payload }),
    headers: { ...(token !== undefined && bearer(token)), ...call.headers },
  });
}

describe('public routes', () => {
  test('healthz and the OpenAPI document, generated from the route schemas', async () => {
    expect((await app.inject({ url: '/healthz' })).json()).toEqual({ ok: true });
    const doc = (await app.inject({ url: '/openapi.json' })).json();
    expect(doc.openapi).toBe('3.1.0');
    for (const route of ROUTES) {
      const path = route.url.replace(/:([A-Za-z]+)/g, '{$1}');
      expect(doc.paths[path][route.method.toLowerCase()]['x-required-role']).toBe(route.role);
    }
    const start = doc.paths['/api/v1/rollouts'].post;
    expect(start.requestBody.content['application/json'].schema.properties.plan.oneOf[0].properties).toHaveProperty(
      'releaseId',
    );
    expect(
      doc.paths['/api/v1/rollouts/{id}/pause'].post.requestBody.content['application/json'].schema.required,
    ).toEqual(['reason']);
  });

  test('security headers on every answer, and never a cookie', async () => {
    for (const res of [await app.inject({ url: '/healthz' }), await send(ROUTE_CALLS[0]!.call)]) {
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['x-frame-options']).toBe('SAMEORIGIN');
      expect(res.headers['strict-transport-security']).toMatch(/max-age/);
      expect(res.headers['content-security-policy']).toMatch(/default-src 'self'/);
      expect(res.headers['set-cookie']).toBeUndefined();
    }
  });

  test('an unknown route is a 404 with the reason', async () => {
    const res = await app.inject({ url: '/nope' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ error: 'not-found', message: 'no route GET /nope' });
  });
});

describe('every route, every role', () => {
  const ranks: Role[] = ['viewer', 'operator', 'approver', 'admin'];
  for (const { name, call, role: needed } of ROUTE_CALLS) {
    test(`${name}: 401 without a token, 403 below ${needed} and outside the namespace, 2xx from ${needed} up`, async () => {
      const none = await send(call);
      expect(none.statusCode).toBe(401);
      expect(none.json().message).toMatch(/missing token/);
      for (const role of ranks) {
        const res = await send(call, tokens[role]);
        if (ranks.indexOf(role) >= ranks.indexOf(needed)) {
          expect([200, 201]).toContain(res.statusCode);
        } else {
          expect(res.statusCode).toBe(403);
          expect(res.json().message).toMatch(
            new RegExp(`${role}-user needs role ${needed} \\(or higher\\) in namespace default`),
          );
        }
      }
      const stranger = await send(call, tokens.stranger);
      expect(stranger.statusCode).toBe(403);
      expect(stranger.json().message).toMatch(/no role in namespace default/);
    });
  }
});

describe('roles per device class', () => {
  let classOperator: string;
  let classApprover: string;
  beforeAll(async () => {
    classOperator = await sign(key, [grant('viewer'), grant('operator', ['laptop-x1'])], { sub: 'laptop-op' });
    classApprover = await sign(key, [grant('approver', ['phone-a'])], { sub: 'phone-approver' });
  });

  test('an operator of one class commands that class only, not others nor the whole rollout', async () => {
    const own = await send(
      { method: 'POST', url: '/api/v1/rollouts/r-1/pause', payload: { class: 'laptop-x1', reason: 'r' } },
      classOperator,
    );
    expect(own.statusCode).toBe(200);
    const other = await send(
      { method: 'POST', url: '/api/v1/rollouts/r-1/pause', payload: { class: 'phone-a', reason: 'r' } },
      classOperator,
    );
    expect(other.statusCode).toBe(403);
    expect(other.json().message).toMatch(/for class phone-a; it has viewer; operator for laptop-x1/);
    const whole = await send(
      { method: 'POST', url: '/api/v1/rollouts/r-1/pause', payload: { reason: 'r' } },
      classOperator,
    );
    expect(whole.statusCode).toBe(403);
    expect(whole.json().message).toMatch(/for the whole rollout/);
  });

  test('a start needs every class of the plan covered', async () => {
    const res = await send({ method: 'POST', url: '/api/v1/rollouts', payload: { plan: PLAN_YAML } }, classOperator);
    expect(res.statusCode).toBe(403);
    expect(res.json().message).toMatch(/for class phone-a/);
    const both = await sign(key, [grant('operator', ['phone-a', 'laptop-x1'])], { sub: 'both' });
    expect(
      (await send({ method: 'POST', url: '/api/v1/rollouts', payload: { plan: PLAN_YAML } }, both)).statusCode,
    ).toBe(201);
  });

  test('an approver of one class approves it, and reads the namespace', async () => {
    const ok = await send(
      { method: 'POST', url: '/api/v1/rollouts/r-1/approve', payload: { class: 'phone-a', reason: 'r' } },
      classApprover,
    );
    expect(ok.statusCode).toBe(200);
    const no = await send(
      { method: 'POST', url: '/api/v1/rollouts/r-1/approve', payload: { class: 'laptop-x1', reason: 'r' } },
      classApprover,
    );
    expect(no.statusCode).toBe(403);
    expect((await send({ method: 'GET', url: '/api/v1/rollouts/r-1' }, classApprover)).statusCode).toBe(200);
  });

  test('authorize() ranks roles: admin covers approve, approver covers operator commands', () => {
    const id = (role: Role) => ({ name: 'x', kind: 'jwt' as const, grants: [grant(role)] });
    expect(authorize(id('admin'), { role: 'approver', namespace: 'default', classes: ['a'] }).ok).toBe(true);
    expect(authorize(id('approver'), { role: 'operator', namespace: 'default', classes: 'all' }).ok).toBe(true);
    expect(authorize(id('operator'), { role: 'approver', namespace: 'default', classes: ['a'] }).ok).toBe(false);
  });
});

describe('the actor is the authenticated identity', () => {
  test('a command records the token’s sub, and a body naming an actor is refused', async () => {
    backend.commands.length = 0;
    const res = await send(
      {
        method: 'POST',
        url: '/api/v1/rollouts/r-1/pause',
        payload: { class: 'phone-a', reason: 'spike', requestId: 'req-1' },
      },
      tokens.operator,
    );
    expect(res.json()).toMatchObject({ actor: 'operator-user', requestId: 'req-1', accepted: true, class: 'phone-a' });
    expect(backend.commands).toEqual([
      { type: 'pause', rolloutId: 'r-1', lane: 'phone-a', reason: 'spike', actor: 'operator-user', requestId: 'req-1' },
    ]);
    const forged = await send(
      { method: 'POST', url: '/api/v1/rollouts/r-1/pause', payload: { reason: 'x', actor: 'ceo' } },
      tokens.admin,
    );
    expect(forged.statusCode).toBe(400);
    expect(forged.json().message).toMatch(/actor is not accepted: the actor recorded is the authenticated identity/);
  });

  test('a static token’s name is its actor; a start records it too', async () => {
    backend.starts.length = 0;
    const res = await send(
      { method: 'POST', url: '/api/v1/rollouts', payload: { plan: PLAN_YAML, reason: 'nightly' } },
      STATIC_SECRET,
    );
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({ actor: 'ci-bot', rolloutId: 'bsi-test-1' });
    expect(backend.starts[0]).toMatchObject({ actor: 'ci-bot', reason: 'nightly' });
  });
});

describe('authentication failures say why', () => {
  test.each([
    ['Basic abc', /must be "Bearer <token>"/, 'malformed-header'],
    ['Bearer not-a-known-static-token', /unknown API token/, 'unknown-token'],
    ['Bearer aaa.bbb.ccc', /malformed JWT/, 'malformed-token'],
  ])('%s', async (header, message, error) => {
    const res = await app.inject({ url: '/api/v1/rollouts', headers: { authorization: header } });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({ error, message: expect.stringMatching(message) });
  });

  test('forged, expired, wrong audience, wrong issuer, not yet valid, unsigned, HMAC', async () => {
    const other = await makeKey('k1');
    const cases: [string, RegExp, string][] = [
      [await sign(other, [grant('admin')]), /bad signature/, 'bad-signature'],
      [await sign(key, [grant('admin')], { expSec: -60 }), /token expired \(exp 20/, 'token-expired'],
      [
        await sign(key, [grant('admin')], { aud: 'someone-else' }),
        /wrong audience: the token must name bsi-rollout/,
        'wrong-audience',
      ],
      [
        await sign(key, [grant('admin')], { iss: 'https://evil.test' }),
        /untrusted issuer "https:\/\/evil.test"/,
        'unknown-issuer',
      ],
      [await sign(key, [grant('admin')], { nbfSec: 600 }), /not valid yet/, 'token-not-yet-valid'],
      [await sign(await makeKey('k2'), [grant('admin')]), /no key of the issuer matches/, 'bad-signature'],
    ];
    const valid = await sign(key, [grant('admin')]);
    const [header, payload] = valid.split('.');
    const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${payload}.`;
    cases.push([unsigned, /signature algorithm not accepted|malformed/, '']);
    const hmac = await new SignJWT({ bsi_roles: [grant('admin')] })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject('mallory')
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode('guessed-secret-guessed-secret-32'));
    cases.push([hmac, /signature algorithm not accepted/, 'bad-algorithm']);
    // The signature of another token pasted onto this one's header and claims.
    cases.push([
      `${header}.${Buffer.from(JSON.stringify({ sub: 'mallory', iss: ISSUER, aud: AUDIENCE, exp: 9e9 })).toString('base64url')}.${valid.split('.')[2]}`,
      /bad signature/,
      'bad-signature',
    ]);
    for (const [token, message, error] of cases) {
      const res = await app.inject({ url: '/api/v1/rollouts', headers: bearer(token) });
      expect(res.statusCode).toBe(401);
      expect(res.json().message).toMatch(message);
      if (error) expect(res.json().error).toBe(error);
    }
  });

  test('a malformed roles claim is refused with what is wrong', async () => {
    const bad = await sign(key, [], { extra: { bsi_roles: [{ role: 'god', namespace: 'default' }] } });
    const res = await app.inject({ url: '/api/v1/rollouts', headers: bearer(bad) });
    expect(res.statusCode).toBe(401);
    expect(res.json().message).toMatch(/bsi_roles claim is not a list/);
  });

  test('a remote JWKS (jose createRemoteJWKSet) over HTTP verifies; an issuer that does not answer is a 503', async () => {
    const jwksServer: Server = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(key.jwks));
    });
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    const { port } = jwksServer.address() as AddressInfo;
    try {
      const remote = new Authenticator({
        issuers: [
          { issuer: ISSUER, keys: createRemoteJWKSet(new URL(`http://127.0.0.1:${port}/jwks`)) },
          {
            issuer: 'https://down.test',
            keys: createRemoteJWKSet(new URL('http://127.0.0.1:1/jwks'), { timeoutDuration: 2000 }),
          },
        ],
        audience: AUDIENCE,
        rolesClaim: 'bsi_roles',
        tokens: [],
      });
      const ok = await remote.authenticate(`Bearer ${await sign(key, [grant('viewer')], { sub: 'remote-user' })}`);
      expect(ok).toMatchObject({ ok: true, identity: { name: 'remote-user', kind: 'jwt' } });
      const down = await remote.authenticate(
        `Bearer ${await sign(key, [grant('viewer')], { iss: 'https://down.test' })}`,
      );
      expect(down).toMatchObject({ ok: false, failure: { status: 503, error: 'issuer-unreachable' } });
    } finally {
      await new Promise((resolve) => jwksServer.close(resolve));
    }
  });

  test('the dev issuer mints tokens its JWKS verifies', async () => {
    const dev = await DevIssuer.generate(AUDIENCE);
    const auth = new Authenticator({
      issuers: [{ issuer: dev.issuer, keys: dev.keys() }],
      audience: AUDIENCE,
      rolesClaim: 'bsi_roles',
      tokens: [],
    });
    const token = await dev.mint({ sub: 'dev-user', grants: [grant('approver')] });
    expect(await auth.authenticate(`Bearer ${token}`)).toMatchObject({
      ok: true,
      identity: { name: 'dev-user', grants: [grant('approver')] },
    });
    expect(dev.jwks().keys[0]).not.toHaveProperty('d');
  });
});

describe('validation and limits', () => {
  test('a bad plan is a 400 with every problem; YAML bodies are accepted', async () => {
    const bad = await send(
      { method: 'POST', url: '/api/v1/rollouts', payload: { plan: { releaseId: 'x', phases: [{ share: 200 }] } } },
      tokens.operator,
    );
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error).toBe('invalid-plan');
    expect(bad.json<{ problems: { path: string }[] }>().problems.map((p) => p.path)).toEqual(
      expect.arrayContaining(['artifact', 'phases[0].share']),
    );
    const syntax = await send(
      { method: 'POST', url: '/api/v1/rollouts', payload: { plan: 'releaseId: [' } },
      tokens.operator,
    );
    expect(syntax.json().problems[0].path).toBe('(syntax)');
    const yaml = await send(
      {
        method: 'POST',
        url: '/api/v1/rollouts?rolloutId=from-yaml&reason=uploaded',
        payload: PLAN_YAML,
        headers: { 'content-type': 'application/yaml' },
      },
      tokens.operator,
    );
    expect(yaml.statusCode).toBe(201);
    expect(yaml.json().rolloutId).toBe('from-yaml');
  });

  test('bad JSON, wrong media type, wrong types, missing reason: 4xx with the reason', async () => {
    const json = await send(
      {
        method: 'POST',
        url: '/api/v1/rollouts/r-1/pause',
        payload: '{"reason":',
        headers: { 'content-type': 'application/json' },
      },
      tokens.operator,
    );
    expect(json.statusCode).toBe(400);
    expect(json.json().error).toBe('invalid-json');
    const media = await send(
      {
        method: 'POST',
        url: '/api/v1/rollouts/r-1/pause',
        payload: 'reason=x',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      },
      tokens.operator,
    );
    expect(media.statusCode).toBe(415);
    const types = await send(
      { method: 'POST', url: '/api/v1/rollouts/r-1/pause', payload: { reason: 5 } },
      tokens.operator,
    );
    expect(types.statusCode).toBe(400);
    expect(types.json().message).toMatch(/^body.reason: /);
    const none = await send(
      { method: 'POST', url: '/api/v1/rollouts/r-1/resume', payload: { class: 'phone-a' } },
      tokens.operator,
    );
    expect(none.statusCode).toBe(400);
    const query = await send({ method: 'GET', url: '/api/v1/rollouts?limit=abc' }, tokens.viewer);
    expect(query.statusCode).toBe(400);
    const id = await send({ method: 'GET', url: `/api/v1/rollouts/${'x'.repeat(200)}` }, tokens.viewer);
    expect(id.statusCode).toBe(400);
  });

  test('a body over the limit is a 413 saying the limit', async () => {
    const { app: small } = await testServer(key, { bodyLimit: 4096 });
    try {
      const res = await small.inject({
        method: 'POST',
        url: '/api/v1/rollouts',
        payload: { plan: 'x'.repeat(10_000) },
        headers: bearer(tokens.operator!),
      });
      expect(res.statusCode).toBe(413);
      expect(res.json()).toEqual({
        error: 'body-too-large',
        message: 'request body larger than 4096 bytes (BSI_API_BODY_LIMIT)',
      });
    } finally {
      await small.close();
    }
  });

  test('commands are rate-limited per identity', async () => {
    const { app: limited } = await testServer(key, { commandsPerMinute: 3 });
    try {
      const pause = () =>
        limited.inject({
          method: 'POST',
          url: '/api/v1/rollouts/r-1/pause',
          payload: { reason: 'r' },
          headers: bearer(tokens.operator!),
        });
      for (let i = 0; i < 3; i++) expect((await pause()).statusCode).toBe(200);
      const res = await pause();
      expect(res.statusCode).toBe(429);
      expect(res.json()).toMatchObject({
        error: 'rate-limited',
        message: expect.stringMatching(/more than 3 commands per minute/),
      });
      // Reads are not limited, and another identity has its own budget.
      expect((await limited.inject({ url: '/api/v1/rollouts', headers: bearer(tokens.operator!) })).statusCode).toBe(
        200,
      );
      const admin = await limited.inject({
        method: 'POST',
        url: '/api/v1/rollouts/r-1/pause',
        payload: { reason: 'r' },
        headers: bearer(tokens.admin!),
      });
      expect(admin.statusCode).toBe(200);
    } finally {
      await limited.close();
    }
  });

  test('refusals are 409 with the engine’s reason, unknown rollouts 404', async () => {
    const refused = await send(
      { method: 'POST', url: `/api/v1/rollouts/${REFUSING}/pause`, payload: { class: 'phone-a', reason: 'r' } },
      tokens.operator,
    );
    expect(refused.statusCode).toBe(409);
    expect(refused.json()).toEqual({ error: 'refused', message: 'lane phone-a is already paused' });
    for (const url of [
      `/api/v1/rollouts/${UNKNOWN}`,
      `/api/v1/rollouts/${UNKNOWN}/events`,
      `/api/v1/rollouts/${UNKNOWN}/stream`,
    ]) {
      const res = await send({ method: 'GET', url }, tokens.viewer);
      expect(res.statusCode).toBe(404);
      expect(res.json().message).toBe(`unknown rollout ${UNKNOWN}`);
    }
  });

  test('the report in JSON, HTML and text; a bad time is a 400', async () => {
    expect(
      (await send({ method: 'GET', url: '/api/v1/rollouts/r-1/report?at=yesterday' }, tokens.viewer)).json().message,
    ).toMatch(/not a time/);
  });
});

describe('the status stream', () => {
  test('pushes the status at once and on every change (events: status, status, end), then closes', async () => {
    backend.statuses = [
      statusView('s-2', 'running', 't1'),
      statusView('s-2', 'running', 't1'),
      statusView('s-2', 'running', 't2'),
      statusView('s-2', 'completed', 't3'),
    ];
    const res = await app.inject({ url: '/api/v1/rollouts/s-2/stream?interval=100', headers: bearer(tokens.viewer!) });
    expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    const events = res.body
      .split('\n\n')
      .filter((block) => block.startsWith('event:'))
      .map((block) => {
        const lines = block.split('\n');
        return {
          event: lines[0]!.slice(7),
          data: JSON.parse(lines[2]!.slice(6)) as { updatedAt?: string; status: string },
        };
      });
    expect(events.map((e) => `${e.event}:${e.data.status}:${e.data.updatedAt ?? ''}`)).toEqual([
      'status:running:t1',
      'status:running:t2',
      'status:completed:t3',
      'end:completed:',
    ]);
  });
});

describe('the Alertmanager receiver', () => {
  test('a firing alert pauses the class it names, with the alert as the reason and the token as the actor', async () => {
    backend.commands.length = 0;
    const res = await send(
      { method: 'POST', url: '/api/v1/alertmanager', payload: alertWebhook('firing') },
      STATIC_SECRET,
    );
    expect(res.statusCode).toBe(200);
    expect(res.json().results).toEqual([
      expect.objectContaining({ rolloutId: 'r-1', class: 'laptop-x1', outcome: 'paused' }),
    ]);
    expect(backend.commands).toEqual([
      {
        type: 'pause',
        rolloutId: 'r-1',
        lane: 'laptop-x1',
        reason: 'alert BootLoops: boot loops above 1% on laptop-x1 (Alertmanager, fingerprint c0ffee12)',
        actor: 'ci-bot',
        requestId: 'alertmanager-c0ffee12-1796119200000-laptop-x1',
      },
    ]);
  });

  test('resolved alerts resume nothing; alerts without a rollout_id are ignored; refusals are reported', async () => {
    backend.commands.length = 0;
    const resolved = await send(
      { method: 'POST', url: '/api/v1/alertmanager', payload: alertWebhook('resolved') },
      tokens.operator,
    );
    expect(resolved.json().results[0]).toMatchObject({
      outcome: 'ignored',
      message: expect.stringMatching(/resolved alerts do not resume/),
    });
    const unlabelled = alertWebhook('firing');
    delete (unlabelled.alerts[0]!.labels as Record<string, string>).rollout_id;
    expect(
      (await send({ method: 'POST', url: '/api/v1/alertmanager', payload: unlabelled }, tokens.operator)).json()
        .results[0].outcome,
    ).toBe('ignored');
    const refused = await send(
      { method: 'POST', url: '/api/v1/alertmanager', payload: alertWebhook('firing', { rollout_id: REFUSING }) },
      tokens.operator,
    );
    expect(refused.json().results[0]).toMatchObject({ outcome: 'refused', message: 'lane phone-a is already paused' });
    expect(backend.commands).toEqual([]);
  });

  test('the whole rollout when no device_class; per-class operators are checked per alert; bad payloads are 400', async () => {
    const payload = alertWebhook('firing');
    delete (payload.alerts[0]!.labels as Record<string, string>).device_class;
    backend.commands.length = 0;
    await send({ method: 'POST', url: '/api/v1/alertmanager', payload }, tokens.operator);
    expect(backend.commands[0]).toMatchObject({ type: 'pause', rolloutId: 'r-1' });
    expect(backend.commands[0]).not.toHaveProperty('lane');
    const phoneOp = await sign(key, [grant('operator', ['phone-a'])], { sub: 'phone-op' });
    const forbidden = await send(
      { method: 'POST', url: '/api/v1/alertmanager', payload: alertWebhook('firing') },
      phoneOp,
    );
    expect(forbidden.json().results[0]).toMatchObject({
      outcome: 'forbidden',
      message: expect.stringMatching(/for class laptop-x1/),
    });
    const bad = await send(
      { method: 'POST', url: '/api/v1/alertmanager', payload: { version: '3', alerts: [] } },
      tokens.operator,
    );
    expect(bad.statusCode).toBe(400);
  });
});
