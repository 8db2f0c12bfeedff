/**
 * What passes between replay's reading thread and its counting thread (`install-facts-thread.ts`), as typed
 * arrays that move without a copy (`postMessage` transfer lists):
 * - `RecordChunk`: up to a few thousand install records, their values back to back in one buffer;
 * - `FactColumns`: the counting thread's result, the count changes and the device facts column by column, with
 *   the offer ids and error codes as indexes into small string tables.
 * `toColumns` and `fromColumns` turn an `OutcomeTracker`'s result into columns and back, exactly.
 */
import type { CountChange, DeviceFact, OfferInfo } from './outcomes';

/** Records of one chunk: record `i`'s value is `bytes[end[i-1] ?? 0 .. end[i])`. */
export type RecordChunk = {
  count: number;
  bytes: ArrayBuffer;
  end: Int32Array;
  partition: Int32Array;
  offset: Float64Array;
  timestampMs: Float64Array;
};

/** Records per chunk and the chunk's first value buffer size (a larger value gets a buffer of its own size). */
export const CHUNK_RECORDS = 4096;
export const CHUNK_BYTES = 2 * 1024 * 1024;

/** Collects records into chunks and hands each full chunk to `ship` (which takes ownership of its buffers). */
export class ChunkWriter {
  private chunk = ChunkWriter.fresh(CHUNK_BYTES);
  private view = Buffer.from(this.chunk.bytes);
  private used = 0;

  constructor(private readonly ship: (chunk: RecordChunk) => void) {}

  private static fresh(bytes: number): RecordChunk {
    return {
      count: 0,
      bytes: new ArrayBuffer(bytes),
      end: new Int32Array(CHUNK_RECORDS),
      partition: new Int32Array(CHUNK_RECORDS),
      offset: new Float64Array(CHUNK_RECORDS),
      timestampMs: new Float64Array(CHUNK_RECORDS),
    };
  }

  add(partition: number, offset: number, timestampMs: number, value: Buffer): void {
    if (this.chunk.count === CHUNK_RECORDS || this.used + value.length > this.view.length) {
      this.flush(Math.max(CHUNK_BYTES, value.length));
    }
    const c = this.chunk;
    const i = c.count++;
    this.used += value.copy(this.view, this.used);
    c.end[i] = this.used;
    c.partition[i] = partition;
    c.offset[i] = offset;
    c.timestampMs[i] = timestampMs;
  }

  /** Ships the chunk being filled (if it holds a record) and starts one with room for `bytes`. */
  flush(bytes = CHUNK_BYTES): void {
    if (this.chunk.count > 0) this.ship(this.chunk);
    this.chunk = ChunkWriter.fresh(bytes);
    this.view = Buffer.from(this.chunk.bytes);
    this.used = 0;
  }
}

/** The buffers of a chunk, for `postMessage`'s transfer list. */
export function transferablesOf(chunk: RecordChunk): ArrayBuffer[] {
  return [chunk.bytes, chunk.end.buffer, chunk.partition.buffer, chunk.offset.buffer, chunk.timestampMs.buffer].map(
    (b) => b as ArrayBuffer,
  );
}

/** A tracker's result by column. Nulls: code index -1, NaN times. */
export type FactColumns = {
  /** Offer ids by index (changes and facts refer to offers by index). */
  offers: string[];
  /** Lanes by index. */
  lanes: string[];
  codes: string[];
  changes: {
    offer: Int32Array;
    partition: Int32Array;
    offset: Float64Array;
    timestampMs: Float64Array;
    succeeded: Int8Array;
    code: Int32Array;
    timedOut: Int8Array;
    inProgress: Int8Array;
  };
  /** Per lane (same index as `lanes`): device keys and their facts. */
  facts: {
    keys: string[];
    offer: Int32Array;
    installedMs: Float64Array;
    failedMs: Float64Array;
    patchedMs: Float64Array;
  }[];
};

/** Indexes of strings, in first-seen order. */
class Table {
  readonly values: string[] = [];
  private readonly index = new Map<string, number>();
  of(value: string): number {
    let i = this.index.get(value);
    if (i === undefined) {
      i = this.values.length;
      this.values.push(value);
      this.index.set(value, i);
    }
    return i;
  }
}

