/**
 * A min-heap of scheduled device reports (install events and health reports) ordered by due time: the simulator
 * pushes every report an order or a health period causes and pops the ones whose time has come. Binary heap over
 * one array; O(log n) per push/pop.
 */
import type { ScheduledSend } from './fleet-model';

export class ReportQueue {
  private readonly heap: ScheduledSend[] = [];

  /** Number of reports not yet sent. */
  get size(): number {
    return this.heap.length;
  }

  /** Adds a report. */
  push(report: ScheduledSend): void {
    const heap = this.heap;
    heap.push(report);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent] as ScheduledSend;
      if (p.dueMs <= report.dueMs) break;
      heap[i] = p;
      i = parent;
    }
    heap[i] = report;
  }

  /** Removes and returns up to `max` reports due at or before `nowMs`, earliest first. */
  popDue(nowMs: number, max: number): ScheduledSend[] {
    const out: ScheduledSend[] = [];
    while (out.length < max && this.heap.length > 0 && (this.heap[0] as ScheduledSend).dueMs <= nowMs) {
      out.push(this.popMin());
    }
    return out;
  }

  private popMin(): ScheduledSend {
    const heap = this.heap;
    const top = heap[0] as ScheduledSend;
    const last = heap.pop() as ScheduledSend;
    if (heap.length === 0) return top;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child =
        right < heap.length && (heap[right] as ScheduledSend).dueMs < (heap[left] as ScheduledSend).dueMs
          ? right
          : left;
      if ((heap[child] as ScheduledSend).dueMs >= last.dueMs) break;
      heap[i] = heap[child] as ScheduledSend;
      i = child;
    }
    heap[i] = last;
    return top;
  }
}
