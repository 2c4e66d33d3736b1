import type { Clock, Logger, Store, TenantStore } from '@stratum/core';

/** Per-request context. The tenant comes from the request's credential, never from an argument. */
export interface GraphQLContext {
  tenant: string;
  store: TenantStore;
  clock: Clock;
  logger: Logger;
  requestId: string;
}

/** What the server factory needs to build a context for each request. */
export interface ServerDependencies {
  store: Store;
  clock: Clock;
  logger: Logger;
  authenticate: Authenticator;
}

/** Maps a request to its tenant, or throws an UnauthenticatedError. */
export type Authenticator = (request: Request, serverContext: Record<string, unknown>) => Promise<string> | string;
