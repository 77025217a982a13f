// Whether a connection's socket is read from. Three independent reasons stop reading: a
// resource alarm (publishers only, RabbitMQ's connection.blocked), a queue's publisher flow
// control (Queue.shouldThrottle), and output the client does not read. Reading resumes only
// when none is left.
//
// The alarm and the unread output also stop the frames already read: the rest of the socket
// chunk being processed is held, in order, and replayed when both have cleared, so that a
// publish made while blocked is neither stored nor confirmed meanwhile. Flow control only pauses
// the socket: what was read goes on.
import type { Socket } from 'node:net';
import type { FlowWaiter, Queue } from '../broker/queue';

// One frame read while held: type, channel, payload (copied: the read buffer is reused).
export type HeldFrame = [number, number, Buffer];

const FLOW_PAUSE_MS = 50;

export class InputGate implements FlowWaiter {
  private alarmBlocked = false;
  private outputPaused = false;
  private flowQueue: Queue | null = null;
  private flowTimer: NodeJS.Timeout | null = null;
  private closed = false;
  // Not null exactly while frames are being held (alarm or unread output).
  held: HeldFrame[] | null = null;

  constructor(
    private readonly socket: Socket,
    // Runs held frames again, in order (Connection.onFrame, then the end-of-chunk work).
    private readonly replay: (frames: HeldFrame[]) => void,
  ) {}

  get alarmed(): boolean { return this.alarmBlocked; }
  get pausedForOutput(): boolean { return this.outputPaused; }
  get paused(): boolean { return this.alarmBlocked || this.outputPaused || this.flowQueue !== null; }

  /** Holds one frame if frames are being held; false when they are not. */
  hold(type: number, channel: number, buf: Buffer, start: number, end: number): boolean {
    if (this.held === null) return false;
    this.held.push([type, channel, Buffer.from(buf.subarray(start, end))]);
    return true;
  }

  /** Frames a channel held for its own reasons go first, before what the connection holds. */
  holdFirst(frames: HeldFrame[]): boolean {
    if (this.held === null) return false;
    this.held.unshift(...frames);
    return true;
  }

  blockForAlarm(): void {
    if (this.alarmBlocked || this.closed) return;
    this.alarmBlocked = true;
    this.held ??= [];
    this.socket.pause();
  }

  unblockAlarm(): void {
    if (!this.alarmBlocked) return;
    this.alarmBlocked = false;
    if (!this.outputPaused) this.replayHeld();
    this.resumeIfClear();
  }

  // A client that sends requests without reading the replies is not read from until it does.
  pauseForOutput(): void {
    if (!this.outputPaused) {
      this.outputPaused = true;
      this.socket.pause();
    }
    this.held ??= [];
  }

  outputDrained(): void {
    if (!this.outputPaused) return;
    this.outputPaused = false;
    if (!this.alarmBlocked) this.replayHeld();
    this.resumeIfClear();
  }

  // Publisher flow control: stop reading until the queue's backlog shrinks, FLOW_PAUSE_MS at most.
  throttle(q: Queue): void {
    if (this.flowQueue !== null || this.closed) return;
    this.flowQueue = q;
    q.addFlowWaiter(this);
    this.socket.pause();
    this.flowTimer = setTimeout(() => this.flowReleased(), FLOW_PAUSE_MS);
  }

  flowReleased(): void {
    if (this.flowQueue === null) return;
    this.flowQueue.removeFlowWaiter(this);
    this.flowQueue = null;
    if (this.flowTimer) clearTimeout(this.flowTimer);
    this.flowTimer = null;
    this.resumeIfClear();
  }

  /** The connection is gone: drop what is held and leave its queues' waiter lists. */
  close(): void {
    this.held = null;
    this.flowReleased();
    this.closed = true;
  }

  private replayHeld(): void {
    const frames = this.held;
    this.held = null;
    // Frames after an alarm raised again during the replay are held again.
    if (frames !== null && frames.length > 0) this.replay(frames);
  }

  private resumeIfClear(): void {
    if (!this.paused && !this.closed) this.socket.resume();
  }
}
