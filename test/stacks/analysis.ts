import { Match } from 'aws-cdk-lib/assertions';
import { getStack, use } from 'sst/constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Analysis } from '../../stacks/Analysis.ts';
import { Api } from '../../stacks/Api.ts';
import { Events } from '../../stacks/Events.ts';
import type { StackTemplates } from './synthesize.ts';
import { functionsWithHandler, HANDLER_PREFIX, logicalId, roleActions, type Resource } from './template-queries.ts';

const ANALYZE_HANDLER = `${HANDLER_PREFIX}image-analyze.handler`;

/** Declares the checks of the Analysis stack: the request queue, the analysis function and who may queue requests. */
export function describeAnalysisStack(templates: () => StackTemplates): void {
  const analysis = () => templates().analysis;

  describe('analysis stack', () => {
    let analyzeFunction: Resource;

    beforeAll(() => {
      const handlers = functionsWithHandler(analysis(), ANALYZE_HANDLER);
      expect(handlers).toHaveLength(1);
      analyzeFunction = handlers[0]!;
    });

    it('gives the function 15 minutes, 2048 MB and 10 GB of /tmp', () => {
      expect(analyzeFunction.Properties.Timeout).toBe(900);
      expect(analyzeFunction.Properties.MemorySize).toBe(2048);
      expect(analyzeFunction.Properties.EphemeralStorage).toEqual({ Size: 10240 });
    });

    it('keeps messages hidden longer than the function runs', () => {
      const queues = Object.values(analysis().findResources('AWS::SQS::Queue', { Properties: { RedrivePolicy: Match.anyValue() } })) as Resource[];

      expect(queues).toHaveLength(1);
      expect(queues[0]!.Properties.VisibilityTimeout).toBeGreaterThan(analyzeFunction.Properties.Timeout);
    });

    it('sends failed messages to a dead-letter queue', () => {
      const stack = getStack(Analysis);
      analysis().hasResourceProperties('AWS::SQS::Queue', {
        RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [logicalId(stack, use(Analysis).deadLetters), 'Arn'] }, maxReceiveCount: 3 },
      });
    });

    it('reads one message per invocation with partial batch failures', () => {
      const stack = getStack(Analysis);
      analysis().hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        BatchSize: 1,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        EventSourceArn: { 'Fn::GetAtt': [logicalId(stack, use(Analysis).requests), 'Arn'] },
      });
    });

    it('may read ECR layers and write the table', () => {
      const actions = roleActions(analysis(), getStack(Analysis), use(Analysis).analyze);

      expect(actions).toEqual(expect.arrayContaining(['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:BatchWriteItem']));
      expect(actions).toEqual(expect.arrayContaining(['sqs:ReceiveMessage', 'sqs:DeleteMessage']));
    });

    it('lets the push handler and the API queue requests', () => {
      const { events, api } = templates();

      expect(roleActions(events, getStack(Events), use(Events).imagePushed)).toContain('sqs:SendMessage');
      expect(roleActions(api, getStack(Api), use(Api).graphql)).toContain('sqs:SendMessage');
    });

    it('gives the push handler and the API the queue URL', () => {
      const { events, api } = templates();
      const pushedEnvironment = functionsWithHandler(events, `${HANDLER_PREFIX}image-pushed.handler`)[0]!.Properties.Environment.Variables;
      const apiEnvironment = functionsWithHandler(api, `${HANDLER_PREFIX}graphql.handler`)[0]!.Properties.Environment.Variables;

      expect(pushedEnvironment.STRATUM_ANALYSIS_QUEUE_URL).toBeDefined();
      expect(apiEnvironment.STRATUM_ANALYSIS_QUEUE_URL).toBeDefined();
    });
  });
}
