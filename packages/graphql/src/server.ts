import { randomUUID } from 'node:crypto';

import { createYoga, maskError as defaultMaskError, type YogaServerInstance } from 'graphql-yoga';

import type { GraphQLContext, ServerDependencies } from './context.ts';
import { toGraphQLError } from './errors.ts';
import { schema } from './schema/index.ts';

export interface ServerOptions extends ServerDependencies {
  /** Serves GraphiQL on GET /graphql; for local runs. */
  graphiql?: boolean;
  /** Example query GraphiQL opens with. */
  defaultQuery?: string;
}

/** Creates the yoga server. Lambda and the local server both use it, with their own authenticator. */
export function createGraphQLServer(options: ServerOptions): YogaServerInstance<Record<string, unknown>, GraphQLContext> {
  return createYoga<Record<string, unknown>, GraphQLContext>({
    schema,
    graphqlEndpoint: '/graphql',
    landingPage: false,
    graphiql: options.graphiql ? { defaultQuery: options.defaultQuery, title: 'Stratum' } : false,
    maskedErrors: {
      maskError: (error, message, isDev) => toGraphQLError(error, (inner) => defaultMaskError(inner, message, isDev)),
    },
    context: async ({ request, ...serverContext }) => {
      const tenant = await options.authenticate(request, serverContext);
      const requestId = request.headers.get('x-request-id') ?? randomUUID();
      return {
        tenant,
        requestId,
        store: options.store.forTenant(tenant),
        clock: options.clock,
        logger: options.logger,
      } satisfies Omit<GraphQLContext, never>;
    },
  });
}
