// The web console's files as `rollout serve` serves them (Fastify's inject, a fake backend): the page with helmet's
// Content-Security-Policy (scripts from this origin only), every module it imports and every library file it names
// under ./vendor/ answer 200 with their type, the settings the page reads, the redirect to it, and that the API's
// routes still need a token while the page does not.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Authenticator } from '../../api/auth';
import { WEB_DIR } from '../../api/console';
import { buildServer } from '../../api/server';
import { FakeBackend } from '../support/api-fixtures';

let app: FastifyInstance;
const settings = { temporalUiUrl: 'http://127.0.0.1:8233', namespace: 'default' };

beforeAll(async () => {
  app = await buildServer({
    backend: new FakeBackend(),
    auth: new Authenticator({ issuers: [], audience: 'bsi-rollout', rolesClaim: 'bsi_roles', tokens: [] }),
    bodyLimit: 1024 * 1024,
    commandsPerMinute: 60,
    console: settings,
  });
});

afterAll(async () => {
  await app.close();
});

const get = (url: string) => app.inject({ method: 'GET', url });

test('the page is served with a policy that allows only this origin’s scripts, and no inline script', async () => {
  const res = await get('/console/');
  expect(res.statusCode).toBe(200);
  expect(res.headers['content-type']).toMatch(/^text\/html/);
  const csp = String(res.headers['content-security-policy']);
  expect(csp).toContain("script-src 'self'");
  expect(csp).toContain("script-src-attr 'none'");
  expect(csp).not.toMatch(/script-src[^;]*unsafe-inline/);
  // Every script of the page is a file (no inline script to allow).
  expect(res.body).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/);
  expect(res.headers['set-cookie']).toBeUndefined();
});

test('every module and stylesheet the page names is served from this origin', async () => {
  const page = (await get('/console/')).body;
  const named = [...page.matchAll(/(?:href|src)="([^"]+)"/g)].map((m) => m[1]!).filter((u) => !u.startsWith('data:'));
  const imports = readdirSync(WEB_DIR)
    .filter((f) => f.endsWith('.js'))
    .flatMap((f) => [...readFileSync(path.join(WEB_DIR, f), 'utf8').matchAll(/from '\.\/([^']+)'/g)].map((m) => m[1]!));
  const files = new Set([...named, ...imports]);
  expect([...files]).toEqual(expect.arrayContaining(['vendor/preact-htm.js', 'vendor/uplot.js', 'app.js']));
  for (const file of files) {
    expect(file).not.toMatch(/^(https?:)?\/\//);
    const res = await get(`/console/${file}`);
    expect([file, res.statusCode]).toEqual([file, 200]);
    expect(res.headers['content-type']).toMatch(file.endsWith('.css') ? /^text\/css/ : /javascript/);
  }
});

test('the settings the page reads, the redirect to it, a missing file, and the API still behind a token', async () => {
  expect((await get('/console/settings.json')).json()).toEqual(settings);
  const root = await get('/');
  expect(root.statusCode).toBe(302);
  expect(root.headers.location).toBe('/console/');
  expect((await get('/console/no-such-file.js')).statusCode).toBe(404);
  expect((await get('/console/vendor/../../package.json')).statusCode).toBe(404);
  expect((await get('/api/v1/rollouts')).statusCode).toBe(401);
});
