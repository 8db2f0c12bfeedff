// The web console in a real headless Chromium (Debian's `chromium`, driven by playwright-core; nothing downloads a
// browser) against the real Kafka and Temporal: a worker, an ingest member, the fleet simulator
// (examples/scenarios/small.yaml) and `rollout serve` with the dev issuer run as real processes from dist/. The page
// signs in with the token in the URL fragment, shows a bad plan's problems and the refusal of a plan that supersedes an
// unknown rollout, starts a plan with a healthy class and a bad one, shows the bad class halting by the status stream
// without a reload, rolls it back through its button with a reason, shows the engine's refusal of a later command, and
// the timeline records the rollback with the token's identity as the actor. Screenshots go to out/dashboard/.
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { devIssuerFile, mintDevToken } from '../../api/dev-issuer';
import { loadConfig } from '../../config/env';
import { PACKAGE_ROOT } from '../../layout/package-layout';
import { startEngineProcess, type EngineProcess } from '../../scripts/engine-process';
import { connectClient } from '../../temporal/connection';
import { rolloutWorkflowId } from '../../workflows/messages';
import { uniqueName } from '../support/unique-name';

jest.setTimeout(300_000);

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SHOTS = join(PACKAGE_ROOT, 'out', 'dashboard');
const SCENARIO = join(PACKAGE_ROOT, 'examples', 'scenarios', 'small.yaml');
const ACTOR = 'sre-dana';

const run = uniqueName('dash');
const rolloutId = `${run}-r`;
const env: Record<string, string> = {
  BSI_TOPIC_ROLLOUT_EVENTS: `${run}.rollout-events`,
  BSI_TOPIC_COMMANDS: `${run}.commands`,
  BSI_TOPIC_INSTALL_EVENTS: `${run}.install-events`,
  BSI_TOPIC_INSTALL_EVENTS_DLQ: `${run}.install-events.dlq`,
  BSI_TOPIC_PARTITIONS: '3',
  TEMPORAL_TASK_QUEUE: run,
  INGEST_GROUP_ID: `${run}-ingest`,
  INGEST_METRICS_PORT: '0',
  BSI_API_DEV_ISSUER: '1',
  BSI_DATA_DIR: mkdtempSync(join(tmpdir(), 'dash-data-')),
  LOG_LEVEL: 'info',
};

// phone-a is healthy; laptop-x1 gets build 26.3.2, which fails on 15% of installs in the scenario. Breaches pause,
// so the class waits for an operator, who rolls it back from the page; a rollback is watched for 15 s.
const PLAN = `releaseId: bsi-26.3-console
artifact: { build: 26.3.1 }
deviceClasses: [phone-a, laptop-x1]
phases:
  - { share: 5, bake: 8s }
  - { share: 50, bake: 8s }
  - { share: 100, bake: 0 }
thresholds: { maxFailureRate: 0.05, minSample: 40, installTimeoutSec: 60 }
breachPolicy: { action: pause }
rollbackTimeout: 15s
completion: { patchedShare: 0.9, deadline: 90s }
classes:
  phone-a:
    completion: { expectedDevices: 2000 }
  laptop-x1:
    artifact: { build: 26.3.2 }
`;
const BAD_PLAN = PLAN.replace('maxFailureRate: 0.05', 'maxFailureRate: 2');

