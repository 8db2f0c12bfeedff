/**
 * Per-device install state in compact memory: an open-addressing hash table (linear probing) over
 * parallel typed arrays, keyed by (64-bit keyed hash of the device id, `DeviceKeys` in events/device-keys.ts; offer slot). About 20 bytes per slot and at most
 * 75% load, so a million devices fit in ~40 MB with no per-device JavaScript object for the collector to
 * walk. The state machine that turns reports into count changes, and the encoding of its state bytes, live
 * in `core.ts`; this file only stores and finds.
 */

const EMPTY = 0;
const MAX_LOAD = 0.75;

/**
 * The table. A slot is free when its offer field is 0 (offer slots are stored +1). Slots are never
 * deleted one by one; revoking partitions rebuilds the table without them (`retainPartitions`), which
 * keeps probing simple and costs O(n) only on a rebalance.
 */
export class DeviceTable {
  // The columns (and mask) are set by `allocate`, from the constructor and on every resize.
  private mask!: number;
  private count = 0;
  keyHi!: Uint32Array;
  keyLo!: Uint32Array;
  /** Offer slot + 1; 0 = empty. */
  offer!: Uint16Array;
  partition!: Uint16Array;
  attempt!: Uint16Array;
  /** Bitmask of report types seen for `attempt` (bit = index in INSTALL_EVENT_TYPES). */
  seen!: Uint8Array;
  /** Final outcome (low 3 bits) | STATE_STARTED (see core.ts). */
  state!: Uint8Array;
  /** Kafka append time of install-started, seconds since core.ts's EPOCH_SEC. */
  startedAt!: Uint32Array;

  /** Creates a table with room for `initialCapacity` slots (rounded up to a power of two), growing to `maxEntries`. */
  constructor(
    readonly maxEntries: number,
    initialCapacity = 1 << 16,
  ) {
    let capacity = 1 << 4;
    while (capacity < initialCapacity) capacity <<= 1;
    this.allocate(capacity);
  }

  /** Replaces every column with an empty one of `capacity` slots (a power of two). */
  private allocate(capacity: number): void {
    this.mask = capacity - 1;
    this.keyHi = new Uint32Array(capacity);
    this.keyLo = new Uint32Array(capacity);
    this.offer = new Uint16Array(capacity);
    this.partition = new Uint16Array(capacity);
    this.attempt = new Uint16Array(capacity);
    this.seen = new Uint8Array(capacity);
    this.state = new Uint8Array(capacity);
    this.startedAt = new Uint32Array(capacity);
  }

  /** Number of tracked (device, offer) states. */
  get size(): number {
    return this.count;
  }

  /** Number of slots (used and free). */
  get capacity(): number {
    return this.mask + 1;
  }

  /** Bytes held by the typed arrays. */
  get byteLength(): number {
    return (this.mask + 1) * 20;
  }

  private home(hi: number, lo: number, offerSlot: number): number {
    return (Math.imul(hi ^ Math.imul(offerSlot + 1, 0x9e3779b1), 0x85ebca6b) ^ lo) & this.mask;
  }

  /** The slot index of (device key, offer slot), or -1 when absent. */
  find(hi: number, lo: number, offerSlot: number): number {
    const tag = offerSlot + 1;
    let i = this.home(hi, lo, offerSlot);
    for (;;) {
      const o = this.offer[i]!;
      if (o === EMPTY) return -1;
      if (o === tag && this.keyHi[i] === hi && this.keyLo[i] === lo) return i;
      i = (i + 1) & this.mask;
    }
  }

  /**
   * The slot of (device key, offer slot), inserted empty (attempt 0, nothing seen) when absent; -1 when
   * the table already holds `maxEntries` states (the caller dead-letters the event as `capacity`).
   */
  upsert(hi: number, lo: number, offerSlot: number, partition: number): number {
    const found = this.find(hi, lo, offerSlot);
    if (found >= 0) return found;
    if (this.count >= this.maxEntries) return -1;
    if ((this.count + 1) / (this.mask + 1) > MAX_LOAD) this.resize((this.mask + 1) * 2);
    let i = this.home(hi, lo, offerSlot);
    while (this.offer[i] !== EMPTY) i = (i + 1) & this.mask;
    this.keyHi[i] = hi;
    this.keyLo[i] = lo;
    this.offer[i] = offerSlot + 1;
    this.partition[i] = partition;
    this.attempt[i] = 0;
    this.seen[i] = 0;
    this.state[i] = 0;
    this.startedAt[i] = 0;
    this.count++;
    return i;
  }

  /** Keeps only the states of devices on the given partitions (a rebalance revoked the others). */
  retainPartitions(keep: ReadonlySet<number>): void {
    const old = this.partition;
    this.resize(this.mask + 1, (j) => keep.has(old[j]!));
  }

  private resize(capacity: number, keep: (i: number) => boolean = () => true): void {
    const { keyHi, keyLo, offer, partition, attempt, seen, state, startedAt } = this;
    this.allocate(capacity);
    this.count = 0;
    for (let j = 0; j < offer.length; j++) {
      const o = offer[j]!;
      if (o === EMPTY || !keep(j)) continue;
      let i = this.home(keyHi[j]!, keyLo[j]!, o - 1);
      while (this.offer[i] !== EMPTY) i = (i + 1) & this.mask;
      this.keyHi[i] = keyHi[j]!;
      this.keyLo[i] = keyLo[j]!;
      this.offer[i] = o;
      this.partition[i] = partition[j]!;
      this.attempt[i] = attempt[j]!;
      this.seen[i] = seen[j]!;
      this.state[i] = state[j]!;
      this.startedAt[i] = startedAt[j]!;
      this.count++;
    }
  }
}