/** Count changes and facts (as `OutcomeTracker` holds them) by column. */
export function toColumns(
  offers: ReadonlyMap<string, OfferInfo>,
  changes: readonly CountChange[],
  facts: ReadonlyMap<string, ReadonlyMap<string, DeviceFact>>,
): FactColumns {
  const offerTable = new Table();
  for (const id of offers.keys()) offerTable.of(id);
  const codes = new Table();
  const n = changes.length;
  const cols: FactColumns['changes'] = {
    offer: new Int32Array(n),
    partition: new Int32Array(n),
    offset: new Float64Array(n),
    timestampMs: new Float64Array(n),
    succeeded: new Int8Array(n),
    code: new Int32Array(n),
    timedOut: new Int8Array(n),
    inProgress: new Int8Array(n),
  };
  for (let i = 0; i < n; i++) {
    const c = changes[i]!;
    cols.offer[i] = offerTable.of(c.offerId);
    cols.partition[i] = c.partition;
    cols.offset[i] = c.offset;
    cols.timestampMs[i] = c.timestampMs;
    cols.succeeded[i] = c.succeeded;
    cols.code[i] = c.failedCode === null ? -1 : codes.of(c.failedCode);
    cols.timedOut[i] = c.timedOut;
    cols.inProgress[i] = c.inProgress;
  }
  const lanes = [...facts.keys()];
  const factCols = lanes.map((lane) => {
    const byKey = facts.get(lane)!;
    const m = byKey.size;
    const out = {
      keys: [...byKey.keys()],
      offer: new Int32Array(m),
      installedMs: new Float64Array(m),
      failedMs: new Float64Array(m),
      patchedMs: new Float64Array(m),
    };
    let i = 0;
    for (const fact of byKey.values()) {
      out.offer[i] = offerTable.of(fact.offerId);
      out.installedMs[i] = fact.installedMs;
      out.failedMs[i] = fact.failedMs ?? NaN;
      out.patchedMs[i] = fact.patchedMs ?? NaN;
      i++;
    }
    return out;
  });
  return { offers: offerTable.values, lanes, codes: codes.values, changes: cols, facts: factCols };
}

/** The buffers of a result, for `postMessage`'s transfer list. */
export function columnTransferables(columns: FactColumns): ArrayBuffer[] {
  const views = [
    ...Object.values(columns.changes),
    ...columns.facts.flatMap((f) => [f.offer, f.installedMs, f.failedMs, f.patchedMs]),
  ];
  return views.map((v) => v.buffer as ArrayBuffer);
}

/** Count changes and facts back from columns, `offers` giving each change its lane. */
export function fromColumns(
  columns: FactColumns,
  offers: ReadonlyMap<string, OfferInfo>,
): { changes: CountChange[]; facts: Map<string, Map<string, DeviceFact>> } {
  const c = columns.changes;
  const laneOf = columns.offers.map((id) => offers.get(id)?.lane ?? '');
  const changes: CountChange[] = new Array<CountChange>(c.offer.length);
  for (let i = 0; i < changes.length; i++) {
    const code = c.code[i]!;
    changes[i] = {
      offerId: columns.offers[c.offer[i]!]!,
      lane: laneOf[c.offer[i]!]!,
      partition: c.partition[i]!,
      offset: c.offset[i]!,
      timestampMs: c.timestampMs[i]!,
      succeeded: c.succeeded[i]!,
      failedCode: code < 0 ? null : columns.codes[code]!,
      timedOut: c.timedOut[i]!,
      inProgress: c.inProgress[i]!,
    };
  }
  const orNull = (ms: number) => (Number.isNaN(ms) ? null : ms);
  const facts = new Map<string, Map<string, DeviceFact>>();
  columns.lanes.forEach((lane, l) => {
    const f = columns.facts[l]!;
    const byKey = new Map<string, DeviceFact>();
    for (let i = 0; i < f.keys.length; i++) {
      byKey.set(f.keys[i]!, {
        installedMs: f.installedMs[i]!,
        offerId: columns.offers[f.offer[i]!]!,
        failedMs: orNull(f.failedMs[i]!),
        patchedMs: orNull(f.patchedMs[i]!),
      });
    }
    facts.set(lane, byKey);
  });
  return { changes, facts };
}