const children: EngineProcess[] = [];
let apiUrl = '';
let browser: Browser | undefined;
const problems: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium) or set CHROMIUM_PATH`,
    );
  }
  mkdirSync(SHOTS, { recursive: true });
  const logs = join(SHOTS, 'logs');
  mkdirSync(logs, { recursive: true });
  const start = (name: string, args: string[], ready: RegExp, onLine?: (line: string) => void) => {
    const p = startEngineProcess(name, args, {
      env,
      logFile: join(logs, `${name}.log`),
      ready,
      ...(onLine && { onLine }),
    });
    children.push(p);
    return p.ready;
  };
  // The worker creates the topics; the others start once they exist.
  await start('worker', ['worker'], /worker running/);
  await Promise.all([
    start('ingest', ['ingest'], /"ingest":"started"/),
    start('simulator', ['simulate', SCENARIO, '--group', `${run}-sim`], /simulating/),
    start('serve', ['serve', '--port', '0', '--host', '127.0.0.1'], /API listening/, (line) => {
      const url = /"url":"(http:\/\/[^"]+)"/.exec(line)?.[1];
      if (url && apiUrl === '') apiUrl = url;
    }),
  ]);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  // A run that failed half-way leaves no rollout running in the shared namespace without its worker.
  const client = await connectClient(loadConfig({ ...process.env, ...env }).temporal);
  await client.workflow
    .getHandle(rolloutWorkflowId(rolloutId))
    .terminate('dashboard browser test ended')
    .catch(() => undefined);
  await client.connection.close();
  await Promise.all(children.map((c) => c.stop()));
});

/** A page that records script errors and Content-Security-Policy violations into `problems`. */
async function openPage(): Promise<Page> {
  const page = await browser!.newPage({ viewport: { width: 1440, height: 1000 } });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (message) => {
    const text = message.text();
    if (/Content Security Policy|Refused to (load|execute|apply)/i.test(text)) problems.push(`CSP: ${text}`);
  });
  return page;
}

const card = (page: Page, lane: string) => page.locator(`[data-lane-card="${lane}"]`);

test('the console follows a rollout live, rolls a halted class back with a reason, and shows who did it', async () => {
  const token = await mintDevToken(devIssuerFile(env), {
    sub: ACTOR,
    grants: [{ role: 'operator', namespace: process.env.TEMPORAL_NAMESPACE ?? 'default' }],
  });
  const page = await openPage();

  // Signed in from the fragment, which then leaves the address bar.
  await page.goto(`${apiUrl}/console/#token=${token}`);
  await page.getByRole('heading', { name: 'Rollouts' }).waitFor();
  expect(page.url()).toBe(`${apiUrl}/console/`);

  // A bad plan: the engine's problems, each with its path and rule.
  await page.locator('[data-open-start]').click();
  await page.locator('textarea[name="plan"]').fill(BAD_PLAN);
  await page.locator('button[data-start]').click();
  await page.locator('[data-plan-problems]').waitFor();
  expect(await page.locator('[data-plan-problems]').innerText()).toMatch(/400 .*\n?[\s\S]*thresholds\.maxFailureRate/);
  await page.screenshot({ path: join(SHOTS, '1-plan-problems.png'), fullPage: true });

  // A good plan that supersedes a rollout the engine does not know: refused with the id, nothing started.
  await page.locator('textarea[name="plan"]').fill(PLAN);
  await page.locator('input[name="supersedes"]').fill(`${run}-nobody`);
  await page.locator('button[data-start]').click();
  await page.locator('[data-plan-problems]').getByText(`unknown rollout ${run}-nobody`).waitFor();
  expect(await page.locator('[data-plan-problems]').innerText()).toMatch(/404 /);
  await page.locator('input[name="supersedes"]').fill('');

  // The good plan starts and the page moves to the rollout.
  await page.locator('textarea[name="plan"]').fill(PLAN);
  await page.locator('input[name="rolloutId"]').fill(rolloutId);
  await page.locator('input[name="startReason"]').fill('CVE-2026-0042 fix, console test');
  await page.locator('button[data-start]').click();
  await page.waitForURL(`**/console/?rollout=${rolloutId}`);
  await page.locator('[data-stream="live"]').waitFor({ timeout: 30_000 });
  // From here on the page is never reloaded: this mark would vanish with a reload.
  await page.evaluate(() => {
    (globalThis as unknown as { noReload: boolean }).noReload = true;
  });

  // The bad class halts on its breach, seen through the stream.
  await card(page, 'laptop-x1').and(page.locator('[data-status="paused"]')).waitFor({ timeout: 120_000 });
  const halted = card(page, 'laptop-x1');
  await halted.locator('[data-breach]').waitFor({ timeout: 15_000 });
  expect(await halted.locator('[data-breach]').innerText()).toMatch(
    /failure rate (\([^)]+\) )?\d+\.\d+% against at most \d/,
  );
  expect(await halted.locator('[data-verdict]').innerText()).toMatch(/Breach/);
  expect(await halted.locator('[data-waiting]').innerText()).toMatch(/an operator \(paused by breach\)/);
  expect(await halted.locator('[data-window-rate]').innerText()).toMatch(/^\d+\.\d+% against at most 5\.00%$/);
  expect(await halted.locator('[data-total-rate]').innerText()).toMatch(/against at most 5\.00%/);
  expect(await halted.locator('[data-chart="laptop-x1"] canvas').count()).toBe(1);
  await page.screenshot({ path: join(SHOTS, '2-breach-halted.png'), fullPage: true });

  // Rolled back through its button, with a reason; the answer names the token's identity.
  await halted.locator('button[data-action="rollback"]').click();
  await halted.locator('input[name="reason"]').fill('boot loops on laptop-x1, rolling back from the console');
  await halted.locator('button[data-confirm="rollback"]').click();
  await halted.locator('.accepted').waitFor();
  expect(await halted.locator('.accepted').innerText()).toContain(
    `rollback of laptop-x1 accepted, recorded as ${ACTOR}`,
  );
  await card(page, 'laptop-x1').and(page.locator('[data-status="rolled-back"]')).waitFor({ timeout: 90_000 });
  expect(await card(page, 'laptop-x1').locator('[data-breach]').innerText()).toMatch(/^Rolled back after a breach/);
  // Its verdict is the breach that sent it back, not its rollback window's "healthy".
  expect(await card(page, 'laptop-x1').locator('[data-verdict-chip]').innerText()).toBe('breach');
  expect(await card(page, 'laptop-x1').locator('[data-verdict]').innerText()).toMatch(/^Breach in phase \d/);
  // What it installed was taken back: no patched share is shown for it.
  expect(await card(page, 'laptop-x1').locator('[data-patched]').count()).toBe(0);

  // The engine refuses a command the class can no longer take, and the page shows why.
  const rolledBack = card(page, 'laptop-x1');
  await rolledBack.locator('button[data-action="resume"]').click();
  await rolledBack.locator('input[name="reason"]').fill('try to resume a rolled-back class');
  await rolledBack.locator('button[data-confirm="resume"]').click();
  await rolledBack.locator('.refusal[role="alert"]').waitFor();
  expect(await rolledBack.locator('.refusal[role="alert"]').innerText()).toMatch(
    /refused resume of laptop-x1 \(409 refused\): .*rolled-back/,
  );

  // The healthy class goes to 100 % meanwhile, and the rollout ends.
  await card(page, 'phone-a').and(page.locator('[data-status="completed"]')).waitFor({ timeout: 120_000 });
  // It completed on its patched share (90 % of its 2,000 devices), and its card says how far and how fast.
  expect(await card(page, 'phone-a').locator('[data-patched]').innerText()).toMatch(
    /^(9\d|100)\.\d\d% of the class \(\d+ of 2000\), target 90\.00%.*50 % after \d/,
  );
  await page.locator('[data-rollout-status]').filter({ hasText: 'completed' }).waitFor({ timeout: 60_000 });

  // The timeline has the rollback with the actor and the reason.
  const rollbackRow = page.locator('tr[data-event="rollback-started"][data-lane="laptop-x1"]');
  await rollbackRow.waitFor({ timeout: 30_000 });
  expect(await rollbackRow.locator('[data-actor]').innerText()).toBe(ACTOR);
  expect(await rollbackRow.locator('[data-reason]').innerText()).toBe(
    'boot loops on laptop-x1, rolling back from the console',
  );
  const startedRow = page.locator('tr[data-event="rollout-started"]');
  expect(await startedRow.locator('[data-actor]').innerText()).toBe(ACTOR);
  expect(await page.evaluate(() => (globalThis as unknown as { noReload?: boolean }).noReload)).toBe(true);

  // Links: the Temporal UI's workflow page, and the postmortem fetched with the token into a new tab.
  expect(await page.locator('a[data-link="temporal"]').getAttribute('href')).toContain(
    `/workflows/${encodeURIComponent(`rollout/${rolloutId}`)}`,
  );
  const [report] = await Promise.all([
    page.context().waitForEvent('page'),
    page.locator('button[data-link="postmortem"]').click(),
  ]);
  await report.waitForURL(/^blob:/);
  await report.waitForLoadState();
  expect(await report.content()).toContain(rolloutId);
  await report.close();
  await page.screenshot({ path: join(SHOTS, '3-rolled-back.png'), fullPage: true });

  // The list shows the rollout, its classes, its breach and who started it. (Running rollouts come first, and in
  // the shared namespace some may belong to stopped workers: their rows are given up after a few seconds each.)
  await page.goto(`${apiUrl}/console/`);
  const row = page.locator(`tr[data-row="${rolloutId}"]`);
  await row.filter({ hasText: ACTOR }).waitFor({ timeout: 90_000 });
  expect(await row.innerText()).toMatch(/completed[\s\S]*bsi-26\.3-console[\s\S]*laptop-x1[\s\S]*1 \(laptop-x1\)/);
  await page.screenshot({ path: join(SHOTS, '4-list.png') });

  expect(problems).toEqual([]);
});

test('without a token the page asks for one, and a refused token is explained', async () => {
  const page = await openPage();
  await page.goto(`${apiUrl}/console/`);
  await page.locator('textarea[name="token"]').fill('not-a-token');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('.refusal[role="alert"]').waitFor();
  expect(await page.locator('.refusal[role="alert"]').innerText()).toMatch(/refused the token \(401/);
  expect(
    await page.evaluate(() => (globalThis as unknown as { sessionStorage: { length: number } }).sessionStorage.length),
  ).toBe(0);
  expect(problems).toEqual([]);
});
