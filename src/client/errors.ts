// Errors the lean client reports: an AMQP close from the server (code, hard) or a local failure.
export class AmqpClientError extends Error {
  constructor(message: string, readonly code = 0, readonly hard = false) {
    super(message);
  }
}

