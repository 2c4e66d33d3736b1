export { createGraphQLServer, type ServerOptions } from './server.ts';
export { schema } from './schema/index.ts';
export { anyAuthenticator, apiKeyAuthenticator, jwtClaimAuthenticator, localAuthenticator } from './auth.ts';
export { UnauthenticatedError } from './errors.ts';
export type { Authenticator, GraphQLContext, ServerDependencies } from './context.ts';
