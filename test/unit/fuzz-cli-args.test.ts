// Fuzzing the `rollout` command line in-process (≥ 10,000 cases): random argument vectors go through the real
// command tree (`buildProgram()`), with commander's exits turned into exceptions and each action replaced by the
// argument checks the real action runs before it touches a server (operator commands: the reason rule and
// `OperatorRequestSchema`; `list`: `--limit`). Every vector is accepted, or refused with a commander error code
// or a sentence; nothing crashes, nothing calls process.exit, nothing writes to the terminal.
import type { Command } from 'commander';
import { CommanderError } from 'commander';
import fc from 'fast-check';
import type { CliContext } from '../../cli/context';
import { listCommand, operatorCommand } from '../../cli/commands';
import { UserError } from '../../cli/errors';
import { buildProgram } from '../../cli/main';
import { OperatorRequestSchema } from '../../events/commands';
import { OPERATOR_COMMAND_TYPES, type OperatorCommandType } from '../../events/domain-events';

const RUNS = 10_000;

/** Thrown by the test context where the real command would contact Temporal: the arguments were accepted. */
class ReachedServer extends Error {}
const ctx = {
  client: () => Promise.reject(new ReachedServer('client')),
  kafka: () => {
    throw new ReachedServer('kafka');
  },
  close: () => Promise.resolve(),
} as unknown as CliContext;

type Outcome = { kind: 'accepted'; command: string } | { kind: 'refused'; why: string };

/** The program with silent output, throwing exits, and actions that run only the argument checks. */
function program(record: (o: Outcome) => void): Command {
  const root = buildProgram();
  const silence = (cmd: Command) => {
    cmd.exitOverride();
    cmd.configureOutput({ writeOut: () => undefined, writeErr: () => undefined, outputError: () => undefined });
    for (const sub of cmd.commands) silence(sub);
  };
  silence(root);
  for (const sub of root.commands) {
    const name = sub.name();
    sub.action(async (...args: unknown[]) => {
      const opts = sub.opts<Record<string, string | undefined>>();
      try {
        if ((OPERATOR_COMMAND_TYPES as readonly string[]).includes(name)) {
          const type = name as OperatorCommandType;
          const rolloutId = String(args[0]);
          await operatorCommand(ctx, type, rolloutId, opts);
        } else if (name === 'list') {
          await listCommand(ctx, opts);
        }
        record({ kind: 'accepted', command: name });
      } catch (err) {
        if (err instanceof ReachedServer) {
          // The CLI would now send the request: the client validates it with the schema first.
          if ((OPERATOR_COMMAND_TYPES as readonly string[]).includes(name)) {
            const reason = opts.reason?.trim();
            const request = {
              type: name,
              actor: opts.actor ?? 'fuzz-user',
              reason: reason || `${name} via rollout CLI`,
              ...(opts.class !== undefined && { lane: opts.class }),
            };
            const parsed = OperatorRequestSchema.safeParse(request);
            record(
              parsed.success
                ? { kind: 'accepted', command: name }
                : { kind: 'refused', why: `invalid command: ${parsed.error.issues[0]?.message ?? ''}` },
            );
            return;
          }
          record({ kind: 'accepted', command: name });
          return;
        }
        if (err instanceof UserError) {
          record({ kind: 'refused', why: err.message });
          return;
        }
        throw err;
      }
    });
  }
  return root;
}

const COMMANDS = [...OPERATOR_COMMAND_TYPES, 'status', 'list', 'events', 'start', 'validate', 'replay', 'nope', ''];
const OPTIONS = [
  '--class',
  '--reason',
  '--actor',
  '--json',
  '--watch',
  '--interval',
  '--limit',
  '--follow',
  '--id',
  '--at',
  '--format',
  '--debug',
  '--help',
  '-h',
  '--',
  '--unknown',
  '-x',
];
const token = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...OPTIONS) },
  { weight: 4, arbitrary: fc.constantFrom('r-1', 'phone-a', 'because', ' ', '', '0', '-1', '1e9', 'NaN', '50') },
  { weight: 2, arbitrary: fc.string({ maxLength: 30 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 10 }) },
  { weight: 1, arbitrary: fc.constantFrom('x'.repeat(2000), '--reason=', '--class=phone-a', '--limit=0') },
);
const argv = fc.tuple(fc.constantFrom(...COMMANDS), fc.array(token, { maxLength: 8 }));

test(`${RUNS} argument vectors: accepted, or refused with a code or a reason`, async () => {
  const exit = jest.spyOn(process, 'exit').mockImplementation(((code?: number) => {
    throw new Error(`process.exit(${code}) called`);
  }) as never);
  const write = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
  const tally: Record<string, number> = {};
  try {
    await fc.assert(
      fc.asyncProperty(argv, async ([command, rest]) => {
        const outcomes: Outcome[] = [];
        const cli = program((o) => outcomes.push(o));
        try {
          await cli.parseAsync([command, ...rest], { from: 'user' });
        } catch (err) {
          // Commander's refusals (unknown option, missing argument, help shown…) carry a code and a message.
          expect(err).toBeInstanceOf(CommanderError);
          const c = err as CommanderError;
          expect(c.code).toMatch(/^commander\./);
          outcomes.push({ kind: 'refused', why: c.code });
        }
        expect(outcomes.length).toBeLessThanOrEqual(1);
        const outcome = outcomes[0] ?? { kind: 'refused', why: 'no command ran' };
        if (outcome.kind === 'refused') expect(outcome.why.length).toBeGreaterThan(0);
        const key = outcome.kind === 'accepted' ? `accepted` : 'refused';
        tally[key] = (tally[key] ?? 0) + 1;
        // The audit rule: a destructive command never goes out without a reason of its own.
        if (outcome.kind === 'accepted' && ['pause', 'retry', 'rollback', 'abort'].includes(command)) {
          const i = rest.lastIndexOf('--reason');
          const inline = rest.find((t) => t.startsWith('--reason='));
          expect(i >= 0 || inline !== undefined).toBe(true);
        }
      }),
      { numRuns: RUNS, seed: 8_2026 },
    );
  } finally {
    exit.mockRestore();
    write.mockRestore();
  }
  expect(tally.accepted).toBeGreaterThan(200);
  expect(tally.refused).toBeGreaterThan(1000);
});

test('destructive commands without a reason are refused before anything is sent', async () => {
  for (const type of ['pause', 'retry', 'rollback', 'abort'] as const) {
    await expect(operatorCommand(ctx, type, 'r-1', { reason: '   ' })).rejects.toThrow(/needs --reason/);
  }
  await expect(operatorCommand(ctx, 'resume', 'r-1', {})).rejects.toBeInstanceOf(ReachedServer);
});
