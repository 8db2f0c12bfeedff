/**
 * `make demo`: the whole engine end to end on this machine. Starts (or reuses) the local Kafka and
 * Temporal servers, runs a worker, an ingest member and the fleet simulator as real processes, starts
 * the bundled rollout (4 device classes × 25,000 devices; laptop-x1 gets a build that fails on 6% of
 * installs), shows the live status, serves the web console (`rollout serve` with the dev issuer; the URL printed
 * carries a dev token in its fragment, so the rollout can be watched in a browser), and waits for the end: the bad class rolled back, the others at
 * 100%. Writes the postmortem under out/<rolloutId>/, prints a summary line, stops everything it
 * started, and exits 0 only if the rollout ended as expected.
 *
 * `node dist/scripts/demo.js regression` (`make demo-regression`) runs the second bundled demo instead: two classes,
 * one of which gets a build that installs cleanly but triples app crashes, caught against its class's concurrent
 * control, while a fleet-wide crash spike halts nothing.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { devIssuerFile, mintDevToken } from '../api/dev-issuer';
import { getStatus, startRollout, waitForRollout, type LaneStatusView } from '../client';
import { loadConfig } from '../config/env';
import { parsePlan } from '../events/plan';
import { connectClient } from '../temporal/connection';
import { isFinished, renderStatus, WatchView } from '../cli/status-view';
import type { ReplayReport } from '../replay/postmortem';
import { startEngineProcess, type EngineProcess } from './engine-process';
import { down, up, REPO_ROOT } from './servers/index';

/** A bundled demo: its plan and scenario, and how each class must end for the demo to pass. */
interface Demo {
  plan: string;
  scenario: string;
  expected: Record<string, string>;
  reason: string;
}

const DEMOS: Record<string, Demo> = {
  // `make demo`: a build failing on 6 % of installs on laptop-x1, rolled back; the others patched.
  install: {
    plan: 'examples/plans/demo.yaml',
    scenario: 'examples/scenarios/demo.yaml',
    expected: { 'phone-a': 'completed', 'phone-b': 'completed', 'tablet-c': 'completed', 'laptop-x1': 'rolled-back' },
    reason: 'bundled demo scenario',
  },
  // `make demo-regression`: a build that installs cleanly but triples app crashes on laptop-x1, caught against the
  // class's concurrent control and rolled back, while a fleet-wide crash spike halts nothing (phone-a completes).
  regression: {
    plan: 'examples/plans/regression.yaml',
    scenario: 'examples/scenarios/regression.yaml',
    expected: { 'phone-a': 'completed', 'laptop-x1': 'rolled-back' },
    reason: 'bundled compatibility-regression scenario',
  },
};

/** The demo the command line names (`install` when it names none); an unknown name exits 2 with the choices. */
function demoOf(name = 'install'): Demo {
  const demo = DEMOS[name];
  if (demo !== undefined) return demo;
  process.stderr.write(`[demo] unknown demo ${name}: one of ${Object.keys(DEMOS).join(', ')}\n`);
  process.exit(2);
}

const DEMO = demoOf(process.argv[2]);
const PLAN = join(REPO_ROOT, DEMO.plan);
const SCENARIO = join(REPO_ROOT, DEMO.scenario);
const EXPECTED = DEMO.expected;

const say = (line: string) => process.stdout.write(`[demo] ${line}\n`);

/** The console's port: `BSI_DEMO_API_PORT`, else any free one (the URL is printed). */
const API_PORT = process.env.BSI_DEMO_API_PORT ?? '0';

