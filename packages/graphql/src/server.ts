import { randomUUID } from 'node:crypto';

import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { createYoga, maskError as defaultMaskError, type YogaServerInstance } from 'graphql-yoga';

import { createAlertServices, keyProviderFromEnvironment, StratumError, type ExploitFacts, type Logger } from '@stratum/core';
import DataLoader from 'dataloader';
import { GraphQLError } from 'graphql';

import type { GraphQLContext, ServerDependencies } from './context.ts';
import { toGraphQLError } from './errors.ts';
import { useRedactedInputErrors } from './redact-input-errors.ts';
import { schema } from './schema/index.ts';

export interface ServerOptions extends ServerDependencies {
  /** Serves GraphiQL on GET /graphql; for local runs. */
  graphiql?: boolean;
  /** Example query GraphiQL opens with. */
  defaultQuery?: string;
}

/**
 * Routes yoga's own log lines to the service logger. Errors a client caused (invalid input,
 * not found) are the response it gets, not a fault of the service, so they are logged at debug level.
 */
function yogaLogger(logger: Logger) {
  const describe = (args: unknown[]) => args.map((arg) => (arg instanceof Error ? `${arg.name}: ${arg.message}` : String(arg))).join(' ');
  const isClientError = (args: unknown[]) =>
    args.some((arg) => {
      const error = arg instanceof GraphQLError && arg.originalError ? arg.originalError : arg;
      return error instanceof StratumError && error.code !== 'INTERNAL';
    });

  return {
    debug: (...args: unknown[]) => logger.debug('graphql', { detail: describe(args) }),
    info: (...args: unknown[]) => logger.info('graphql', { detail: describe(args) }),
    warn: (...args: unknown[]) => logger.warn('graphql', { detail: describe(args) }),
    error: (...args: unknown[]) => (isClientError(args) ? logger.debug('graphql client error', { detail: describe(args) }) : logger.error('graphql request failed', { detail: describe(args) })),
  };
}

/** Creates the yoga server. Lambda and the local server both use it, with their own authenticator. */
export function createGraphQLServer(options: ServerOptions): YogaServerInstance<Record<string, unknown>, GraphQLContext> {
  // The key provider reads its key on first use, so building the default costs nothing until a channel needs a secret.
  const alertServices = options.alertServices ?? createAlertServices({ clock: options.clock, keyProvider: keyProviderFromEnvironment() });

  return createYoga<Record<string, unknown>, GraphQLContext>({
    schema,
    graphqlEndpoint: '/graphql',
    landingPage: false,
    logging: yogaLogger(options.logger),
    // Bounds on query shape, so one request cannot make the API read the whole table: connections
    // nest (images → findings → layer), so the depth limit is above graphql-armor's default of 6.
    plugins: [
      EnvelopArmorPlugin({
        maxDepth: { n: 15 },
        maxAliases: { n: 20 },
        maxTokens: { n: 5000 },
        costLimit: { maxCost: 50_000 },
        blockFieldSuggestion: { enabled: !options.graphiql },
      }),
      useRedactedInputErrors(),
    ],
    graphiql: options.graphiql ? { defaultQuery: options.defaultQuery, title: 'Stratum' } : false,
    maskedErrors: {
      maskError: (error, message, isDev) => toGraphQLError(error, (inner) => defaultMaskError(inner, message, isDev)),
    },
    context: async ({ request, ...serverContext }) => {
      const principal = await options.authenticate(request, serverContext);
      const { tenant, actor } = typeof principal === 'string' ? { tenant: principal, actor: `tenant:${principal}` } : principal;
      const requestId = request.headers.get('x-request-id') ?? randomUUID();
      return {
        tenant,
        actor,
        requestId,
        store: options.store.forTenant(tenant),
        clock: options.clock,
        logger: options.logger,
        requestAnalysis: options.requestAnalysis,
        alerts: options.alerts,
        alertServices,
        exploitFacts: new DataLoader<string, ExploitFacts>(async (ids) => {
          const facts = options.exploitFacts ? await options.exploitFacts(ids) : new Map<string, ExploitFacts>();
          return ids.map((id) => facts.get(id.toUpperCase()) ?? facts.get(id) ?? {});
        }),
      } satisfies Omit<GraphQLContext, never>;
    },
  });
}
