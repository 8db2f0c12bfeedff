/**
 * Cold-start benchmark (`npm run bench:cold-start`): how long an operator waits for the `rollout` command before it
 * does anything. Runs, `--runs` times each (default 20) and interleaved so that a busy machine slows every case
 * alike: bare `node -e ''` (the floor no Node program goes below), `rollout --help` and
 * `rollout validate examples/plans/demo.yaml`, both through bin/rollout.js as an operator runs them. Each run is a
 * fresh process, timed from spawn to exit. Prints one JSON line per case with the median and p95 in milliseconds, then
 * the goal: `rollout --help` within 2 × bare + 150 ms (medians), and whether it was met (exit 1 when not).
 *
 * `--root DIR` measures the bin of another checkout (e.g. an older commit unpacked with its node_modules), which is how
 * the README's before/after figures were taken. The bin runs the compiled build: `npm run bench:cold-start` builds
 * first.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { benchArgs } from './args';

const args = benchArgs('npm run bench:cold-start --', {
  runs: { type: 'number', integer: true, min: 1, default: 20, help: 'timed runs of each case' },
  root: { type: 'string', help: 'the checkout whose bin/rollout.js is measured (default: this one)' },
});
const RUNS = args.runs;
const ROOT = path.resolve(args.root ?? path.join(__dirname, '..'));
const BIN = path.join(ROOT, 'bin', 'rollout.js');
const PLAN = path.join(ROOT, 'examples', 'plans', 'demo.yaml');

type Case = { name: string; command: string; args: string[] };

const CASES: Case[] = [
  { name: 'bare', command: "node -e ''", args: ['-e', ''] },
  { name: 'help', command: 'rollout --help', args: [BIN, '--help'] },
  { name: 'validate', command: 'rollout validate examples/plans/demo.yaml', args: [BIN, 'validate', PLAN] },
];

/** Runs `node <args>` once and returns its wall time in milliseconds; a failing run ends the benchmark. */
function timeOnce(c: Case): number {
  const started = process.hrtime.bigint();
  const result = spawnSync(process.execPath, c.args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (result.status !== 0) {
    throw new Error(`${c.command} exited ${result.status ?? result.signal}: ${result.stderr.toString().trim()}`);
  }
  return ms;
}

/** The p-quantile of sorted values, nearest rank. */
function quantile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? NaN;
}

const round = (ms: number) => Math.round(ms * 10) / 10;

function main(): void {
  // One warm-up run each: the first spawn of a file pays for the disk cache, which a person typing twice does not.
  for (const c of CASES) timeOnce(c);
  const times = new Map<string, number[]>(CASES.map((c) => [c.name, []]));
  for (let i = 0; i < RUNS; i++) for (const c of CASES) times.get(c.name)?.push(timeOnce(c));
  const medians: Record<string, number> = {};
  for (const c of CASES) {
    const sorted = [...(times.get(c.name) ?? [])].sort((a, b) => a - b);
    medians[c.name] = quantile(sorted, 0.5);
    const line = {
      bench: 'cold-start',
      case: c.name,
      command: c.command,
      runs: RUNS,
      medianMs: round(quantile(sorted, 0.5)),
      p95Ms: round(quantile(sorted, 0.95)),
    };
    process.stdout.write(`${JSON.stringify(line)}\n`);
  }
  const bare = medians.bare ?? NaN;
  const help = medians.help ?? NaN;
  const limitMs = 2 * bare + 150;
  process.stdout.write(
    `${JSON.stringify({
      bench: 'cold-start',
      goal: 'rollout --help ≤ 2 × bare + 150 ms (medians)',
      bareMedianMs: round(bare),
      helpMedianMs: round(help),
      limitMs: round(limitMs),
      met: help <= limitMs,
    })}\n`,
  );
  if (!(help <= limitMs)) process.exitCode = 1;
}

main();
