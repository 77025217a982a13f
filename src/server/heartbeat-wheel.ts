// Heartbeats for every connection from one timer: a hashed timing wheel.
//
// Each connection with a negotiated heartbeat of H seconds has one entry on the wheel. When it
// fires, the connection is checked on both sides, as RabbitMQ's heartbeater does:
//   - send: every H/2, a heartbeat frame goes out if nothing else was written since the last
//     check (so the client hears from us at least every H/2..H seconds);
//   - receive: a client silent for 2*H is closed ("missed heartbeats").
// The entry is then rescheduled for the earlier of the next send check and the moment the
// client would have been silent for 2*H, so a dead client is noticed within one slot of the
// deadline, whatever H is (1 s and up).
//
// The wheel has SLOTS slots of SLOT_MS each; an entry due in more than SLOTS*SLOT_MS stays in
// its slot for the later rounds. One setTimeout is armed for the next non-empty slot, and none
// while the wheel is empty, so an idle broker does not wake up for nothing.

export const SLOT_MS = 25;
const SLOTS = 512; // 12.8 s per round

export interface WheelEntry {
  tick: number;  // the slot-sized tick (clock / SLOT_MS) in which fire() runs
  slot: number;  // index in the wheel, -1 when not scheduled
  fire(now: number): void;
}

export type Clock = () => number;

export class TimerWheel {
  private readonly slots: Array<Set<WheelEntry>> = [];
  private count = 0;
  private timer: NodeJS.Timeout | null = null;
  private timerAt = 0;
  private lastTick: number;

  // manual: no timer of its own; the owner calls advance() (tests with a fake clock).
  constructor(private readonly clock: Clock = Date.now, private readonly manual = false) {
    for (let i = 0; i < SLOTS; i++) this.slots.push(new Set());
    this.lastTick = Math.floor(clock() / SLOT_MS) - 1;
  }

  get size(): number { return this.count; }

  schedule(e: WheelEntry, due: number): void {
    if (e.slot >= 0) { this.slots[e.slot].delete(e); this.count--; }
    // Never in a tick already processed: it would wait a whole round.
    const tick = Math.max(Math.ceil(due / SLOT_MS), this.lastTick + 1);
    e.tick = tick;
    e.slot = tick % SLOTS;
    this.slots[e.slot].add(e);
    this.count++;
    this.arm(tick * SLOT_MS);
  }

  cancel(e: WheelEntry): void {
    if (e.slot < 0) return;
    this.slots[e.slot].delete(e);
    e.slot = -1;
    this.count--;
    if (this.count === 0 && this.timer !== null) { clearTimeout(this.timer); this.timer = null; }
  }

  // Runs every entry that is due, slot by slot up to now. Public for tests with a fake clock.
  advance(): void {
    const now = this.clock();
    const nowTick = Math.floor(now / SLOT_MS);
    // After a long stall (a blocked event loop), one pass over the whole wheel is enough.
    const from = Math.max(this.lastTick + 1, nowTick - SLOTS + 1);
    for (let tick = from; tick <= nowTick; tick++) {
      const set = this.slots[tick % SLOTS];
      if (set.size === 0) continue;
      for (const e of [...set]) {
        if (e.tick > nowTick) continue; // a later round
        set.delete(e);
        e.slot = -1;
        this.count--;
        e.fire(now);
      }
    }
    this.lastTick = nowTick;
  }

  private arm(at: number): void {
    if (this.manual) return;
    if (this.timer !== null && this.timerAt <= at) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(this.onTimer, Math.max(0, at - this.clock()));
    this.timer.unref();
  }

  private readonly onTimer = (): void => {
    this.timer = null;
    this.advance();
    if (this.count === 0) return;
    // The next non-empty slot (entries in it may belong to a later round: they are skipped
    // when it comes, and the timer is armed again).
    for (let k = 1; k <= SLOTS; k++) {
      const tick = this.lastTick + k;
      if (this.slots[tick % SLOTS].size > 0) { this.arm(tick * SLOT_MS); return; }
    }
  };
}

// What the heartbeat check needs from a connection.
export interface HeartbeatPeer {
  readonly heartbeat: number;            // negotiated interval in seconds
  lastRecv: number;                      // ms, updated by the connection on every read
  readonly bytesWritten: number;         // everything handed to the socket so far
  readonly receivingPaused: boolean;     // we stopped reading (an alarm): silence is ours
  sendHeartbeat(): void;
  heartbeatTimedOut(): void;
}

class HeartbeatEntry implements WheelEntry {
  tick = 0;
  slot = -1;
  private bytes = 0;
  private nextSend = 0;

  constructor(private readonly owner: Heartbeats, readonly peer: HeartbeatPeer) {}

  start(now: number): void {
    this.bytes = this.peer.bytesWritten;
    this.nextSend = now + this.halfMs;
    this.reschedule();
  }

  private get halfMs(): number { return this.peer.heartbeat * 500; }

  fire(now: number): void {
    const p = this.peer;
    if (p.receivingPaused) p.lastRecv = now;
    if (now - p.lastRecv >= 4 * this.halfMs) {
      this.owner.forget(p);
      p.heartbeatTimedOut();
      return;
    }
    // Half a slot early counts as on time: the wheel rounds due times up to a slot.
    if (now >= this.nextSend - SLOT_MS / 2) {
      if (p.bytesWritten === this.bytes) p.sendHeartbeat();
      this.bytes = p.bytesWritten;
      this.nextSend = now + this.halfMs;
    }
    this.reschedule();
  }

  private reschedule(): void {
    const deadline = this.peer.lastRecv + 4 * this.halfMs;
    this.owner.wheel.schedule(this, Math.min(this.nextSend, deadline));
  }
}

export class Heartbeats {
  readonly wheel: TimerWheel;
  private readonly entries = new Map<HeartbeatPeer, HeartbeatEntry>();

  constructor(private readonly clock: Clock = Date.now, manual = false) {
    this.wheel = new TimerWheel(clock, manual);
  }

  // (Re)starts the checks of a connection: after tune-ok, and again after connection.open-ok so
  // that the handshake's own replies do not count as the first interval's traffic.
  start(peer: HeartbeatPeer): void {
    if (peer.heartbeat <= 0) { this.stop(peer); return; }
    let e = this.entries.get(peer);
    if (e === undefined) { e = new HeartbeatEntry(this, peer); this.entries.set(peer, e); }
    e.start(this.clock());
  }

  stop(peer: HeartbeatPeer): void {
    const e = this.entries.get(peer);
    if (e === undefined) return;
    this.wheel.cancel(e);
    this.entries.delete(peer);
  }

  forget(peer: HeartbeatPeer): void {
    this.entries.delete(peer);
  }

  get connections(): number { return this.entries.size; }
}

// The broker's one wheel.
export const heartbeats = new Heartbeats();
