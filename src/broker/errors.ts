// Shorthands for the AMQP errors the semantic layer raises, with RabbitMQ's reply texts. There is
// one error class (protocol/errors.ts) and one set of reply codes (the constants generated from
// the spec, plus RabbitMQ's NO_ROUTE); ReplyCode groups them by name.
import {
  AmqpError, NO_ROUTE, CONTENT_TOO_LARGE, NO_CONSUMERS, CONNECTION_FORCED, INVALID_PATH, ACCESS_REFUSED,
  NOT_FOUND, RESOURCE_LOCKED, PRECONDITION_FAILED, FRAME_ERROR, SYNTAX_ERROR, COMMAND_INVALID, CHANNEL_ERROR,
  UNEXPECTED_FRAME, RESOURCE_ERROR, NOT_ALLOWED, NOT_IMPLEMENTED, INTERNAL_ERROR,
} from '../protocol';

export { AmqpError };

export const ReplyCode = {
  CONTENT_TOO_LARGE, NO_ROUTE, NO_CONSUMERS, CONNECTION_FORCED, INVALID_PATH, ACCESS_REFUSED, NOT_FOUND,
  RESOURCE_LOCKED, PRECONDITION_FAILED, FRAME_ERROR, SYNTAX_ERROR, COMMAND_INVALID, CHANNEL_ERROR,
  UNEXPECTED_FRAME, RESOURCE_ERROR, NOT_ALLOWED, NOT_IMPLEMENTED, INTERNAL_ERROR,
} as const;

export const notFound = (text: string) => new AmqpError(NOT_FOUND, text);
export const preconditionFailed = (text: string) => new AmqpError(PRECONDITION_FAILED, text);
export const accessRefused = (text: string) => new AmqpError(ACCESS_REFUSED, text);
export const resourceLocked = (text: string) => new AmqpError(RESOURCE_LOCKED, text);
export const notAllowed = (text: string) => new AmqpError(NOT_ALLOWED, text);
export const notImplemented = (text: string) => new AmqpError(NOT_IMPLEMENTED, text);
export const commandInvalid = (text: string) => new AmqpError(COMMAND_INVALID, text);