async function main(): Promise<number> {
  const t0 = Date.now();
  const rolloutId = `demo-${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '').toLowerCase()}`;
  const outDir = join(REPO_ROOT, 'out', rolloutId);
  mkdirSync(join(outDir, 'logs'), { recursive: true });

  say('starting Kafka and Temporal (reused when already running)');
  const reports = await up({ log: (line) => say(line) });
  const startedServers = reports.filter((r) => r.state === 'started').map((r) => r.name);
  const config = loadConfig(process.env);
  const children: EngineProcess[] = [];
  try {
    const spawnLogged = (name: string, args: string[], ready: RegExp) => {
      const p = startEngineProcess(name, args, { logFile: join(outDir, 'logs', `${name}.log`), ready });
      children.push(p);
      return p;
    };
    say(`starting worker, ingest, fleet simulator and the console (logs in ${join('out', rolloutId, 'logs')})`);
    let apiUrl = '';
    const serve = startEngineProcess('serve', ['serve', '--port', API_PORT, '--host', '127.0.0.1'], {
      env: { BSI_API_DEV_ISSUER: '1' },
      logFile: join(outDir, 'logs', 'serve.log'),
      ready: /API listening/,
      onLine: (line) => {
        apiUrl ||= /"url":"(http:\/\/[^"]+)"/.exec(line)?.[1] ?? '';
      },
    });
    children.push(serve);
    await Promise.all([
      spawnLogged('worker', ['worker'], /worker running/).ready,
      spawnLogged('ingest', ['ingest'], /"ingest":"started"/).ready,
      spawnLogged('simulator', ['simulate', SCENARIO, '--truth-out', join(outDir, 'ground-truth.json')], /simulating/)
        .ready,
      serve.ready,
    ]);

    const client = await connectClient(config.temporal);
    const parsed = parsePlan(readFileSync(PLAN, 'utf8'), PLAN);
    if (!parsed.ok) throw new Error(`bundled plan is invalid: ${JSON.stringify(parsed.errors)}`);
    const started = await startRollout(client, {
      plan: parsed.plan,
      rolloutId,
      actor: 'make-demo',
      reason: DEMO.reason,
      taskQueue: config.temporal.taskQueue,
    });
    say(
      `rollout ${started.rolloutId} started: ${config.temporal.uiUrl}/namespaces/${config.temporal.namespace}/workflows/${encodeURIComponent(started.workflowId)}`,
    );
    // A dev token of the console's own dev issuer (valid while this demo runs), in the fragment: never sent to the
    // server, the page keeps it in the tab's sessionStorage.
    const token = await mintDevToken(devIssuerFile(process.env), {
      sub: 'make-demo',
      grants: [{ role: 'admin', namespace: config.temporal.namespace }],
    });
    say(`watch it live: ${apiUrl}/console/?rollout=${encodeURIComponent(rolloutId)}#token=${token}`);

    const watch = process.stdout.isTTY ? new WatchView() : undefined;
    let view = await getStatus(client, rolloutId);
    let lastPrinted = 0;
    while (!isFinished(view)) {
      if (watch) watch.update(view, Date.now());
      else if (Date.now() - lastPrinted > 10_000) {
        process.stdout.write(`${renderStatus(view, Date.now())}\n`);
        lastPrinted = Date.now();
      }
      await new Promise((r) => setTimeout(r, 1000));
      view = await getStatus(client, rolloutId);
    }
    watch?.update(view, Date.now());
    watch?.stop();
    const summary = await waitForRollout(client, rolloutId);
    await client.connection.close();
    process.stdout.write(`${renderStatus(view, Date.now())}\n`);

    // Let the simulator write its ground truth, then stop the engine processes.
    await Promise.all(children.map((c) => c.stop()));
    writeFileSync(join(outDir, 'summary.json'), `${JSON.stringify({ summary, status: view }, null, 2)}\n`);

    // The postmortem, by the same `rollout replay` an SRE would run.
    say('writing the postmortem (rollout replay)');
    const replay = (format: string, file: string) =>
      startEngineProcess('replay', ['replay', rolloutId, '--format', format, '--out', join(outDir, file)], {
        logFile: join(outDir, 'logs', 'replay.log'),
      }).exited;
    const codes = await Promise.all([
      replay('html', 'postmortem.html'),
      replay('json', 'postmortem.json'),
      replay('text', 'postmortem.txt'),
    ]);
    if (codes.some((c) => c !== 0))
      throw new Error(`rollout replay failed (${codes.join(', ')}); see ${join(outDir, 'logs', 'replay.log')}`);
    const report = JSON.parse(readFileSync(join(outDir, 'postmortem.json'), 'utf8')) as ReplayReport;
    const halts = report.classes
      .filter((c) => c.outcomes?.firstFailureToHalt)
      .map(
        (c) =>
          `${c.lane} halted ${c.outcomes?.firstFailureToHalt?.seconds.toFixed(1)}s after its first failure report, ` +
          `${c.outcomes?.blastRadius.installed} devices exposed (${c.outcomes?.blastRadius.failed} failed)`,
      );

    // Patched, not just exposed: how long each class that completed took to have 95 % of it report success.
    const patched = report.classes
      .filter((c) => c.status === 'completed')
      .map((c) => {
        const sec = c.outcomes?.exposureWindow.patched95Sec ?? null;
        const how = c.completion === null ? '' : ` (completed on ${c.completion.endedBy})`;
        return `${c.lane} 95% patched ${sec === null ? 'not reached' : `after ${sec.toFixed(1)}s`}${how}`;
      });

    // Post-install regressions: which class was halted on which signal against its control, and who rode a spike out.
    const regressions = view.lanes.flatMap((lane) => {
      const r = lane.lastBreach?.regression;
      if (r !== undefined) {
        return [
          `${lane.lane} halted on ${r.signal} at ${r.ratio?.toFixed(2) ?? '?'}× its control's rate (tolerated ${r.maxRateRatio}×)`,
        ];
      }
      if (lane.regression === null || lane.breaches > 0) return [];
      return [`${lane.lane} no regression against its control (${regressionWords(lane.regression.signals)})`];
    });

    const asExpected = Object.entries(EXPECTED).every(([lane, outcome]) => summary.lanes[lane] === outcome);
    const lanes = Object.entries(summary.lanes)
      .map(([lane, outcome]) => `${lane} ${outcome}`)
      .join(', ');
    say(
      `${asExpected ? 'OK' : 'UNEXPECTED'}: rollout ${rolloutId} ${summary.status} in ${Math.round((Date.now() - t0) / 1000)}s — ${lanes}` +
        `${halts.length > 0 ? `; ${halts.join('; ')}` : ''}${regressions.length > 0 ? `; ${regressions.join('; ')}` : ''}${patched.length > 0 ? `; ${patched.join(', ')}` : ''}; postmortem in ${join('out', rolloutId, 'postmortem.html')}`,
    );
    return asExpected ? 0 : 1;
  } finally {
    await Promise.all(children.map((c) => c.stop()));
    if (startedServers.length > 0) await down({ only: startedServers, log: (line) => say(line) });
  }
}

/** Each watched signal's ratio against the control and its verdict, e.g. `app-crash 1.02× watching`. */
function regressionWords(signals: NonNullable<LaneStatusView['regression']>['signals']): string {
  return signals
    .map((s) => `${s.signal} ${s.ratio === null ? 'no ratio' : `${s.ratio.toFixed(2)}×`} ${s.verdict}`)
    .join(', ');
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`[demo] failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
