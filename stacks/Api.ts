import { Api as HttpApi, Function, use, type StackContext } from 'sst/constructs';
import { Alerts } from './Alerts.ts';
import { Analysis } from './Analysis.ts';
import { Storage } from './Storage.ts';

export function Api({ stack }: StackContext) {
  const { table } = use(Storage);
  const { requests: analysisRequests } = use(Analysis);

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
      STRATUM_ANALYSIS_QUEUE_URL: analysisRequests.queueUrl,
    },
  });
  table.cdk.table.grantReadWriteData(graphql);
  // The analyzeImage mutation queues requests for the analysis function.
  analysisRequests.grantSendMessages(graphql);
  // Ingest and runSlaEscalation dispatch alerts. The channel mutations encrypt inline secrets with
  // the alert key and send test alerts through SES, Jira and webhooks.
  use(Alerts).grantDispatch(graphql, { channels: true });

  const api = new HttpApi(stack, 'Http', {
    routes: {
      'GET /graphql': graphql,
      'POST /graphql': graphql,
    },
  });

  stack.addOutputs({ ApiUrl: api.url });

  return { api, graphql };
}
