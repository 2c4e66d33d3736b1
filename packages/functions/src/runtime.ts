import { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import { ECRClient } from '@aws-sdk/client-ecr';
import { SQSClient } from '@aws-sdk/client-sqs';
import {
  createAlertDispatcher,
  createDocumentClient,
  FeedStore,
  ingestGovernance,
  SqsDeliveryQueue,
  Store,
  systemClock,
  type AlertDispatcher,
  type AnalysisRequester,
  type Clock,
  type IngestGovernance,
  type Logger,
} from '@stratum/core';

import { sqsAnalysisRequester } from './analysis-queue.ts';

/** Everything a handler needs; Lambda builds it from the environment, tests and the local server pass their own. */
export interface HandlerDependencies {
  store: Store;
  clock: Clock;
  logger: Logger;
  /** Creates an ECR client for the account and region an event came from. */
  ecr: (region: string) => ECRClient;
  /** The tenant that owns events from this AWS account. */
  tenantForAccount: (account: string) => string;
  /** Queues content analyses of pushed images; undefined when no queue is configured (STRATUM_ANALYSIS_QUEUE_URL). */
  requestAnalysis?: AnalysisRequester;
  /** Sends governance alerts; undefined when no alert queue is configured (STRATUM_ALERT_QUEUE_URL). */
  alerts?: AlertDispatcher;
}

/** The governance hook for one tenant's ingest: SLA deadlines, and new-base-image alerts when `alerts` is set. */
export function governanceFor(dependencies: HandlerDependencies, tenant: string, logger: Logger = dependencies.logger): IngestGovernance {
  const feeds = new FeedStore(dependencies.store.db, dependencies.store.tableName);
  return ingestGovernance({ store: dependencies.store.forTenant(tenant), clock: dependencies.clock, logger, alerts: dependencies.alerts, exploitFacts: (ids) => feeds.getFacts([...ids]) });
}

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`Missing environment variable ${name}; the stack sets it on every function`);
  return value;
}

/**
 * Maps AWS accounts to tenants from STRATUM_ACCOUNT_TENANTS (`123456789012=acme,…`); an
 * account not listed belongs to the default tenant STRATUM_DEFAULT_TENANT (`default`).
 */
export function accountTenantMap(configuration = process.env.STRATUM_ACCOUNT_TENANTS ?? '', fallback = process.env.STRATUM_DEFAULT_TENANT ?? 'default'): (account: string) => string {
  const map = new Map(
    configuration
      .split(',')
      .map((pair) => pair.trim().split('='))
      .filter((pair): pair is [string, string] => pair.length === 2 && Boolean(pair[0]) && Boolean(pair[1])),
  );
  return (account) => map.get(account) ?? fallback;
}

/** Adapts the Powertools logger (JSON lines with the Lambda context) to the core's Logger interface. */
export function powertoolsLogger(logger = new PowertoolsLogger({ serviceName: 'stratum' })): Logger {
  return {
    debug: (message, fields) => logger.debug({ message, ...fields }),
    info: (message, fields) => logger.info({ message, ...fields }),
    warn: (message, fields) => logger.warn({ message, ...fields }),
    error: (message, fields) => logger.error({ message, ...fields }),
  };
}

let cached: HandlerDependencies | undefined;

/** Dependencies for Lambda, built once per execution environment and reused across invocations. */
export function lambdaDependencies(): HandlerDependencies {
  if (cached) return cached;

  const clients = new Map<string, ECRClient>();
  const dependencies: HandlerDependencies = {
    store: new Store(createDocumentClient(), requiredEnv('STRATUM_TABLE')),
    clock: systemClock,
    logger: powertoolsLogger(),
    ecr: (region) => {
      let client = clients.get(region);
      if (!client) {
        client = new ECRClient({ region });
        clients.set(region, client);
      }
      return client;
    },
    tenantForAccount: accountTenantMap(),
    requestAnalysis: process.env.STRATUM_ANALYSIS_QUEUE_URL ? sqsAnalysisRequester(new SQSClient({}), process.env.STRATUM_ANALYSIS_QUEUE_URL) : undefined,
  };
  const alertQueue = process.env.STRATUM_ALERT_QUEUE_URL;
  if (alertQueue) dependencies.alerts = createAlertDispatcher({ store: dependencies.store, queue: new SqsDeliveryQueue(new SQSClient({}), alertQueue), clock: dependencies.clock, logger: dependencies.logger });
  cached = dependencies;
  return dependencies;
}
