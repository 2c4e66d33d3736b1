import { Match } from 'aws-cdk-lib/assertions';
import { getStack, use } from 'sst/constructs';
import { describe, expect, it } from 'vitest';
import { Alerts } from '../../stacks/Alerts.ts';
import { Api } from '../../stacks/Api.ts';
import type { StackTemplates } from './synthesize.ts';
import { actionsOf, functionsWithHandler, HANDLER_PREFIX, logicalId, roleStatements } from './template-queries.ts';

/** Declares the checks of the Api stack: the HTTP API, its GraphQL routes and the handler's auth settings. */
export function describeApiStack(templates: () => StackTemplates): void {
  const api = () => templates().api;

  describe('api', () => {
    it('HTTP API exists', () => {
      api().hasResourceProperties('AWS::ApiGatewayV2::Api', { ProtocolType: 'HTTP' });
    });

    it('POST /graphql route exists', () => {
      api().hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: 'POST /graphql' });
    });

    it('GET /graphql route exists', () => {
      api().hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: 'GET /graphql' });
    });

    it('GraphQL uses api-key auth', () => {
      api().hasResourceProperties('AWS::Lambda::Function', {
        Environment: { Variables: Match.objectLike({ STRATUM_AUTH_MODE: 'api-key' }) },
      });
    });

    it('GraphQL gets the API key hashes', () => {
      api().hasResourceProperties('AWS::Lambda::Function', {
        Environment: { Variables: Match.objectLike({ STRATUM_API_KEYS: Match.anyValue(), STRATUM_TENANT_CLAIM: 'tenant' }) },
      });
    });

    it('stack outputs the API URL', () => {
      api().hasOutput('ApiUrl', {});
    });

    it('GraphQL dispatches alerts and manages channels', () => {
      const [graphql] = functionsWithHandler(api(), `${HANDLER_PREFIX}graphql.handler`);
      const variables = graphql!.Properties.Environment.Variables;
      expect(variables.STRATUM_ALERT_QUEUE_URL).toBeDefined();
      expect(variables.STRATUM_ALERT_KEY_SECRET).toBeDefined();

      // Resources of the Alerts stack appear as imports whose names contain their logical ids.
      const statements = roleStatements(api(), getStack(Api), use(Api).graphql);
      const resourcesOf = (action: string) => JSON.stringify(statements.filter((statement) => actionsOf(statement).includes(action)).map((statement) => statement.Resource));
      expect(resourcesOf('sqs:SendMessage')).toContain(logicalId(getStack(Alerts), use(Alerts).queue));
      expect(resourcesOf('secretsmanager:GetSecretValue')).toContain(logicalId(getStack(Alerts), use(Alerts).secretsKey));
      expect(resourcesOf('ses:SendEmail')).toContain(':identity/*');
    });
  });
}
