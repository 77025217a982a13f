// AMQP errors raised by the semantic layer. The server turns them into channel.close or
// connection.close depending on whether the code is a hard (connection) error.
export const ReplyCode = {
  CONTENT_TOO_LARGE: 311,
  NO_ROUTE: 312,
  NO_CONSUMERS: 313,
  CONNECTION_FORCED: 320,
  INVALID_PATH: 402,
  ACCESS_REFUSED: 403,
  NOT_FOUND: 404,
  RESOURCE_LOCKED: 405,
  PRECONDITION_FAILED: 406,
  FRAME_ERROR: 501,
  SYNTAX_ERROR: 502,
  COMMAND_INVALID: 503,
  CHANNEL_ERROR: 504,
  UNEXPECTED_FRAME: 505,
  RESOURCE_ERROR: 506,
  NOT_ALLOWED: 530,
  NOT_IMPLEMENTED: 540,
  INTERNAL_ERROR: 541,
} as const;

const NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(ReplyCode).map(([k, v]) => [v, k]));

const HARD = new Set([320, 402, 501, 502, 503, 504, 505, 506, 530, 540, 541]);

export class AmqpError extends Error {
  constructor(readonly code: number, readonly text: string) {
    super(`${NAMES[code] ?? code} - ${text}`);
  }
  get hard(): boolean { return HARD.has(this.code); }
  // Reply text as RabbitMQ formats it: "NOT_FOUND - no queue 'x' in vhost '/'".
  get replyText(): string { return this.message; }
}

export const notFound = (text: string) => new AmqpError(ReplyCode.NOT_FOUND, text);
export const preconditionFailed = (text: string) => new AmqpError(ReplyCode.PRECONDITION_FAILED, text);
export const accessRefused = (text: string) => new AmqpError(ReplyCode.ACCESS_REFUSED, text);
export const resourceLocked = (text: string) => new AmqpError(ReplyCode.RESOURCE_LOCKED, text);
export const notAllowed = (text: string) => new AmqpError(ReplyCode.NOT_ALLOWED, text);
export const notImplemented = (text: string) => new AmqpError(ReplyCode.NOT_IMPLEMENTED, text);
export const commandInvalid = (text: string) => new AmqpError(ReplyCode.COMMAND_INVALID, text);
