import { Api as HttpApi, Function, use, type StackContext } from 'sst/constructs';
import { Storage } from './Storage.ts';

export function Api({ stack }: StackContext) {
  const { table } = use(Storage);

  // One function serves both methods, because GraphQL over HTTP allows queries by GET and any
  // operation by POST.
  const graphql = new Function(stack, 'GraphQL', {
    handler: 'packages/functions/src/graphql.handler',
    // The key list contains SHA-256 hashes of the keys, never a usable key, so it can travel as configuration.
    environment: {
      STRATUM_TABLE: table.tableName,
      STRATUM_AUTH_MODE: process.env.STRATUM_AUTH_MODE ?? 'api-key',
      STRATUM_API_KEYS: process.env.STRATUM_API_KEYS ?? '',
      STRATUM_TENANT_CLAIM: process.env.STRATUM_TENANT_CLAIM ?? 'tenant',
    },
  });
  table.cdk.table.grantReadWriteData(graphql);

  const api = new HttpApi(stack, 'Http', {
    routes: {
      'GET /graphql': graphql,
      'POST /graphql': graphql,
    },
  });

  stack.addOutputs({ ApiUrl: api.url });

  return { api, graphql };
}
