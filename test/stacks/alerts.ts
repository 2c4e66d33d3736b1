import { Match } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { getStack, use } from 'sst/constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Alerts } from '../../stacks/Alerts.ts';
import type { StackTemplates } from './synthesize.ts';
import { actionsOf, functionsWithHandler, HANDLER_PREFIX, logicalId, roleStatements, type Resource, type Statement } from './template-queries.ts';

const DELIVER_HANDLER = `${HANDLER_PREFIX}alert-deliver.handler`;

const alertsId = (construct: IConstruct) => logicalId(getStack(Alerts), construct);

/** Declares the checks of the Alerts stack: the delivery queue, its function and that function's IAM scope. */
export function describeAlertsStack(templates: () => StackTemplates): void {
  const alerts = () => templates().alerts;

  describe('alerts stack', () => {
    let deliverFunction: Resource;
    let statements: Statement[];

    beforeAll(() => {
      const handlers = functionsWithHandler(alerts(), DELIVER_HANDLER);
      expect(handlers).toHaveLength(1);
      deliverFunction = handlers[0]!;

      statements = roleStatements(alerts(), getStack(Alerts), use(Alerts).deliver);
    });

    const statementWith = (action: string) => statements.filter((statement) => actionsOf(statement).includes(action));

    it('sends failed messages to a dead-letter queue after five receives', () => {
      const { queue, deadLetters } = use(Alerts);
      alerts().hasResourceProperties('AWS::SQS::Queue', {
        VisibilityTimeout: 1800,
        RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [alertsId(deadLetters), 'Arn'] }, maxReceiveCount: 5 },
      });
      expect(alertsId(queue)).not.toBe(alertsId(deadLetters));
      alerts().hasResourceProperties('AWS::SQS::Queue', { MessageRetentionPeriod: 14 * 24 * 3600 });
    });

    it('consumes the queue with partial batch failures', () => {
      alerts().hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        EventSourceArn: { 'Fn::GetAtt': [alertsId(use(Alerts).queue), 'Arn'] },
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        BatchSize: 5,
      });
    });

    it('configures the function', () => {
      const variables = deliverFunction.Properties.Environment.Variables;
      expect(Object.keys(variables)).toEqual(expect.arrayContaining(['STRATUM_TABLE', 'STRATUM_ALERT_QUEUE_URL', 'STRATUM_ALERT_KEY_SECRET']));
      expect(deliverFunction.Properties.Timeout).toBe(300);
    });

    it('allows SES v2 SendEmail on identities only', () => {
      const [statement] = statementWith('ses:SendEmail');
      expect(statement).toBeDefined();
      expect(JSON.stringify(statement!.Resource)).toContain(':identity/*');
      expect(JSON.stringify(statement!.Resource)).not.toBe('"*"');
    });

    it('scopes secret reads to the stratum prefix and the key secret', () => {
      const reads = statementWith('secretsmanager:GetSecretValue');
      const resources = JSON.stringify(reads.map((statement) => statement.Resource));
      expect(resources).toContain(':secret:stratum/*');
      expect(resources).toContain(alertsId(use(Alerts).secretsKey));
      expect(resources).not.toContain('"*"');

      const [parameter] = statementWith('ssm:GetParameter');
      expect(JSON.stringify(parameter!.Resource)).toContain(':parameter/stratum/*');
    });

    it('allows kms:Decrypt only through SSM and Secrets Manager', () => {
      const [statement] = statementWith('kms:Decrypt');
      expect(statement!.Condition).toEqual({ StringEquals: { 'kms:ViaService': ['ssm.us-east-1.amazonaws.com', 'secretsmanager.us-east-1.amazonaws.com'] } });
    });

    it('lets the function use the table and resend to the queue', () => {
      expect(statementWith('dynamodb:PutItem').length).toBeGreaterThan(0);
      expect(statementWith('dynamodb:Query').length).toBeGreaterThan(0);
      const [send] = statementWith('sqs:SendMessage');
      expect(send!.Resource).toEqual({ 'Fn::GetAtt': [alertsId(use(Alerts).queue), 'Arn'] });
    });

    it('generates the key material secret', () => {
      alerts().hasResourceProperties('AWS::SecretsManager::Secret', { GenerateSecretString: Match.objectLike({ PasswordLength: 64 }) });
    });
  });
}
