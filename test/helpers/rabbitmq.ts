// A throwaway RabbitMQ node for interop tests (shared with the shovel benchmark).
export { rabbitmqInstalled, startRabbit, type RabbitNode } from '../../bench/links/rabbitmq-node';
