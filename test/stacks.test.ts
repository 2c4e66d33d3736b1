import { fileURLToPath } from 'node:url';
import type { CfnElement, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { getStack, use, type Function } from 'sst/constructs';
import { App } from 'sst/constructs/App.js';
import { initProject } from 'sst/project.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { tableDefinition } from '../packages/core/src/store/table.ts';
import config from '../sst.config.ts';
import { Api } from '../stacks/Api.ts';
import { Events } from '../stacks/Events.ts';
import { Storage } from '../stacks/Storage.ts';

type Resource = { Properties: Record<string, any> };

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const HANDLER_PREFIX = 'packages/functions/src/';
const expectedTable = tableDefinition('unused');

let storage: Template;
let events: Template;
let api: Template;
let functions: Resource[];

beforeAll(async () => {
  // App.finish only skips its AWS bootstrap lookup when NODE_ENV is test.
  process.env.NODE_ENV = 'test';
  await initProject({ stage: 'test', region: 'us-east-1', root: ROOT });
  const app = new App({
    mode: 'deploy',
    stage: 'test',
    region: 'us-east-1',
    account: '123456789012',
    name: 'stratum',
  });
  // Going through the config also applies its default function props.
  config.stacks(app);
  await app.finish();

  storage = Template.fromStack(getStack(Storage));
  events = Template.fromStack(getStack(Events));
  api = Template.fromStack(getStack(Api));
  functions = [storage, events, api]
    .flatMap((template) => Object.values(template.findResources('AWS::Lambda::Function')) as Resource[])
    .filter((fn) => String(fn.Properties.Handler).startsWith(HANDLER_PREFIX));
});

const logicalId = (stack: Stack, construct: IConstruct) =>
  stack.getLogicalId(construct.node.defaultChild as CfnElement);
const handlerName = (fn: Resource) => String(fn.Properties.Handler).slice(HANDLER_PREFIX.length);
const dlqArn = () => ({ 'Fn::GetAtt': [logicalId(getStack(Events), use(Events).deadLetters), 'Arn'] });

/** Collects every IAM action granted to a function's role, however the statements are grouped. */
function roleActions(template: Template, stack: Stack, fn: Function): string[] {
  if (!fn.role) throw new Error(`Function ${fn.node.id} has no IAM role`);
  const role = { Ref: logicalId(stack, fn.role) };
  const policies = Object.values(template.findResources('AWS::IAM::Policy', { Properties: { Roles: [role] } }));
  return policies.flatMap((policy) =>
    (policy.Properties.PolicyDocument.Statement as { Action: string | string[] }[]).flatMap((s) => s.Action),
  );
}

function rules(): Resource[] {
  return Object.values(events.findResources('AWS::Events::Rule')) as Resource[];
}

describe('storage', () => {
  it('table uses store key schema', () => {
    storage.hasResourceProperties('AWS::DynamoDB::Table', { KeySchema: expectedTable.KeySchema });
  });

  it('table defines every key attribute', () => {
    storage.hasResourceProperties('AWS::DynamoDB::Table', {
      AttributeDefinitions: Match.arrayEquals(expectedTable.AttributeDefinitions ?? []),
    });
  });

  it('table has the three GSIs', () => {
    storage.hasResourceProperties('AWS::DynamoDB::Table', {
      GlobalSecondaryIndexes: Match.arrayEquals(expectedTable.GlobalSecondaryIndexes ?? []),
    });
  });

  it('table bills per request', () => {
    storage.hasResourceProperties('AWS::DynamoDB::Table', { BillingMode: 'PAY_PER_REQUEST' });
  });

  it('table keeps point-in-time recovery', () => {
    storage.hasResourceProperties('AWS::DynamoDB::Table', {
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    });
  });

  it('table expires items at expiresAt', () => {
    storage.hasResourceProperties('AWS::DynamoDB::Table', {
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
    });
  });
});

describe('events', () => {
  const ruleFor = (pattern: object, target: () => Function) => ({
    EventPattern: Match.objectEquals(pattern),
    Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [logicalId(getStack(Events), target()), 'Arn'] } })],
  });

  it('exactly three rules exist', () => {
    events.resourceCountIs('AWS::Events::Rule', 3);
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
    events.hasResourceProperties('AWS::Events::Rule', ruleFor(pattern, () => use(Events).imagePushed));
  });

  it('ECR scans reach scan-completed', () => {
    const pattern = { source: ['aws.ecr'], 'detail-type': ['ECR Image Scan'], detail: { 'scan-status': ['COMPLETE'] } };
    events.hasResourceProperties('AWS::Events::Rule', ruleFor(pattern, () => use(Events).scanCompleted));
  });

  it('Inspector scans reach scan-completed', () => {
    const pattern = { source: ['aws.inspector2'], 'detail-type': ['Inspector2 Scan'] };
    events.hasResourceProperties('AWS::Events::Rule', ruleFor(pattern, () => use(Events).scanCompleted));
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
    events.hasResourceProperties('AWS::SQS::Queue', { MessageRetentionPeriod: 14 * 24 * 3600 });
  });

  it('async invocations retry twice', () => {
    events.resourcePropertiesCountIs('AWS::Lambda::EventInvokeConfig', { MaximumRetryAttempts: 2 }, 2);
  });

  it('failed invocations reach the DLQ', () => {
    events.resourcePropertiesCountIs('AWS::Lambda::Function', { DeadLetterConfig: { TargetArn: dlqArn() } }, 2);
  });

  it('push handler may read images', () => {
    const actions = roleActions(events, getStack(Events), use(Events).imagePushed);
    expect(actions).toEqual(
      expect.arrayContaining(['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:DescribeImages']),
    );
  });

  it('scan handler may read findings', () => {
    const actions = roleActions(events, getStack(Events), use(Events).scanCompleted);
    expect(actions).toEqual(
      expect.arrayContaining(['ecr:DescribeImageScanFindings', 'ecr:DescribeImages', 'inspector2:ListFindings']),
    );
  });
});

