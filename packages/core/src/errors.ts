/**
 * Errors of the core package. Every expected outcome has its own subclass with a stable
 * `code`, so the GraphQL layer can map it to `extensions.code` and the handlers can decide
 * whether a retry could help.
 */
export class StratumError extends Error {
  readonly code: string = 'INTERNAL';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Input from outside (a report, an event, an argument) that does not have the expected shape. */
export class InvalidInputError extends StratumError {
  override readonly code = 'BAD_USER_INPUT';

  constructor(
    message: string,
    readonly details: { format?: string; path?: string; value?: unknown } = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A document whose format could not be recognised among the supported ones. */
export class UnsupportedFormatError extends InvalidInputError {
  override readonly code = 'BAD_USER_INPUT';
}

export class NotFoundError extends StratumError {
  override readonly code = 'NOT_FOUND';

  constructor(
    readonly kind: string,
    readonly id: string,
    hint?: string,
  ) {
    super(`${kind} ${id} not found${hint ? `: ${hint}` : ''}`);
  }
}

/** A conditional write lost against a concurrent writer; the caller may retry. */
export class ConflictError extends StratumError {
  override readonly code = 'CONFLICT';
}
