import type { Clock, ExploitFacts, Logger, Store, TenantStore } from '@stratum/core';
import type DataLoader from 'dataloader';

/** Per-request context. The tenant comes from the request's credential, never from an argument. */
export interface GraphQLContext {
  tenant: string;
  /** The sender of the request, for audit records: a JWT subject, an API key's id, or the local user. */
  actor: string;
  store: TenantStore;
  clock: Clock;
  logger: Logger;
  requestId: string;
  /** EPSS and KEV facts by vulnerability id, batched per request. */
  exploitFacts: DataLoader<string, ExploitFacts>;
}

/** Dependencies the server factory uses to build each request's context. */
export interface ServerDependencies {
  store: Store;
  clock: Clock;
  logger: Logger;
  authenticate: Authenticator;
  /** Reads exploit facts for many vulnerability ids at once; no facts when omitted. */
  exploitFacts?: (vulnerabilityIds: readonly string[]) => Promise<Map<string, ExploitFacts>>;
}

/** The tenant a request acts for, and who sent it. */
export interface Principal {
  tenant: string;
  actor: string;
}

/** Maps a request to its principal (or just its tenant), or throws an UnauthenticatedError. */
export type Authenticator = (request: Request, serverContext: Record<string, unknown>) => Promise<Principal | string> | Principal | string;
