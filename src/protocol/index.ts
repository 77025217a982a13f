/**
 * AMQP 0-9-1 codec (RabbitMQ dialect). Pure: bytes <-> frames, methods, content headers,
 * field tables. No I/O.
 */
export * from './errors';
export * from './generated';
export * from './field-table';
export * from './properties';
export * from './frames';
export * from './frame-reader';
export { truncateShortstr, readStr, writeShortstr, shortstrLen } from './codec';
export * from './content-frames';
