/**
 * `make chaos` / `npm run chaos`: the chaos suite on the local servers (started if needed, restored and left
 * as found). Options: `--short` (the `make test` form), `--seed N` (places the random scenario's faults and
 * the fleet's draws), `--devices N` (per class), `--only name,name`. Prints one line per scenario, the totals
 * as JSON, and last `N passed, M failed`; exits non-zero when any scenario failed.
 */
import { benchArgs } from '../bench/args';
import { down, up } from '../scripts/servers/index';
import { allScenarios, runChaos, shortScenarios } from './scenarios';

const args = benchArgs('npm run chaos --', {
  short: { type: 'boolean', help: 'the short suite that make test runs' },
  seed: {
    type: 'number',
    integer: true,
    default: 20261127,
    help: "places the random scenario's faults and the fleet's draws",
  },
  devices: { type: 'number', integer: true, min: 1, help: 'devices per class (default 1500 with --short, else 3000)' },
  only: { type: 'string', help: 'scenario names, comma-separated (all-four: the seeded one)' },
});
const say = (line: string) => process.stdout.write(`[chaos] ${line}\n`);

async function main(): Promise<number> {
  const seed = args.seed;
  const devicesPerClass = args.devices ?? (args.short ? 1500 : 3000);
  const only = args.only?.split(',');
  let scenarios = args.short ? shortScenarios() : allScenarios(seed);
  if (only)
    scenarios = scenarios.filter(
      (s) => only.includes(s.name) || (s.name.startsWith('all-four') && only.includes('all-four')),
    );
  const reports = await up({ log: say });
  const started = reports.filter((r) => r.state === 'started').map((r) => r.name);
  try {
    const totals = await runChaos({ scenarios, devicesPerClass, seed, log: say });
    const { results, ...counts } = totals;
    process.stdout.write(
      `${JSON.stringify({ chaos: counts, scenarios: results.map((r) => ({ name: r.name, passed: r.passed, faults: r.faults, outcomes: r.check.outcomes })) })}\n`,
    );
    process.stdout.write(`${totals.passed} passed, ${totals.failed} failed\n`);
    return totals.failed === 0 && totals.scenarios > 0 ? 0 : 1;
  } finally {
    if (started.length > 0) await down({ only: started });
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`[chaos] failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.stdout.write('0 passed, 1 failed\n');
    process.exit(1);
  },
);
