/**
 * Device-key microbenchmark (`npx tsx bench/device-key.ts`): nanoseconds per device id for the ingest's key
 * hash on a byte range of a record-like buffer — the old key (two seeded MurmurHash3 x86_32) against the
 * keyed one (SipHash-2-4). Ids look like the ingest benchmark's (`device-` + 6 base-36 digits, 13 bytes) and
 * like UUIDs (36 bytes). Prints one JSON line per (hash, id shape).
 */
import { murmur3Range } from '../events/cohort';
import { SipHash24 } from '../events/siphash';
import { benchArgs } from './args';

const args = benchArgs('npx tsx bench/device-key.ts', {
  rounds: { type: 'number', integer: true, min: 1, default: 60, help: 'timed rounds per case (the best one counts)' },
});
const IDS = 1 << 16;
const ROUNDS = args.rounds;

function buffers(shape: 'short' | 'uuid'): { bytes: Buffer; starts: Int32Array; ends: Int32Array } {
  const parts: string[] = [];
  const starts = new Int32Array(IDS);
  const ends = new Int32Array(IDS);
  let at = 0;
  for (let d = 0; d < IDS; d++) {
    const id = shape === 'short' ? `device-${d.toString(36).padStart(6, '0')}` : crypto.randomUUID();
    const prefix = '{"eventId":"x","deviceId":"';
    starts[d] = at + prefix.length;
    ends[d] = starts[d]! + id.length;
    const text = `${prefix}${id}"}`;
    parts.push(text);
    at += text.length;
  }
  return { bytes: Buffer.from(parts.join(''), 'latin1'), starts, ends };
}

function measure(name: string, shape: string, run: () => number): void {
  let sink = run(); // warm up
  let best = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    const t = process.hrtime.bigint();
    sink ^= run();
    best = Math.min(best, Number(process.hrtime.bigint() - t) / IDS);
  }
  process.stdout.write(
    `${JSON.stringify({ bench: 'device-key', hash: name, ids: shape, nsPerId: +best.toFixed(1), sink: sink & 1 })}\n`,
  );
}

const sip = new SipHash24(Uint8Array.from({ length: 16 }, (_, i) => i * 17));
for (const shape of ['short', 'uuid'] as const) {
  const { bytes, starts, ends } = buffers(shape);
  measure('murmur3-x2', shape, () => {
    let x = 0;
    for (let d = 0; d < IDS; d++) {
      x ^=
        murmur3Range(bytes, starts[d]!, ends[d]!, 0x9747b28c) ^ murmur3Range(bytes, starts[d]!, ends[d]!, 0x5bd1e995);
    }
    return x;
  });
  measure('siphash-2-4', shape, () => {
    let x = 0;
    for (let d = 0; d < IDS; d++) {
      sip.hashRange(bytes, starts[d]!, ends[d]!);
      x ^= sip.hi ^ sip.lo;
    }
    return x;
  });
}
