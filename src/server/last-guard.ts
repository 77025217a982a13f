// The last guard: what happens when handling one message or one connection throws something
// that is not an AMQP error (a bug, or data an earlier version let in). The fault stays with
// that channel or connection, which is closed with 541 INTERNAL_ERROR and a logged reason; the
// process keeps serving everyone else (RabbitMQ likewise isolates faults per connection,
// channel and queue process). A message that cannot be sent is dead-lettered or dropped, never
// requeued: requeued, it would fail again for the next consumer, forever.
import type { AnyMethod } from '../protocol';
import { AmqpError, ReplyCode } from '../broker/errors';
import type { Queue } from '../broker/queue';
import type { MessageRef } from '../broker/message-ref';
import { log } from '../logger';

// What the guard needs from a channel and its connection.
export interface GuardedChannel {
  readonly id: number;
  channelError(e: AmqpError, classId: number, methodId: number): void;
}
export interface GuardedConnection {
  logError(msg: string): void;  // prefixed with the connection's name, vhost and user
}

// A basic.get-ok (60/70) of one message could not be written, e.g. an exchange or routing key
// over 255 bytes stored by an earlier version (deliveries to consumers are guarded the same way
// by the queue: Queue.deliverGuarded). ref is null when the queue already forgot the message
// (no-ack). The message is settled as a reject without requeue (dead-lettered when the queue has
// a dead-letter exchange, else dropped), and the channel is closed with 541: basic.get expects
// an answer, and a get-ok cannot be sent.
export function undeliverable(ch: GuardedChannel, conn: GuardedConnection, q: Queue, ref: MessageRef | null, e: unknown,
  classId: number, methodId: number): void {
  const reason = errorText(e);
  const fate = ref === null ? 'dropped (no-ack)' : q.args.deadLetterExchange !== null ? 'dead-lettered' : 'dropped';
  conn.logError(`channel ${ch.id}, queue '${q.name}' in vhost '${q.vhost}': cannot send a message (${reason}); the message is ${fate} and the channel closed`);
  if (ref !== null) {
    try {
      q.discard(ref);
    } catch (e2) {
      conn.logError(`channel ${ch.id}, queue '${q.name}': settling an undeliverable message failed: ${e2 instanceof Error ? e2.stack ?? e2.message : String(e2)}`);
    }
  }
  ch.channelError(new AmqpError(ReplyCode.INTERNAL_ERROR,
    `cannot deliver a message of queue '${q.name}' in vhost '${q.vhost}': ${reason}`), classId, methodId);
}

// Names what a method was about, for log lines: "queue.declare queue 'q'".
export function methodContext(m: AnyMethod | null): string {
  if (m === null) return 'basic.publish';
  const f = m as unknown as Record<string, unknown>;
  let s = m.name;
  for (const k of ['queue', 'exchange', 'destination', 'source', 'consumerTag']) {
    if (typeof f[k] === 'string') s += ` ${k} '${f[k] as string}'`;
  }
  return s;
}

// An unexpected exception: the whole stack, with what was being done.
export function logInternalError(context: string, e: unknown): void {
  log.error(`${context}: internal error: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

// ---- process level ------------------------------------------------------------------------------

// Exceptions that escape every handler (timers, I/O callbacks, promise chains nobody awaits)
// are logged with their stack and the broker keeps running: what threw belongs to one queue or
// one connection, and exiting would drop every client (and, with a persistent bad message,
// fail again after each restart). Identical faults repeating in a loop are logged a few times
// a minute, with a count of the rest.
let installed = false;
const recent = new Map<string, { count: number; since: number }>();
const REPEAT_WINDOW_MS = 60_000;
const REPEATS_LOGGED = 5;

export function installProcessGuards(): void {
  if (installed) return;
  installed = true;
  process.on('uncaughtException', (e, origin) => report(origin === 'unhandledRejection' ? 'unhandled promise rejection' : 'uncaught exception', e));
  process.on('unhandledRejection', (e) => report('unhandled promise rejection', e));
}

function report(kind: string, e: unknown): void {
  const stack = e instanceof Error ? e.stack ?? e.message : String(e);
  const now = Date.now();
  let r = recent.get(stack);
  if (r === undefined || now - r.since > REPEAT_WINDOW_MS) {
    if (r !== undefined && r.count > REPEATS_LOGGED) log.error(`${kind}: the previous one repeated ${r.count - REPEATS_LOGGED} more times`);
    r = { count: 0, since: now };
    recent.set(stack, r);
    if (recent.size > 100) recent.delete(recent.keys().next().value as string);
  }
  r.count++;
  if (r.count <= REPEATS_LOGGED) log.error(`${kind} (the broker keeps running): ${stack}`);
}
