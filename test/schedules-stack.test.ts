import { fileURLToPath } from 'node:url';
import type { CfnElement } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { getStack, use } from 'sst/constructs';
import { App } from 'sst/constructs/App.js';
import { initProject } from 'sst/project.js';
import { beforeAll, describe, expect, it } from 'vitest';
import config from '../sst.config.ts';
import { Schedules } from '../stacks/Schedules.ts';
import { Storage } from '../stacks/Storage.ts';

type Resource = { Properties: Record<string, any> };

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const HANDLER = 'packages/functions/src/feeds-refresh.handler';

let schedules: Template;
let feedsFunction: Resource;

beforeAll(async () => {
  // App.finish only skips its AWS bootstrap lookup when NODE_ENV is test.
  process.env.NODE_ENV = 'test';
  await initProject({ stage: 'test', region: 'us-east-1', root: ROOT });
  const app = new App({ mode: 'deploy', stage: 'test', region: 'us-east-1', account: '123456789012', name: 'stratum' });
  // Going through the config also checks that it adds the stack.
  config.stacks(app);
  await app.finish();

  schedules = Template.fromStack(getStack(Schedules));
  const handlers = Object.values(schedules.findResources('AWS::Lambda::Function', { Properties: { Handler: HANDLER } })) as Resource[];
  expect(handlers).toHaveLength(1);
  feedsFunction = handlers[0]!;
});

const tableRef = () => {
  const storage = getStack(Storage);
  const table = use(Storage).table.cdk.table;
  return storage.resolve(storage.getLogicalId(table.node.defaultChild as CfnElement));
};

describe('schedules stack', () => {
  it('has two schedule rules', () => {
    schedules.resourceCountIs('AWS::Events::Rule', 2);
  });

  it('audits suppressions each quarter', () => {
    const stack = getStack(Schedules);
    const functionId = stack.getLogicalId(use(Schedules).suppressionAudit.jobFunction.node.defaultChild as CfnElement);
    schedules.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'cron(0 3 1 1,4,7,10 ? *)',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [functionId, 'Arn'] } })],
    });
  });

  it('gives the audit the table', () => {
    const audit = Object.values(schedules.findResources('AWS::Lambda::Function', { Properties: { Handler: 'packages/functions/src/suppression-audit.handler' } })) as Resource[];
    expect(audit).toHaveLength(1);
    expect(audit[0]!.Properties.Environment.Variables.STRATUM_TABLE).toBeDefined();
    expect(audit[0]!.Properties.Timeout).toBe(900);
  });

  it('runs daily at 06:30 UTC', () => {
    schedules.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'cron(30 6 * * ? *)' });
  });

  it('targets the feeds function', () => {
    const stack = getStack(Schedules);
    const functionId = stack.getLogicalId(use(Schedules).feedsRefresh.jobFunction.node.defaultChild as CfnElement);
    schedules.hasResourceProperties('AWS::Events::Rule', { Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [functionId, 'Arn'] } })] });
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
    const actions = Object.values(schedules.findResources('AWS::IAM::Policy'))
      .flatMap((policy: any) => policy.Properties.PolicyDocument.Statement as { Action: string | string[] }[])
      .flatMap((statement) => statement.Action);
    expect(actions).toEqual(expect.arrayContaining(['dynamodb:BatchGetItem', 'dynamodb:BatchWriteItem', 'dynamodb:PutItem', 'dynamodb:Query']));
  });
});
