/**
 * AMQP protocol errors.
 *
 * A ProtocolError carries an AMQP reply code (see the reply constants in generated.ts), the
 * reply text, and the class/method id of the method that caused it (0/0 when none, e.g. for a
 * malformed frame). The server turns it into channel.close (soft error) or connection.close
 * (hard error).
 */

/** RabbitMQ's reply code for an unroutable mandatory message in basic.return (not in the spec XML). */
export const NO_ROUTE = 312;

/** Soft-error reply codes: they close only the channel. Everything else (>= 300) closes the connection. */
const SOFT_ERROR_CODES: ReadonlySet<number> = new Set([
  311, // CONTENT_TOO_LARGE
  312, // NO_ROUTE (RabbitMQ, only in basic.return)
  313, // NO_CONSUMERS
  403, // ACCESS_REFUSED
  404, // NOT_FOUND
  405, // RESOURCE_LOCKED
  406, // PRECONDITION_FAILED
]);

/** Symbolic names of the reply codes, as RabbitMQ prints them in close reasons ("NOT_FOUND - no queue 'q'"). */
export const REPLY_CODE_NAMES: Readonly<Record<number, string>> = Object.freeze({
  200: 'REPLY_SUCCESS',
  311: 'CONTENT_TOO_LARGE',
  312: 'NO_ROUTE',
  313: 'NO_CONSUMERS',
  320: 'CONNECTION_FORCED',
  402: 'INVALID_PATH',
  403: 'ACCESS_REFUSED',
  404: 'NOT_FOUND',
  405: 'RESOURCE_LOCKED',
  406: 'PRECONDITION_FAILED',
  501: 'FRAME_ERROR',
  502: 'SYNTAX_ERROR',
  503: 'COMMAND_INVALID',
  504: 'CHANNEL_ERROR',
  505: 'UNEXPECTED_FRAME',
  506: 'RESOURCE_ERROR',
  530: 'NOT_ALLOWED',
  540: 'NOT_IMPLEMENTED',
  541: 'INTERNAL_ERROR',
});

/** True when the reply code is a hard (connection-level) error. */
export function isHardError(code: number): boolean {
  return code >= 300 && !SOFT_ERROR_CODES.has(code);
}

export class ProtocolError extends Error {
  constructor(
    readonly code: number,
    text: string,
    readonly classId = 0,
    readonly methodId = 0,
  ) {
    super(text);
  }

  /** Connection-level error: the server must answer with connection.close. */
  get hard(): boolean {
    return isHardError(this.code);
  }

  /** Reply code name, e.g. 'NOT_FOUND'. */
  get codeName(): string {
    return REPLY_CODE_NAMES[this.code] ?? 'UNKNOWN';
  }

  /** Reply text in RabbitMQ's style: "NOT_FOUND - no queue 'q' in vhost '/'". */
  get replyText(): string {
    return `${this.codeName} - ${this.message}`;
  }
}

ProtocolError.prototype.name = 'ProtocolError';

export function syntaxError(text: string, classId = 0, methodId = 0): ProtocolError {
  return new ProtocolError(502, text, classId, methodId);
}

export function frameError(text: string): ProtocolError {
  return new ProtocolError(501, text);
}
