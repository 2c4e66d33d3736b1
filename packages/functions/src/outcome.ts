import { InvalidInputError, RegistryError, type Logger } from '@stratum/core';

/** The outcome of handling one event. Only retryable failures throw, so Lambda retries them. */
export interface HandlerOutcome {
  status: 'stored' | 'ignored' | 'rejected';
  reason?: string;
  imageKey?: string;
  findingCount?: number;
}

/**
 * Decides whether a failure is worth a retry. Invalid input and permanent registry errors
 * (not found, access denied) are logged and dropped, because retrying them only fills the
 * dead-letter queue; everything else is rethrown so Lambda retries it.
 */
export function rejectOrThrow(error: unknown, logger: Logger, fields: Record<string, unknown>): HandlerOutcome {
  const permanent = error instanceof InvalidInputError || (error instanceof RegistryError && !error.retryable);
  if (!permanent) {
    logger.error('event processing failed; leaving it to retry', { ...fields, error: (error as Error).message });
    throw error;
  }

  logger.error('rejected event', { ...fields, error: (error as Error).message });
  return { status: 'rejected', reason: (error as Error).message };
}
