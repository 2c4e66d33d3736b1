import { Match } from 'aws-cdk-lib/assertions';
import { getStack, use } from 'sst/constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Schedules } from '../../stacks/Schedules.ts';
import { Storage } from '../../stacks/Storage.ts';
import type { StackTemplates } from './synthesize.ts';
import { actionsOf, functionsWithHandler, HANDLER_PREFIX, logicalId, policyStatements, type Resource } from './template-queries.ts';

const FEEDS_HANDLER = `${HANDLER_PREFIX}feeds-refresh.handler`;

const tableRef = () => {
  const storage = getStack(Storage);
  return storage.resolve(logicalId(storage, use(Storage).table.cdk.table));
};

/** Declares the checks of the Schedules stack: the feed refresh, suppression audit and SLA escalation jobs. */
export function describeSchedulesStack(templates: () => StackTemplates): void {
  const schedules = () => templates().schedules;

  describe('schedules stack', () => {
    let feedsFunction: Resource;

    beforeAll(() => {
      const handlers = functionsWithHandler(schedules(), FEEDS_HANDLER);
      expect(handlers).toHaveLength(1);
      feedsFunction = handlers[0]!;
    });

    it('has three schedule rules', () => {
      schedules().resourceCountIs('AWS::Events::Rule', 3);
    });

    it('audits suppressions each quarter', () => {
      const functionId = logicalId(getStack(Schedules), use(Schedules).suppressionAudit.jobFunction);
      schedules().hasResourceProperties('AWS::Events::Rule', {
        ScheduleExpression: 'cron(0 3 1 1,4,7,10 ? *)',
        Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [functionId, 'Arn'] } })],
      });
    });

    it('gives the audit the table', () => {
      const audit = functionsWithHandler(schedules(), `${HANDLER_PREFIX}suppression-audit.handler`);
      expect(audit).toHaveLength(1);
      expect(audit[0]!.Properties.Environment.Variables.STRATUM_TABLE).toBeDefined();
      expect(audit[0]!.Properties.Timeout).toBe(900);
    });

    it('runs the SLA pass daily at 07:00 UTC', () => {
      const functionId = logicalId(getStack(Schedules), use(Schedules).slaEscalation.jobFunction);
      schedules().hasResourceProperties('AWS::Events::Rule', {
        ScheduleExpression: 'cron(0 7 * * ? *)',
        Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [functionId, 'Arn'] } })],
      });
    });

    it('gives the SLA pass the table', () => {
      const sla = functionsWithHandler(schedules(), `${HANDLER_PREFIX}sla-escalation.handler`);
      expect(sla).toHaveLength(1);
      expect(sla[0]!.Properties.Environment.Variables.STRATUM_TABLE).toEqual({ 'Fn::ImportValue': expect.stringContaining(`Ref${tableRef()}`) });
      expect(sla[0]!.Properties.Timeout).toBe(900);
      expect(sla[0]!.Properties.Environment.Variables.STRATUM_ALERT_QUEUE_URL).toBeDefined();
    });

    it('runs daily at 06:30 UTC', () => {
      schedules().hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'cron(30 6 * * ? *)' });
    });

    it('targets the feeds function', () => {
      const functionId = logicalId(getStack(Schedules), use(Schedules).feedsRefresh.jobFunction);
      schedules().hasResourceProperties('AWS::Events::Rule', { Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [functionId, 'Arn'] } })] });
    });

    it('allows 300 seconds', () => {
      expect(feedsFunction.Properties.Timeout).toBe(300);
    });

    it('has 1024 MB memory', () => {
      expect(feedsFunction.Properties.MemorySize).toBe(1024);
    });

    it('receives the table name', () => {
      // The table lives in the Storage stack, so its name arrives as a cross-stack import of its Ref.
      expect(feedsFunction.Properties.Environment.Variables.STRATUM_TABLE).toEqual({ 'Fn::ImportValue': expect.stringContaining(`Ref${tableRef()}`) });
    });

    it('may read and write the table', () => {
      const actions = policyStatements(schedules()).flatMap(actionsOf);
      expect(actions).toEqual(expect.arrayContaining(['dynamodb:BatchGetItem', 'dynamodb:BatchWriteItem', 'dynamodb:PutItem', 'dynamodb:Query']));
    });
  });
}
