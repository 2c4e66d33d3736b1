import { createGraphQLServer, localAuthenticator } from '@stratum/graphql';

import type { TestStore } from './local-store.ts';

export interface GraphQLClient {
  tenant: string;
  query<T = any>(query: string, variables?: Record<string, unknown>): Promise<{ data?: T; errors?: Array<{ message: string; extensions?: { code?: string; field?: string } }> }>;
}

/** Creates an in-process GraphQL client acting for one tenant, as the local user, against the test store. */
export function graphqlClient(local: TestStore, tenant: string): GraphQLClient {
  const yoga = createGraphQLServer({ store: local.store, clock: local.context().clock, logger: local.context().logger, authenticate: localAuthenticator(tenant) });

  return {
    tenant,
    query: async (query, variables) => {
      const response = await yoga.fetch('http://yoga/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
      return response.json();
    },
  };
}
