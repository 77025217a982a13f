// The segments of one log in offset order (Kafka's LogSegments). The last one is the open
// segment, the only one appended to. Offsets between segments (deleted or unreadable ranges)
// belong to no segment.
import type { Segment } from './segment';

export class SegmentSet {
  private list: Segment[];

  constructor(segments: Segment[]) {
    this.list = segments;
  }

  get all(): readonly Segment[] {
    return this.list;
  }

  get length(): number {
    return this.list.length;
  }

  get first(): Segment | undefined {
    return this.list[0];
  }

  /** the open segment */
  get last(): Segment | undefined {
    return this.list[this.list.length - 1];
  }

  add(s: Segment): void {
    this.list.push(s);
  }

  remove(s: Segment): void {
    const i = this.list.indexOf(s);
    if (i >= 0) this.list.splice(i, 1);
  }

  /** The segment holding `offset`, or undefined (deleted, unreadable or out of range). */
  holding(offset: number): Segment | undefined {
    const i = this.indexAtOrBefore(offset);
    if (i < 0) return undefined;
    const s = this.list[i];
    return offset < s.next ? s : undefined;
  }

  /** The segment holding `offset`, else the first one after it with records. */
  atOrAfter(offset: number): Segment | undefined {
    const list = this.list;
    let i = this.indexAtOrBefore(offset);
    if (i >= 0 && offset < list[i].next) return list[i];
    for (i = i + 1; i < list.length; i++) if (list[i].next > list[i].base) return list[i];
    return undefined;
  }

  private indexAtOrBefore(offset: number): number {
    const list = this.list;
    const n = list.length;
    if (n === 0) return -1;
    if (offset >= list[n - 1].base) return n - 1;
    let lo = 0;
    let hi = n - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (list[mid].base <= offset) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }
}
