import type { AlertDispatcher, AlertServices, AnalysisRequester, Clock, ExploitFacts, Logger, Store, TenantStore } from '@stratum/core';
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
  /** Queues a content analysis; undefined where no queue or background runner is configured. */
  requestAnalysis?: AnalysisRequester;
  /** Sends governance alerts, such as NEW_BASE_IMAGE on ingest; undefined where no alert queue is configured. */
  alerts?: AlertDispatcher;
  /** Encrypts inline channel secrets and sends test alerts. */
  alertServices: AlertServices;
}

/** Dependencies the server factory uses to build each request's context. */
export interface ServerDependencies {
  store: Store;
  clock: Clock;
  logger: Logger;
  authenticate: Authenticator;
  /** Reads exploit facts for many vulnerability ids at once; no facts when omitted. */
  exploitFacts?: (vulnerabilityIds: readonly string[]) => Promise<Map<string, ExploitFacts>>;
  /** Queues a content analysis of an image; the analyzeImage mutation rejects requests without it. */
  requestAnalysis?: AnalysisRequester;
  /** Sends governance alerts from ingest and from runSlaEscalation; without it those record violations and send nothing. */
  alerts?: AlertDispatcher;
  /** Channel secrets and senders; built from the environment (keyProviderFromEnvironment) when omitted. */
  alertServices?: AlertServices;
}

/** The tenant a request acts for, and who sent it. */
export interface Principal {
  tenant: string;
  actor: string;
}

/** Maps a request to its principal (or just its tenant), or throws an UnauthenticatedError. */
export type Authenticator = (request: Request, serverContext: Record<string, unknown>) => Promise<Principal | string> | Principal | string;
