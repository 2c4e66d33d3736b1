import { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import { ECRClient } from '@aws-sdk/client-ecr';
import { createDocumentClient, Store, systemClock, type Clock, type Logger } from '@stratum/core';

/** Everything a handler needs; Lambda builds it from the environment, tests and the local server pass their own. */
export interface HandlerDependencies {
  store: Store;
  clock: Clock;
  logger: Logger;
  /** Creates an ECR client for the account and region an event came from. */
  ecr: (region: string) => ECRClient;
  /** The tenant that owns events from this AWS account. */
  tenantForAccount: (account: string) => string;
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
  };
  cached = dependencies;
  return dependencies;
}