describe('functions', () => {
  it('all three handlers are deployed', () => {
    expect(functions.map(handlerName).sort()).toEqual([
      'graphql.handler',
      'image-pushed.handler',
      'scan-completed.handler',
    ]);
  });

  it('handlers receive the table name', () => {
    expect(functions.every((fn) => fn.Properties.Environment?.Variables?.STRATUM_TABLE !== undefined)).toBe(true);
  });

  it('handlers run nodejs20.x', () => {
    expect(functions.map((fn) => fn.Properties.Runtime)).toEqual(Array(3).fill('nodejs20.x'));
  });

  it('handlers run on arm64', () => {
    expect(functions.map((fn) => fn.Properties.Architectures)).toEqual(Array(3).fill(['arm64']));
  });

  it('timeouts match each workload', () => {
    const timeouts = Object.fromEntries(functions.map((fn) => [handlerName(fn), fn.Properties.Timeout]));
    expect(timeouts).toEqual({ 'graphql.handler': 10, 'image-pushed.handler': 30, 'scan-completed.handler': 60 });
  });

  it('handlers may write the table', () => {
    const granted = [
      roleActions(events, getStack(Events), use(Events).imagePushed),
      roleActions(events, getStack(Events), use(Events).scanCompleted),
      roleActions(api, getStack(Api), use(Api).graphql),
    ];
    expect(granted.every((actions) => ['dynamodb:Query', 'dynamodb:PutItem'].every((a) => actions.includes(a)))).toBe(
      true,
    );
  });
});

describe('api', () => {
  it('HTTP API exists', () => {
    api.hasResourceProperties('AWS::ApiGatewayV2::Api', { ProtocolType: 'HTTP' });
  });

  it('POST /graphql route exists', () => {
    api.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: 'POST /graphql' });
  });

  it('GET /graphql route exists', () => {
    api.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: 'GET /graphql' });
  });

  it('GraphQL uses api-key auth', () => {
    api.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ STRATUM_AUTH_MODE: 'api-key' }) },
    });
  });

  it('GraphQL gets the API key hashes', () => {
    api.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ STRATUM_API_KEYS: Match.anyValue(), STRATUM_TENANT_CLAIM: 'tenant' }) },
    });
  });

  it('stack outputs the API URL', () => {
    api.hasOutput('ApiUrl', {});
  });
});
