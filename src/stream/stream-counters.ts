// Process-wide counters of the Stream protocol, for Prometheus (rabbitmq_global_*{protocol="stream"}
// and rabbitmq_global_stream_error_*_total, as RabbitMQ 3.10's stream plugin exports them).
import { Code } from '../protocol/stream/frames';

export const streamCounters = {
  /** messages in publish frames of declared publishers (all expect a confirm) */
  received: 0,
  confirmed: 0,
  /** messages in the chunks delivered to subscriptions */
  delivered: 0,
  /** error responses, publish errors and closes sent, by response code */
  errors: new Array<number>(32).fill(0),
};

/** The response codes RabbitMQ counts, with the names of their counters. */
export const STREAM_ERROR_COUNTERS: ReadonlyArray<[code: number, name: string]> = [
  [Code.StreamDoesNotExist, 'stream_does_not_exist'],
  [Code.SubscriptionIdAlreadyExists, 'subscription_id_already_exists'],
  [Code.SubscriptionIdDoesNotExist, 'subscription_id_does_not_exist'],
  [Code.StreamAlreadyExists, 'stream_already_exists'],
  [Code.StreamNotAvailable, 'stream_not_available'],
  [Code.SaslMechanismNotSupported, 'sasl_mechanism_not_supported'],
  [Code.AuthenticationFailure, 'authentication_failure'],
  [Code.SaslError, 'sasl_error'],
  [Code.SaslChallenge, 'sasl_challenge'],
  [Code.SaslAuthenticationFailureLoopback, 'sasl_authentication_failure_loopback'],
  [Code.VirtualHostAccessFailure, 'vhost_access_failure'],
  [Code.UnknownFrame, 'unknown_frame'],
  [Code.FrameTooLarge, 'frame_too_large'],
  [Code.InternalError, 'internal_error'],
  [Code.AccessRefused, 'access_refused'],
  [Code.PreconditionFailed, 'precondition_failed'],
  [Code.PublisherDoesNotExist, 'publisher_does_not_exist'],
];

export function countStreamError(code: number, n = 1): void {
  if (code > Code.Ok && code < streamCounters.errors.length) streamCounters.errors[code] += n;
}
