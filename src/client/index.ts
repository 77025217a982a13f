// The lean AMQP 0-9-1 client (see connection.ts).
export { ClientConnection, type ConnectOptions } from './connection';
export { ClientChannel, type ClientMessage, type ConsumeOptions, type DeliverySink } from './channel';
export { PublishTemplate, batchSizeFor, type TemplateOptions } from './publish-template';
export { parseAmqpUrl, type AmqpUrl } from './url';
export { AmqpClientError } from './errors';
export { nowMs } from './time';
