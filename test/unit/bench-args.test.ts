// The benchmarks' argument parser: defaults, checked numbers, and a BenchArgsError (never NaN) for anything else.
import { BenchArgsError, parseBenchArgs, usageOf } from '../../bench/args';

const spec = {
  devices: { type: 'number', integer: true, min: 1, default: 1000, help: 'devices' },
  rate: { type: 'number', max: 1, default: 0.15, help: 'a rate' },
  offset: { type: 'number', min: -10, help: 'may be negative' },
  out: { type: 'string', default: 'out', help: 'directory' },
  only: { type: 'string', help: 'names' },
  short: { type: 'boolean', help: 'short run' },
} as const;

describe('parseBenchArgs', () => {
  it('gives the defaults when no flag is given', () => {
    expect(parseBenchArgs(spec, [])).toEqual({
      devices: 1000,
      rate: 0.15,
      offset: undefined,
      out: 'out',
      only: undefined,
      short: false,
    });
  });

  it('reads numbers, strings and booleans, in both --flag value and --flag=value forms', () => {
    const values = parseBenchArgs(spec, ['--devices', '25', '--rate=0.5', '--offset=-3', '--only', 'a,b', '--short']);
    expect(values).toEqual({ devices: 25, rate: 0.5, offset: -3, out: 'out', only: 'a,b', short: true });
  });

  it.each([
    [['--devices', 'abc'], "--devices must be a number, not 'abc'"],
    [['--devices', ''], "--devices must be a number, not ''"],
    [['--devices', '0x10'], "--devices must be a number, not '0x10'"],
    [['--devices', '1e400'], "--devices must be a number, not '1e400'"],
    [['--devices', '2.5'], "--devices must be a whole number, not '2.5'"],
    [['--devices', '0'], '--devices must be ≥ 1, not 0'],
    [['--rate=-0.1'], '--rate must be ≥ 0, not -0.1'],
    [['--rate', '1.5'], '--rate must be ≤ 1, not 1.5'],
    [['--offset=-11'], '--offset must be ≥ -10, not -11'],
  ])('refuses %j: %s', (argv, message) => {
    expect(() => parseBenchArgs(spec, argv)).toThrow(new BenchArgsError(message));
  });

  it.each([[['--bogus', '1']], [['stray']], [['--devices']], [['--short=yes']]])(
    'refuses what parseArgs refuses: %j',
    (argv) => {
      expect(() => parseBenchArgs(spec, argv)).toThrow(BenchArgsError);
    },
  );

  it('lists every flag with its default in the usage', () => {
    const usage = usageOf('npm run bench:x --', spec);
    expect(usage).toContain('--devices N  devices (default 1000)');
    expect(usage).toContain('--short  short run');
    expect(usage).toContain('--only VALUE  names');
  });
});
