/**
 * The benchmarks' one argument parser, on `node:util` `parseArgs`: `--name value` flags declared with their type and
 * default, numbers checked (a number must parse whole, be finite, a whole number where `integer` says so, and lie in
 * `[min, max]`; `min` is 0 unless given, so a negative value is refused unless allowed). A bad value, an unknown flag
 * or a stray positional argument ends the process with a one-line message and the usage, exit code 2; `--help`
 * prints the usage and exits 0. So a typo never runs a benchmark on NaN or a default the caller did not mean.
 */
import { parseArgs } from 'node:util';

/** A number flag: `default` when absent (undefined if there is none), else checked against `integer`, `min`, `max`. */
export interface NumberFlag {
  type: 'number';
  default?: number;
  /** Whole numbers only. */
  integer?: boolean;
  /** Smallest value allowed; 0 unless given. */
  min?: number;
  /** Largest value allowed; none unless given. */
  max?: number;
  /** One line for the usage. */
  help: string;
}

/** A string flag: `default` when absent (undefined if there is none). */
export interface StringFlag {
  type: 'string';
  default?: string;
  help: string;
}

/** A boolean flag: true when given, else false. */
export interface BooleanFlag {
  type: 'boolean';
  help: string;
}

export type Flag = NumberFlag | StringFlag | BooleanFlag;
export type FlagSpec = Record<string, Flag>;

/** The parsed value of one flag: its type, or undefined when it has no default and was not given. */
export type FlagValue<F extends Flag> = F extends BooleanFlag
  ? boolean
  : F extends { default: number }
    ? number
    : F extends { default: string }
      ? string
      : F extends NumberFlag
        ? number | undefined
        : string | undefined;

/** The parsed values of a spec, one per flag. */
export type FlagValues<S extends FlagSpec> = { [K in keyof S]: FlagValue<S[K]> };

/** A command line that does not fit the spec; its message names the flag and what was wrong. */
export class BenchArgsError extends Error {
  override readonly name = 'BenchArgsError';
}

/** A decimal number as people type it: optional sign, digits, optional fraction and exponent (no hex, no blanks). */
const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

function checkedNumber(name: string, flag: NumberFlag, raw: string): number {
  const value = Number(raw);
  if (!NUMBER.test(raw) || !Number.isFinite(value))
    throw new BenchArgsError(`--${name} must be a number, not '${raw}'`);
  if (flag.integer === true && !Number.isSafeInteger(value)) {
    throw new BenchArgsError(`--${name} must be a whole number, not '${raw}'`);
  }
  const min = flag.min ?? 0;
  if (value < min) throw new BenchArgsError(`--${name} must be ≥ ${min}, not ${raw}`);
  if (flag.max !== undefined && value > flag.max)
    throw new BenchArgsError(`--${name} must be ≤ ${flag.max}, not ${raw}`);
  return value;
}

/**
 * Parses `argv` (the arguments after the script) against `spec`; throws `BenchArgsError` on anything that does not
 * fit. `--help` is not handled here (see `benchArgs`).
 */
export function parseBenchArgs<const S extends FlagSpec>(spec: S, argv: readonly string[]): FlagValues<S> {
  const options: Record<string, { type: 'string' | 'boolean' }> = {};
  for (const [name, flag] of Object.entries(spec))
    options[name] = { type: flag.type === 'boolean' ? 'boolean' : 'string' };
  let values: Record<string, string | boolean | undefined>;
  try {
    // Every value is read as a string and checked here: parseArgs itself knows no numbers.
    ({ values } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }));
  } catch (err) {
    // parseArgs's own errors (unknown flag, missing value, positional) carry codes ERR_PARSE_ARGS_*.
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) throw new BenchArgsError((err as Error).message);
    throw err;
  }
  const out: Record<string, number | string | boolean | undefined> = {};
  for (const [name, flag] of Object.entries(spec)) {
    const raw = values[name];
    if (flag.type === 'boolean') out[name] = raw === true;
    else if (raw === undefined) out[name] = flag.default;
    else if (typeof raw !== 'string') throw new BenchArgsError(`--${name} needs a value`);
    else out[name] = flag.type === 'number' ? checkedNumber(name, flag, raw) : raw;
  }
  // The loop above gave every flag of the spec a value of its declared type.
  return out as FlagValues<S>;
}

/** The usage text of a spec: one line per flag with its default. */
export function usageOf(command: string, spec: FlagSpec): string {
  const lines = Object.entries(spec).map(([name, flag]) => {
    const value = flag.type === 'boolean' ? '' : flag.type === 'number' ? ' N' : ' VALUE';
    const fallback = flag.type !== 'boolean' && flag.default !== undefined ? ` (default ${flag.default})` : '';
    return `  --${name}${value}  ${flag.help}${fallback}`;
  });
  return [`usage: ${command}${lines.length > 0 ? ' [options]' : ''}`, ...lines].join('\n');
}

/**
 * The benchmark's flags from `process.argv`: on a command line that does not fit, prints the problem and the usage to
 * stderr and exits 2; on `--help`, prints the usage and exits 0.
 */
export function benchArgs<const S extends FlagSpec>(
  command: string,
  spec: S,
  argv: readonly string[] = process.argv.slice(2),
): FlagValues<S> {
  if (argv.includes('--help')) {
    process.stdout.write(`${usageOf(command, spec)}\n`);
    process.exit(0);
  }
  try {
    return parseBenchArgs(spec, argv);
  } catch (err) {
    if (!(err instanceof BenchArgsError)) throw err;
    // `npm run bench:x --` names the command; its problem reads `npm run bench:x: …`.
    process.stderr.write(`${command.replace(/ --$/, '')}: ${err.message}\n${usageOf(command, spec)}\n`);
    process.exit(2);
  }
}
