// AMQP 1.0 types, message sections, and the 0-9-1 <-> 1.0 conversion stream queues use.
export * from './types';
export * from './message';
export * from './convert';
