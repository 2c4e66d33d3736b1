import { Match } from 'aws-cdk-lib/assertions';
import { getStack, use, type Function } from 'sst/constructs';
import { describe, expect, it } from 'vitest';
import { Events } from '../../stacks/Events.ts';
import type { StackTemplates } from './synthesize.ts';
import { logicalId, roleActions, type Resource } from './template-queries.ts';

/** Declares the checks of the Events stack: EventBridge rules, their dead-letter queue and handler permissions. */
export function describeEventsStack(templates: () => StackTemplates): void {
  const events = () => templates().events;
  const rules = () => Object.values(events().findResources('AWS::Events::Rule')) as Resource[];
  const dlqArn = () => ({ 'Fn::GetAtt': [logicalId(getStack(Events), use(Events).deadLetters), 'Arn'] });

  describe('events', () => {
    const ruleFor = (pattern: object, target: () => Function) => ({
      EventPattern: Match.objectEquals(pattern),
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [logicalId(getStack(Events), target()), 'Arn'] } })],
    });

    it('exactly three rules exist', () => {
      events().resourceCountIs('AWS::Events::Rule', 3);
    });

    it('rules use the default bus', () => {
      expect(rules().map((rule) => rule.Properties.EventBusName ?? 'default')).toEqual(['default', 'default', 'default']);
    });

    it('ECR pushes reach image-pushed', () => {
      const pattern = {
        source: ['aws.ecr'],
        'detail-type': ['ECR Image Action'],
        detail: { 'action-type': ['PUSH'], result: ['SUCCESS'] },
      };
      events().hasResourceProperties('AWS::Events::Rule', ruleFor(pattern, () => use(Events).imagePushed));
    });

    it('ECR scans reach scan-completed', () => {
      const pattern = { source: ['aws.ecr'], 'detail-type': ['ECR Image Scan'], detail: { 'scan-status': ['COMPLETE'] } };
      events().hasResourceProperties('AWS::Events::Rule', ruleFor(pattern, () => use(Events).scanCompleted));
    });

    it('Inspector scans reach scan-completed', () => {
      const pattern = { source: ['aws.inspector2'], 'detail-type': ['Inspector2 Scan'] };
      events().hasResourceProperties('AWS::Events::Rule', ruleFor(pattern, () => use(Events).scanCompleted));
    });

    it('every target has a DLQ', () => {
      const targets = rules().flatMap((rule) => rule.Properties.Targets as Record<string, unknown>[]);
      expect(targets.map((target) => target.DeadLetterConfig)).toEqual(Array(3).fill({ Arn: dlqArn() }));
    });

    it('every target retries boundedly', () => {
      const targets = rules().flatMap((rule) => rule.Properties.Targets as Record<string, unknown>[]);
      expect(targets.map((target) => target.RetryPolicy)).toEqual(
        Array(3).fill({ MaximumRetryAttempts: 4, MaximumEventAgeInSeconds: 7200 }),
      );
    });

    it('DLQ keeps messages 14 days', () => {
      events().hasResourceProperties('AWS::SQS::Queue', { MessageRetentionPeriod: 14 * 24 * 3600 });
    });

    it('async invocations retry twice', () => {
      events().resourcePropertiesCountIs('AWS::Lambda::EventInvokeConfig', { MaximumRetryAttempts: 2 }, 2);
    });

    it('failed invocations reach the DLQ', () => {
      events().resourcePropertiesCountIs('AWS::Lambda::Function', { DeadLetterConfig: { TargetArn: dlqArn() } }, 2);
    });

    it('push handler may read images', () => {
      const actions = roleActions(events(), getStack(Events), use(Events).imagePushed);
      expect(actions).toEqual(
        expect.arrayContaining(['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:DescribeImages']),
      );
    });

    it('scan handler may read findings', () => {
      const actions = roleActions(events(), getStack(Events), use(Events).scanCompleted);
      expect(actions).toEqual(
        expect.arrayContaining(['ecr:DescribeImageScanFindings', 'ecr:DescribeImages', 'inspector2:ListFindings']),
      );
    });
  });
}
