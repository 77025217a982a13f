/**
 * The one AMQP error class. An AmqpError carries a reply code (the constants in generated.ts),
 * the reply text, and the class/method id of the method that caused it (0/0 when none, e.g. a
 * malformed frame). The server turns it into channel.close (soft error) or connection.close
 * (hard error), as the spec classifies the code.
 */
import { REPLY_CODES } from './generated';

/** RabbitMQ's reply code for an unroutable mandatory message in basic.return (not in the spec XML). */
export const NO_ROUTE = 312;

/** True when the reply code is a hard (connection-level) error. */
export function isHardError(code: number): boolean {
  const c = REPLY_CODES.get(code);
  return c !== undefined ? c.hard : code >= 300 && code !== NO_ROUTE;
}

export function replyCodeName(code: number): string {
  if (code === NO_ROUTE) return 'NO_ROUTE';
  if (code === 200) return 'REPLY_SUCCESS';
  return REPLY_CODES.get(code)?.name ?? 'UNKNOWN';
}

export class AmqpError extends Error {
  constructor(
    readonly code: number,
    text: string,
    readonly classId = 0,
    readonly methodId = 0,
  ) {
    super(text);
  }

  /** the reply text without the code name */
  get text(): string {
    return this.message;
  }

  /** Connection-level error: the server must answer with connection.close. */
  get hard(): boolean {
    return isHardError(this.code);
  }

  /** Reply code name, e.g. 'NOT_FOUND'. */
  get codeName(): string {
    return replyCodeName(this.code);
  }

  /** Reply text in RabbitMQ's style: "NOT_FOUND - no queue 'q' in vhost '/'". */
  get replyText(): string {
    return `${this.codeName} - ${this.message}`;
  }

  /** The same error, naming the method that caused it (when it names none yet). */
  withMethod(classId: number, methodId: number): AmqpError {
    if (this.classId !== 0 || this.methodId !== 0) return this;
    return new AmqpError(this.code, this.message, classId, methodId);
  }
}

AmqpError.prototype.name = 'AmqpError';

export function syntaxError(text: string, classId = 0, methodId = 0): AmqpError {
  return new AmqpError(502, text, classId, methodId);
}

export function frameError(text: string): AmqpError {
  return new AmqpError(501, text);
}
