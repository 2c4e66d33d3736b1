import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { FeedStore } from '@stratum/core';
import { anyAuthenticator, apiKeyAuthenticator, createGraphQLServer, jwtClaimAuthenticator, type Authenticator } from '@stratum/graphql';

import { lambdaDependencies } from './runtime.ts';

/**
 * Builds the authenticator from STRATUM_AUTH_MODE: `api-key` (hashed keys in STRATUM_API_KEYS),
 * `jwt` (a claim, STRATUM_TENANT_CLAIM or `tenant`, verified by API Gateway's JWT authorizer),
 * or both separated by a comma. There is no unauthenticated mode on Lambda.
 */
export function authenticatorFromEnvironment(environment: NodeJS.ProcessEnv = process.env): Authenticator {
  const modes = (environment.STRATUM_AUTH_MODE ?? 'api-key').split(',').map((mode) => mode.trim());
  const authenticators = modes.map((mode) => {
    if (mode === 'api-key') return apiKeyAuthenticator(environment.STRATUM_API_KEYS ?? '');
    if (mode === 'jwt') return jwtClaimAuthenticator(environment.STRATUM_TENANT_CLAIM ?? 'tenant');
    throw new Error(`Invalid STRATUM_AUTH_MODE entry ${JSON.stringify(mode)}: expected api-key, jwt, or both separated by a comma`);
  });

  return authenticators.length === 1 ? authenticators[0]! : anyAuthenticator(...authenticators);
}

let server: ReturnType<typeof createGraphQLServer> | undefined;

function getServer() {
  if (!server) {
    const dependencies = lambdaDependencies();
    const feeds = new FeedStore(dependencies.store.db, dependencies.store.tableName);
    server = createGraphQLServer({
      store: dependencies.store,
      clock: dependencies.clock,
      logger: dependencies.logger,
      authenticate: authenticatorFromEnvironment(),
      exploitFacts: (ids) => feeds.getFacts([...ids]),
      requestAnalysis: dependencies.requestAnalysis,
      // The SQS dispatcher, when the Alerts stack granted this function STRATUM_ALERT_QUEUE_URL.
      alerts: dependencies.alerts,
    });
  }
  return server;
}

/** Converts an API Gateway HTTP API (payload version 2.0) event to a fetch Request and back. */
export async function handler(event: APIGatewayProxyEventV2, context: Context): Promise<APIGatewayProxyStructuredResultV2> {
  const url = `https://${event.requestContext.domainName}${event.rawPath}${event.rawQueryString ? `?${event.rawQueryString}` : ''}`;
  const method = event.requestContext.http.method;
  let body: string | Buffer | undefined;
  if (event.body !== undefined && method !== 'GET') body = event.isBase64Encoded ? Buffer.from(event.body, 'base64') : event.body;
  const headers = new Headers(Object.entries(event.headers ?? {}).filter((entry): entry is [string, string] => entry[1] !== undefined));
  if (!headers.has('x-request-id')) headers.set('x-request-id', context.awsRequestId);

  const response = await getServer().fetch(url, { method, headers, body }, { event, lambdaContext: context });

  return {
    statusCode: response.status,
    headers: Object.fromEntries(response.headers.entries()),
    body: await response.text(),
  };
}
