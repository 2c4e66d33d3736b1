import { StratumError } from '@stratum/core';
import { GraphQLError } from 'graphql';

/** A request without a valid credential. */
export class UnauthenticatedError extends StratumError {
  override readonly code = 'UNAUTHENTICATED';
}

/**
 * Turns core's expected errors into GraphQL errors with a stable `extensions.code`, and keeps
 * yoga's masking ("Unexpected error.") for everything else, so internals never leak.
 */
export function toGraphQLError(error: unknown, mask: (error: unknown) => Error): Error {
  const original = error instanceof GraphQLError ? (error.originalError ?? error) : error;

  if (original instanceof StratumError && original.code !== 'INTERNAL') {
    const details = 'details' in original ? (original as { details?: { path?: string } }).details : undefined;
    return new GraphQLError(original.message, {
      nodes: error instanceof GraphQLError ? error.nodes : undefined,
      path: error instanceof GraphQLError ? error.path : undefined,
      extensions: {
        code: original.code,
        ...(details?.path ? { field: details.path } : {}),
        // yoga responds with this HTTP status; a missing credential is a 401 for proxies and clients alike.
        ...(original.code === 'UNAUTHENTICATED' ? { http: { status: 401 } } : {}),
      },
    });
  }

  return mask(error);
}
