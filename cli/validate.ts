/**
 * `rollout validate <plan>` and the plan reading every command shares: read a plan file (refused unread when too
 * large), validate it, and with `--explain` preview what each class's rule will do. Kept apart from the other
 * commands, which talk to the servers, so validating a plan loads no Temporal or Kafka client.
 */
import { readFileSync } from 'node:fs';
import { parsePlan, type RolloutPlan } from '../events/plan';
import { previewPlan } from '../events/preview';
import { describeSchedule } from '../events/schedule';
import { EXIT, UserError } from './errors';
import { renderPreview } from './explain-view';
import { loadLimits, planFileProblem } from './limits';

const print = (text: string) => process.stdout.write(`${text}\n`);

/** Reads a text file the user named; a missing or unreadable one is a UserError naming it. */
export function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new UserError(
      `cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
}

/** Reads and validates a plan file; a bad plan is a UserError listing path, value and rule. */
export function loadPlan(path: string): RolloutPlan {
  const tooBig = planFileProblem(path, loadLimits().maxPlanBytes);
  if (tooBig !== undefined) throw new UserError(tooBig, EXIT.usage);
  const parsed = parsePlan(readText(path, 'plan'), path);
  if (parsed.ok) return parsed.plan;
  const lines = parsed.errors.map(
    (e) => `  ${e.path}: ${e.rule}${e.value === undefined ? '' : ` (value: ${JSON.stringify(e.value)})`}`,
  );
  throw new UserError(`invalid plan ${path}:\n${lines.join('\n')}`, EXIT.usage);
}

/**
 * Parses `--class-size` values: `N` (every class) or `class=N`, each a whole number of devices for a class of the
 * plan. A bad value is a UserError naming it.
 */
export function parseClassSizes(values: readonly string[], plan: RolloutPlan): Record<string, number> | undefined {
  if (values.length === 0) return undefined;
  const sizes: Record<string, number> = {};
  for (const value of values) {
    const match = /^(?:([^=]+)=)?(\d{1,10})$/.exec(value.trim());
    const n = match ? Number(match[2]) : NaN;
    if (!match || !Number.isSafeInteger(n) || n < 1 || n > 1e9) {
      throw new UserError(
        `--class-size ${JSON.stringify(value)}: expected N or <class>=N with 1 ≤ N ≤ 10⁹`,
        EXIT.usage,
      );
    }
    const name = match[1];
    if (name !== undefined && !plan.deviceClasses.includes(name)) {
      throw new UserError(
        `--class-size ${JSON.stringify(value)}: unknown device class ${name} (classes: ${plan.deviceClasses.join(', ')})`,
        EXIT.usage,
      );
    }
    for (const cls of name === undefined ? plan.deviceClasses : [name]) sizes[cls] = n;
  }
  return sizes;
}

/**
 * `rollout validate <plan>`: checks a plan without starting anything. With `--explain`, previews each class (the
 * guarantee, what bad builds cost, what each phase needs, the plan's traps); `--strict` turns warnings into exit 2.
 */
export function validateCommand(
  path: string,
  opts: { json?: boolean; explain?: boolean; classSize?: string[]; strict?: boolean },
): void {
  const plan = loadPlan(path);
  if (!opts.explain && !opts.strict) {
    if (opts.json) print(JSON.stringify({ ok: true, plan }));
    else print(`plan ${path} is valid: release ${plan.releaseId}, classes ${plan.deviceClasses.join(', ')}`);
    return;
  }
  const previews = previewPlan(plan, parseClassSizes(opts.classSize ?? [], plan));
  const warnings = previews.reduce((n, p) => n + p.warnings.length, 0);
  // The schedule read against the clock now: a startAt already past starts at once, an endAt past refuses the start.
  const schedule = plan.schedule === undefined ? null : describeSchedule(plan.schedule, new Date().toISOString());
  if (opts.json) print(JSON.stringify({ ok: true, plan, preview: previews, warnings, schedule }));
  else {
    print(`plan ${path} is valid: release ${plan.releaseId}, classes ${plan.deviceClasses.join(', ')}`);
    if (opts.explain && schedule !== null) print(`schedule: ${schedule}`);
    if (opts.explain) print(`\n${renderPreview(previews)}`);
    else if (warnings > 0)
      for (const p of previews) for (const w of p.warnings) print(`warning: ${p.deviceClass}: ${w}`);
  }
  if (opts.strict && warnings > 0) {
    throw new UserError(
      `${warnings} warning(s) and --strict: the plan is valid but not safe to run as written`,
      EXIT.usage,
    );
  }
}
