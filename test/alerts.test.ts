import { createHmac } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SendEmailCommand, SESv2Client } from '@aws-sdk/client-sesv2';
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import {
  channelHealth,
  createAlertDispatcher,
  createAlertServices,
  DeliveryRunner,
  DeliveryWorker,
  fixedClock,
  jiraIssueLabel,
  keyProviderFromEnvironment,
  localKeyFile,
  SecretBox,
  SqsDeliveryQueue,
  startLocalAlertDelivery,
  StoreDeliveryQueue,
  type AlertRequest,
  type AlertServices,
  type Logger,
} from '@stratum/core';
import { createGraphQLServer, localAuthenticator } from '@stratum/graphql';
import type { SQSEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';

import { handleAlertDeliveries } from '../packages/functions/src/alert-deliver.ts';
import { startTestStore, type TestStore } from './support/local-store.ts';

const JIRA_TOKEN = 'jira-token-5f1c9e2a7b3d4c6e';
const WEBHOOK_KEY = 'webhook-signing-key-8d2e4f6a1b3c';
const SM_TOKEN = 'secrets-manager-token-77aa01bc';
const SSM_KEY = 'ssm-signing-key-0042ffee99dd';
const SECRETS = [JIRA_TOKEN, WEBHOOK_KEY, SM_TOKEN, SSM_KEY];

// ---- a small Jira that checks what it receives ------------------------------------------------

interface JiraIssue {
  key: string;
  fields: { summary: string; description: string; labels: string[]; priority?: { name: string }; [field: string]: unknown };
  comments: string[];
  status: string;
}

interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function startJira(expectedAuthorization: string) {
  const issues = new Map<string, JiraIssue>();
  const requests: RecordedRequest[] = [];
  // Comments stored whose response is then lost as a 502, as when a proxy times out.
  const lostCommentResponses = { count: 0 };

  const server = createServer(async (request: IncomingMessage, response: ServerResponse) => {
    const body = await readBody(request);
    const url = new URL(request.url!, 'http://jira');
    requests.push({ method: request.method!, path: url.pathname + url.search, headers: request.headers, body });
    const send = (status: number, payload?: unknown) => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(payload === undefined ? '' : JSON.stringify(payload));
    };

    if (request.headers.authorization !== expectedAuthorization) return send(401, { errorMessages: ['You are not authenticated'] });

    // Jira Cloud searches under /rest/api/3/search/jql, Data Center under /rest/api/2/search.
    if (request.method === 'GET' && (url.pathname === '/rest/api/3/search/jql' || url.pathname === '/rest/api/2/search')) {
      const label = /labels = "([^"]+)"/.exec(url.searchParams.get('jql') ?? '')?.[1];
      const found = [...issues.values()].filter((issue) => label && issue.fields.labels.includes(label));
      return send(200, { issues: found.map((issue) => ({ key: issue.key, fields: { summary: issue.fields.summary, description: issue.fields.description } })) });
    }
    if (request.method === 'POST' && url.pathname === '/rest/api/2/issue') {
      const { fields } = JSON.parse(body) as { fields: JiraIssue['fields'] & { project: { key: string } } };
      const key = `${fields.project.key}-${issues.size + 1}`;
      issues.set(key, { key, fields, comments: [], status: 'Open' });
      return send(201, { id: String(issues.size), key });
    }
    const match = /^\/rest\/api\/2\/issue\/([A-Z]+-\d+)\/(comment|transitions)$/.exec(url.pathname);
    const issue = match ? issues.get(match[1]!) : undefined;
    if (match && !issue) return send(404, { errorMessages: ['Issue does not exist'] });
    if (issue && match![2] === 'comment') {
      if (request.method === 'POST') {
        issue.comments.push((JSON.parse(body) as { body: string }).body);
        if (lostCommentResponses.count > 0) {
          lostCommentResponses.count--;
          return send(502, { errorMessages: ['Bad gateway'] });
        }
        return send(201, { id: String(issue.comments.length) });
      }
      return send(200, { comments: issue.comments.map((text) => ({ body: text })) });
    }
    if (issue && match![2] === 'transitions') {
      if (request.method === 'GET') return send(200, { transitions: issue.status === 'Open' ? [{ id: '31', name: 'Done' }] : [] });
      if ((JSON.parse(body) as { transition: { id: string } }).transition.id === '31') issue.status = 'Done';
      return send(204);
    }
    return send(404, { errorMessages: [`No route ${request.method} ${url.pathname}`] });
  });

  return { server, issues, requests, lostCommentResponses };
}

// ---- a webhook receiver that responds with scripted statuses --------------------------------

function startWebhook() {
  const received: RecordedRequest[] = [];
  const script: Array<{ status: number; headers?: Record<string, string> }> = [];

  const server = createServer(async (request, response) => {
    const body = await readBody(request);
    received.push({ method: request.method!, path: request.url!, headers: request.headers, body });
    const next = script.shift() ?? { status: 200 };
    response.writeHead(next.status, { 'content-type': 'text/plain', ...next.headers });
    response.end(next.status >= 400 ? `status ${next.status}` : 'ok');
  });

  return { server, received, script };
}

function verifySignature(request: RecordedRequest, key: string): boolean {
  const expected = `sha256=${createHmac('sha256', key).update(request.body).digest('hex')}`;
  return request.headers['x-stratum-signature'] === expected;
}

// ---- setup ------------------------------------------------------------------------------

function capturingLogger(lines: string[]): Logger {
  const write = (level: string) => (message: string, fields?: Record<string, unknown>) => lines.push(JSON.stringify({ level, message, ...fields }));
  return { debug: write('DEBUG'), info: write('INFO'), warn: write('WARN'), error: write('ERROR') };
}

const ses = mockClient(SESv2Client);
const secretsManager = mockClient(SecretsManagerClient);
const ssm = mockClient(SSMClient);
const sqs = mockClient(SQSClient);

let local: TestStore;
let jira: ReturnType<typeof startJira>;
let webhook: ReturnType<typeof startWebhook>;
let jiraUrl: string;
let webhookUrl: string;
let keyDir: string;
let tenantCounter = 0;

beforeAll(async () => {
  // The receivers below listen on 127.0.0.1, an address a deployed Stratum rejects unless the setting allows it.
  process.env.STRATUM_ALLOW_PRIVATE_WEBHOOKS = 'true';
  local = await startTestStore();
  jira = startJira(`Basic ${Buffer.from(`bot@example.com:${JIRA_TOKEN}`).toString('base64')}`);
  jiraUrl = await listen(jira.server);
  webhook = startWebhook();
  webhookUrl = await listen(webhook.server);
  keyDir = await mkdtemp(join(tmpdir(), 'stratum-alert-key-'));
});

afterAll(async () => {
  await new Promise((resolve) => jira.server.close(resolve));
  await new Promise((resolve) => webhook.server.close(resolve));
  await local.close();
  await rm(keyDir, { recursive: true, force: true });
});

beforeEach(() => {
  ses.reset();
  secretsManager.reset();
  ssm.reset();
  sqs.reset();
  webhook.received.length = 0;
  webhook.script.length = 0;
  jira.requests.length = 0;
});

/** Creates an isolated tenant with its own clock, logger, services, dispatcher, runner and GraphQL client. */
function setup(options: { maxAttempts?: number } = {}) {
  const tenant = `alerts-${++tenantCounter}`;
  const clock = fixedClock('2026-12-01T12:00:00Z');
  const lines: string[] = [];
  const logger = capturingLogger(lines);
  const services: AlertServices = createAlertServices({
    clock,
    keyProvider: localKeyFile(keyDir),
    ses: () => new SESv2Client({ region: 'us-east-1' }),
    secretsManager: () => new SecretsManagerClient({ region: 'us-east-1' }),
    ssm: () => new SSMClient({ region: 'us-east-1' }),
  });

  const queue = new StoreDeliveryQueue();
  const dispatcher = createAlertDispatcher({ store: local.store, queue, clock, logger });
  // random 0 makes the jitter its minimum: half the exponential delay.
  const worker = new DeliveryWorker({ store: local.store, clock, logger, secrets: services.secrets, senders: services.senders, policy: { maxAttempts: options.maxAttempts ?? 6, baseDelayMs: 30_000, maxDelayMs: 900_000 }, random: () => 0 });
  const runner = new DeliveryRunner({ store: local.store, worker, clock, logger });
  const yoga = createGraphQLServer({ store: local.store, clock, logger, authenticate: localAuthenticator(tenant), alertServices: services });

  const graphql = async <T = any>(query: string, variables?: Record<string, unknown>) => {
    const response = await yoga.fetch('http://yoga/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
    const text = await response.text();
    return { ...(JSON.parse(text) as { data?: T; errors?: Array<{ message: string; extensions?: { code?: string; field?: string } }> }), text };
  };

  const createChannel = async (input: Record<string, unknown>) => {
    const result = await graphql<{ createAlertChannel: { id: string; secretConfigured: boolean } }>(
      'mutation($input: AlertChannelInput!) { createAlertChannel(input: $input) { id secretConfigured } }',
      { input },
    );
    expect(result.errors).toBeUndefined();
    return result.data!.createAlertChannel.id;
  };

  const jiraChannel = (extra: Record<string, unknown> = {}) =>
    createChannel({
      name: 'Security Jira',
      kind: 'JIRA',
      jira: {
        baseUrl: jiraUrl,
        projectKey: 'SEC',
        issueType: 'Bug',
        userEmail: 'bot@example.com',
        priorityBySeverity: [{ severity: 'CRITICAL', priority: 'Highest' }],
        labels: ['security'],
        fieldMapping: [{ field: 'customfield_10042', detail: 'finding.packageName' }],
        closeTransition: 'Done',
      },
      secret: { value: JIRA_TOKEN },
      ...extra,
    });

  const webhookChannel = (secret: Record<string, unknown> = { value: WEBHOOK_KEY }) => createChannel({ name: 'Chat', kind: 'WEBHOOK', webhook: { url: `${webhookUrl}/hook` }, secret });

  const request = (key: string, channelIds: string[], extra: Partial<AlertRequest> = {}): AlertRequest => ({
    tenant,
    key,
    kind: 'VIOLATION_OPENED',
    channelIds,
    subject: 'SLA violated: CVE-2024-3094 in team/app',
    text: 'xz-utils 5.6.0 in an application layer passed its 7-day deadline.',
    violationId: 'v-1',
    details: { finding: { severity: 'CRITICAL', packageName: 'xz-utils', vulnerabilityId: 'CVE-2024-3094' } },
    ...extra,
  });

  return { tenant, clock, lines, logger, services, dispatcher, worker, runner, graphql, jiraChannel, webhookChannel, createChannel, request };
}

const DELIVERIES = `query($state: AlertDeliveryState!) { alertDeliveries(state: $state) { edges { node { id state attempts lastError externalId channelId sentAt kind } } } }`;
const CHANNELS = `{ alertChannels { edges { node { id kind secretConfigured secret { source reference } health { state failing since lastError consecutiveFailures } } } } }`;

// ---- tests ------------------------------------------------------------------------------

describe('alert channel health', () => {
  const failure = { lastError: 'HTTP 503 from the webhook', lastFailureAt: '2026-12-01T08:00:00.000Z', failingSince: '2026-12-01T07:00:00.000Z' };
  it.each([
    { case: 'failing', record: { ...failure, consecutiveFailures: 3 }, expected: { state: 'FAILING', lastError: failure.lastError, lastErrorAt: failure.lastFailureAt } },
    { case: 'failed once', record: { ...failure, consecutiveFailures: 1 }, expected: { state: 'HEALTHY', lastError: failure.lastError, lastErrorAt: failure.lastFailureAt } },
    // The store resets the counter on success but keeps the old error text.
    { case: 'recovered', record: { ...failure, failingSince: undefined, consecutiveFailures: 0, lastSuccessAt: '2026-12-01T09:00:00.000Z' }, expected: { state: 'HEALTHY', lastError: undefined, lastErrorAt: undefined } },
  ])('shows the last error only while $case', ({ record, expected }) => {
    const health = channelHealth(record);

    expect({ state: health.state, lastError: health.lastError, lastErrorAt: health.lastErrorAt }).toEqual(expected);
  });
});

describe('alert dispatch', () => {
  it('replayed three times sends one Jira issue and one webhook', async () => {
    const t = setup();
    const jiraId = await t.jiraChannel();
    const hookId = await t.webhookChannel();
    const issuesBefore = jira.issues.size;

    for (let i = 0; i < 3; i++) {
      await t.dispatcher.dispatch(t.request('violation#v-1#OPENED', [jiraId, hookId]));
      await t.runner.runDue(t.tenant);
    }

    expect(jira.issues.size - issuesBefore).toBe(1);
    expect(webhook.received).toHaveLength(1);
    const issue = [...jira.issues.values()].at(-1)!;
    expect(issue.fields.labels).toContain(jiraIssueLabel(t.tenant, 'violation:v-1'));
    expect(issue.fields.labels).toContain('security');
    expect(issue.fields.priority).toEqual({ name: 'Highest' });
    expect(issue.fields.customfield_10042).toBe('xz-utils');
    expect(issue.fields.summary).toBe('SLA violated: CVE-2024-3094 in team/app');

    const search = jira.requests.find((request) => request.path.startsWith('/rest/api/3/search/jql'));
    expect(new URL(search!.path, 'http://jira').searchParams.get('jql')).toBe(`project = "SEC" AND labels = "${jiraIssueLabel(t.tenant, 'violation:v-1')}" ORDER BY created ASC`);

    const sent = await t.graphql(DELIVERIES, { state: 'SENT' });
    const nodes = sent.data.alertDeliveries.edges.map((edge: any) => edge.node);
    expect(nodes).toHaveLength(2);
    expect(nodes.find((node: any) => node.channelId === jiraId).externalId).toBe(issue.key);
  });

  it('comments on the same Jira issue when the violation escalates and closes', async () => {
    const t = setup();
    const jiraId = await t.jiraChannel();
    const before = jira.issues.size;

    await t.dispatcher.dispatch(t.request('violation#v-1#OPENED', [jiraId]));
    await t.runner.runDue(t.tenant);
    t.clock.advance(86_400_000);
    await t.dispatcher.dispatch(t.request('violation#v-1#ESCALATED', [jiraId], { kind: 'VIOLATION_ESCALATED', subject: 'Escalated: CVE-2024-3094' }));
    await t.runner.runDue(t.tenant);
    t.clock.advance(86_400_000);
    await t.dispatcher.dispatch(t.request('violation#v-1#CLOSED', [jiraId], { kind: 'VIOLATION_CLOSED', subject: 'Closed: CVE-2024-3094' }));
    await t.runner.runDue(t.tenant);

    expect(jira.issues.size - before).toBe(1);
    const issue = [...jira.issues.values()].at(-1)!;
    expect(issue.comments).toHaveLength(2);
    expect(issue.comments[0]).toContain('Escalated: CVE-2024-3094');
    expect(issue.status).toBe('Done');

    const deliveries = await local.store.forTenant(t.tenant).alerts.listDeliveries('v-1', { first: 10 });
    expect(deliveries.items.map(({ node }) => node.kind)).toEqual(['VIOLATION_OPENED', 'VIOLATION_ESCALATED', 'VIOLATION_CLOSED']);
    expect(deliveries.items.map(({ node }) => node.externalId)).toEqual([issue.key, issue.key, issue.key]);
  });

  it('does not comment twice when a comment response was lost', async () => {
    const t = setup();
    const jiraId = await t.jiraChannel();
    await t.dispatcher.dispatch(t.request('violation#v-3#OPENED', [jiraId], { violationId: 'v-3' }));
    await t.runner.runDue(t.tenant);
    const issue = [...jira.issues.values()].at(-1)!;

    jira.lostCommentResponses.count = 1;
    await t.dispatcher.dispatch(t.request('violation#v-3#ESCALATED', [jiraId], { violationId: 'v-3', kind: 'VIOLATION_ESCALATED' }));
    expect(await t.runner.runDue(t.tenant)).toEqual([expect.objectContaining({ status: 'RETRY' })]);
    t.clock.advance(60_000);
    expect(await t.runner.runDue(t.tenant)).toEqual([expect.objectContaining({ status: 'SENT' })]);

    expect(issue.comments).toHaveLength(1);
  });

  it('uses a bearer token on Jira Data Center', async () => {
    const t = setup();
    const dataCenter = startJira(`Bearer ${JIRA_TOKEN}`);
    const url = await listen(dataCenter.server);
    try {
      const id = await t.createChannel({ name: 'DC', kind: 'JIRA', jira: { deployment: 'DATA_CENTER', baseUrl: url, projectKey: 'OPS', issueType: 'Task' }, secret: { value: JIRA_TOKEN } });
      await t.dispatcher.dispatch(t.request('violation#v-4#OPENED', [id], { violationId: 'v-4' }));
      expect(await t.runner.runDue(t.tenant)).toEqual([expect.objectContaining({ status: 'SENT' })]);
    } finally {
      await new Promise((resolve) => dataCenter.server.close(resolve));
    }

    expect(dataCenter.requests.map((request) => `${request.method} ${request.path.split('?')[0]}`)).toEqual(['GET /rest/api/2/search', 'POST /rest/api/2/issue']);
    expect([...dataCenter.issues.keys()]).toEqual(['OPS-1']);
  });

  it('finds an issue whose creation was not recorded', async () => {
    const t = setup();
    const jiraId = await t.jiraChannel();
    // An earlier worker created this issue and crashed before recording it.
    const label = jiraIssueLabel(t.tenant, 'violation:v-9');
    const key = `SEC-${jira.issues.size + 1}`;
    jira.issues.set(key, { key, fields: { summary: 'earlier', description: 'created before a crash', labels: [label] }, comments: [], status: 'Open' });

    await t.dispatcher.dispatch(t.request('violation#v-9#OPENED', [jiraId], { violationId: 'v-9' }));
    const outcomes = await t.runner.runDue(t.tenant);

    expect(outcomes).toEqual([expect.objectContaining({ status: 'SENT' })]);
    expect(jira.requests.filter((request) => request.method === 'POST' && request.path === '/rest/api/2/issue')).toHaveLength(0);
    const delivery = await local.store.forTenant(t.tenant).alerts.listDeliveries('v-9', { first: 5 });
    expect(delivery.items[0]!.node.externalId).toBe(key);
  });

  it('sends once when two workers take the same delivery', async () => {
    const t = setup();
    const hookId = await t.webhookChannel();
    await t.dispatcher.dispatch(t.request('violation#v-1#OPENED', [hookId]));

    const ref = { tenant: t.tenant, alertKey: 'violation#v-1#OPENED', channelId: hookId };
    const outcomes = await Promise.all([t.worker.deliver(ref), t.worker.deliver(ref)]);

    expect(outcomes.map((outcome) => outcome.status).sort()).toEqual(['SENT', 'SKIPPED']);
    expect(webhook.received).toHaveLength(1);
  });

  it('records unknown channels as FAILED', async () => {
    const t = setup();
    await t.dispatcher.dispatch(t.request('violation#v-2#OPENED', ['00000000-0000-4000-8000-000000000000'], { violationId: 'v-2' }));

    const failed = await t.graphql(DELIVERIES, { state: 'FAILED' });
    expect(failed.data.alertDeliveries.edges).toHaveLength(1);
    expect(failed.data.alertDeliveries.edges[0].node.lastError).toBe('Alert channel 00000000-0000-4000-8000-000000000000 does not exist');
  });

  it('rejects a request without key', async () => {
    const t = setup();
    await expect(t.dispatcher.dispatch(t.request('', []))).rejects.toThrow(/Invalid alert request document at key/);
  });
});

describe('webhook delivery', () => {
  it('signs the body and sends the documented headers', async () => {
    const t = setup();
    const hookId = await t.webhookChannel();
    await t.dispatcher.dispatch(t.request('violation#v-1#OPENED', [hookId]));
    await t.runner.runDue(t.tenant);

    const [request] = webhook.received;
    expect(verifySignature(request!, WEBHOOK_KEY)).toBe(true);
    const body = JSON.parse(request!.body);
    expect(body.text).toContain('SLA violated: CVE-2024-3094 in team/app');
    expect(body.alert.kind).toBe('VIOLATION_OPENED');
    expect(body.alert.violationId).toBe('v-1');
    expect(body.alert.details.finding.packageName).toBe('xz-utils');
    expect(body.sentAt).toBe(request!.headers['x-stratum-timestamp']);
    expect(request!.headers['x-stratum-delivery']).toBe(body.deliveryId);
  });

  it('retries a 500 with the same delivery id', async () => {
    const t = setup();
    const hookId = await t.webhookChannel();
    webhook.script.push({ status: 500 });

    await t.dispatcher.dispatch(t.request('violation#v-1#OPENED', [hookId]));
    const first = await t.runner.runDue(t.tenant);
    expect(first).toEqual([expect.objectContaining({ status: 'RETRY', retryAt: '2026-12-01T12:00:15.000Z' })]);

    // Not due yet: nothing is sent.
    expect(await t.runner.runDue(t.tenant)).toEqual([]);
    t.clock.advance(15_000);
    const second = await t.runner.runDue(t.tenant);
    expect(second).toEqual([expect.objectContaining({ status: 'SENT' })]);

    expect(webhook.received).toHaveLength(2);
    expect(webhook.received[0]!.headers['x-stratum-delivery']).toBe(webhook.received[1]!.headers['x-stratum-delivery']);
    expect(webhook.received.every((request) => verifySignature(request, WEBHOOK_KEY))).toBe(true);

    const sent = await t.graphql(DELIVERIES, { state: 'SENT' });
    expect(sent.data.alertDeliveries.edges[0].node).toMatchObject({ attempts: 2, state: 'SENT', sentAt: '2026-12-01T12:00:15.000Z' });
  });

  it('honours Retry-After on a 429', async () => {
    const t = setup();
    const hookId = await t.webhookChannel();
    webhook.script.push({ status: 429, headers: { 'retry-after': '120' } });

    await t.dispatcher.dispatch(t.request('violation#v-1#OPENED', [hookId]));
    expect(await t.runner.runDue(t.tenant)).toEqual([expect.objectContaining({ status: 'RETRY', retryAt: '2026-12-01T12:02:00.000Z' })]);
  });

  it('does not retry a 401 and reports the channel failing', async () => {
    const t = setup();
    const hookId = await t.webhookChannel();
    webhook.script.push({ status: 401 });

    await t.dispatcher.dispatch(t.request('violation#v-1#OPENED', [hookId]));
    expect(await t.runner.runDue(t.tenant)).toEqual([expect.objectContaining({ status: 'FAILED' })]);
    t.clock.advance(3_600_000);
    expect(await t.runner.runDue(t.tenant)).toEqual([]);
    expect(webhook.received).toHaveLength(1);

    const channels = await t.graphql(CHANNELS);
    const health = channels.data.alertChannels.edges[0].node.health;
    expect(health.state).toBe('FAILING');
    expect(health.failing).toBe(true);
    expect(health.since).toBe('2026-12-01T12:00:00.000Z');
    expect(health.consecutiveFailures).toBe(1);
    expect(health.lastError).toContain('HTTP 401');

    const failed = await t.graphql(DELIVERIES, { state: 'FAILED' });
    expect(failed.data.alertDeliveries.edges[0].node.lastError).toContain('HTTP 401');
  });

  it('ends DEAD after the maximum attempts, visible in the API', async () => {
    const t = setup({ maxAttempts: 3 });
    const hookId = await t.webhookChannel();
    webhook.script.push({ status: 503 }, { status: 503 }, { status: 503 });

    await t.dispatcher.dispatch(t.request('violation#v-1#OPENED', [hookId]));
    const statuses: string[] = [];
    for (let i = 0; i < 3; i++) {
      const outcomes = await t.runner.runDue(t.tenant);
      statuses.push(...outcomes.map((outcome) => outcome.status));
      t.clock.advance(3_600_000);
    }

    expect(statuses).toEqual(['RETRY', 'RETRY', 'DEAD']);
    const dead = await t.graphql(DELIVERIES, { state: 'DEAD' });
    expect(dead.data.alertDeliveries.edges).toHaveLength(1);
    expect(dead.data.alertDeliveries.edges[0].node).toMatchObject({ attempts: 3, state: 'DEAD' });
    expect(dead.data.alertDeliveries.edges[0].node.lastError).toContain('HTTP 503');

    const channels = await t.graphql(CHANNELS);
    expect(channels.data.alertChannels.edges[0].node.health).toMatchObject({ state: 'FAILING', consecutiveFailures: 3 });
  });
});

describe('webhook private addresses', () => {
  afterEach(() => {
    process.env.STRATUM_ALLOW_PRIVATE_WEBHOOKS = 'true';
  });

  it.each([
    { name: 'private 10/8', url: 'https://10.1.2.3/hook', host: '10.1.2.3' },
    { name: 'link-local metadata', url: 'https://169.254.169.254/latest', host: '169.254.169.254' },
    { name: 'private 172.16/12', url: 'https://172.31.0.9/hook', host: '172.31.0.9' },
    { name: 'private 192.168/16', url: 'https://192.168.1.1/hook', host: '192.168.1.1' },
    { name: 'unique local IPv6', url: 'https://[fd00::1]/hook', host: '[fd00::1]' },
    { name: 'IPv4-mapped loopback', url: 'https://[::ffff:127.0.0.1]/hook', host: '[::ffff:7f00:1]' },
    { name: 'loopback literal', url: 'http://127.0.0.1:9/hook', host: '127.0.0.1' },
  ])('rejects a $name literal', async ({ url, host }) => {
    process.env.STRATUM_ALLOW_PRIVATE_WEBHOOKS = 'false';
    const t = setup();

    const result = await t.graphql('mutation($input: AlertChannelInput!) { createAlertChannel(input: $input) { id } }', {
      input: { name: 'Internal', kind: 'WEBHOOK', webhook: { url }, secret: { value: WEBHOOK_KEY } },
    });

    expect(result.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(result.errors?.[0]?.message).toContain(`Webhook host ${host}`);
    expect(result.errors?.[0]?.message).toContain('STRATUM_ALLOW_PRIVATE_WEBHOOKS=true');
  });

  it('accepts a private literal with the setting', async () => {
    const t = setup();

    const id = await t.createChannel({ name: 'Internal', kind: 'WEBHOOK', webhook: { url: 'https://10.1.2.3/hook' }, secret: { value: WEBHOOK_KEY } });

    expect(id).toMatch(/\S/);
  });

  it('rejects http to [::1]', async () => {
    const t = setup();

    const result = await t.graphql('mutation($input: AlertChannelInput!) { createAlertChannel(input: $input) { id } }', {
      input: { name: 'Loopback', kind: 'WEBHOOK', webhook: { url: 'http://[::1]:9/hook' }, secret: { value: WEBHOOK_KEY } },
    });

    expect(result.errors?.[0]?.message).toContain('http:// is allowed only for 127.0.0.1 and localhost');
  });

  it('checks resolved addresses at send time', async () => {
    const t = setup();
    const port = new URL(webhookUrl).port;
    const hookId = await t.createChannel({ name: 'By name', kind: 'WEBHOOK', webhook: { url: `http://localhost:${port}/hook` }, secret: { value: WEBHOOK_KEY } });
    process.env.STRATUM_ALLOW_PRIVATE_WEBHOOKS = 'false';
    await t.dispatcher.dispatch(t.request('violation#v-1#OPENED', [hookId]));

    const outcomes = await t.runner.runDue(t.tenant);

    expect(outcomes).toEqual([expect.objectContaining({ status: 'FAILED' })]);
    expect(webhook.received).toHaveLength(0);
    expect(t.lines.join('\n')).toMatch(/Webhook host localhost resolves to (127\.0\.0\.1|::1), which is a private, loopback or link-local address/);
    expect(t.lines.join('\n')).toContain('STRATUM_ALLOW_PRIVATE_WEBHOOKS=true');
  });

  it('sends by host name with the setting', async () => {
    const t = setup();
    const port = new URL(webhookUrl).port;
    const hookId = await t.createChannel({ name: 'By name', kind: 'WEBHOOK', webhook: { url: `http://localhost:${port}/hook` }, secret: { value: WEBHOOK_KEY } });
    await t.dispatcher.dispatch(t.request('violation#v-1#OPENED', [hookId]));

    const outcomes = await t.runner.runDue(t.tenant);

    expect(outcomes).toEqual([expect.objectContaining({ status: 'SENT' })]);
    expect(webhook.received).toHaveLength(1);
    expect(verifySignature(webhook.received[0]!, WEBHOOK_KEY)).toBe(true);
  });
});

describe('email delivery', () => {
  it('sends through SES once and records the message id', async () => {
    const t = setup();
    ses.on(SendEmailCommand).resolves({ MessageId: 'ses-message-1' });
    const emailId = await t.createChannel({ name: 'Security list', kind: 'EMAIL', email: { from: 'stratum@example.com', to: ['sec@example.com', 'ops@example.com'], configurationSet: 'alerts' } });

    for (let i = 0; i < 3; i++) {
      await t.dispatcher.dispatch(t.request('violation#v-1#OPENED', [emailId]));
      await t.runner.runDue(t.tenant);
    }

    const calls = ses.commandCalls(SendEmailCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0]!.args[0].input;
    expect(input.FromEmailAddress).toBe('stratum@example.com');
    expect(input.Destination?.ToAddresses).toEqual(['sec@example.com', 'ops@example.com']);
    expect(input.ConfigurationSetName).toBe('alerts');
    expect(input.Content?.Simple?.Subject?.Data).toBe('SLA violated: CVE-2024-3094 in team/app');

    const sent = await t.graphql(DELIVERIES, { state: 'SENT' });
    expect(sent.data.alertDeliveries.edges[0].node.externalId).toBe('ses-message-1');
  });

  it('retries SES throttling and fails on a rejected message', async () => {
    const t = setup();
    const throttled = Object.assign(new Error('Maximum sending rate exceeded'), { name: 'TooManyRequestsException' });
    const rejected = Object.assign(new Error('Email address is not verified'), { name: 'MessageRejected' });
    ses.on(SendEmailCommand).rejectsOnce(throttled).rejectsOnce(rejected);
    const emailId = await t.createChannel({ name: 'Security list', kind: 'EMAIL', email: { from: 'stratum@example.com', to: ['sec@example.com'] } });

    await t.dispatcher.dispatch(t.request('violation#v-1#OPENED', [emailId]));
    expect(await t.runner.runDue(t.tenant)).toEqual([expect.objectContaining({ status: 'RETRY' })]);
    t.clock.advance(60_000);
    expect(await t.runner.runDue(t.tenant)).toEqual([expect.objectContaining({ status: 'FAILED' })]);
  });
});

describe('alert channel secrets', () => {
  it('never returns or logs an inline secret', async () => {
    const t = setup();
    const create = await t.graphql('mutation($input: AlertChannelInput!) { createAlertChannel(input: $input) { id secretConfigured secret { source reference } webhook { url } } }', {
      input: { name: 'Chat', kind: 'WEBHOOK', webhook: { url: `${webhookUrl}/hook` }, secret: { value: WEBHOOK_KEY } },
    });
    expect(create.errors).toBeUndefined();
    expect(create.data.createAlertChannel.secretConfigured).toBe(true);
    expect(create.data.createAlertChannel.secret).toEqual({ source: 'INLINE', reference: null });
    const id = create.data.createAlertChannel.id;

    await t.dispatcher.dispatch(t.request('violation#v-1#OPENED', [id]));
    await t.runner.runDue(t.tenant);
    const test = await t.graphql('mutation($id: String!) { testAlertChannel(id: $id) { ok error } }', { id });
    expect(test.data.testAlertChannel).toEqual({ ok: true, error: null });
    const list = await t.graphql(CHANNELS);

    const stored = await local.db.send(new GetCommand({ TableName: local.tableName, Key: { PK: `T#${t.tenant}#ACHAN#${id}`, SK: 'CHANNEL' } }));
    expect(stored.Item!.secret.source).toBe('INLINE');
    expect(JSON.stringify(stored.Item)).not.toContain(WEBHOOK_KEY);
    for (const text of [create.text, test.text, list.text, ...t.lines]) expect(text).not.toContain(WEBHOOK_KEY);
    expect(webhook.received.every((request) => verifySignature(request, WEBHOOK_KEY))).toBe(true);
  });

  it('does not echo a secret in a validation error', async () => {
    const t = setup();
    const result = await t.graphql('mutation($input: AlertChannelInput!) { createAlertChannel(input: $input) { id } }', {
      input: { name: 'Chat', kind: 'WEBHOOK', webhook: { url: `${webhookUrl}/hook` }, secret: { value: 'short-secret' } },
    });
    expect(result.errors![0]!.extensions?.code).toBe('BAD_USER_INPUT');
    expect(result.errors![0]!.extensions?.field).toBe('input.secret.value');
    expect(result.text).not.toContain('short-secret');
  });

  it('reads a Secrets Manager reference once within the cache time', async () => {
    const t = setup();
    secretsManager.on(GetSecretValueCommand, { SecretId: 'stratum/webhook' }).resolves({ SecretString: JSON.stringify({ signingKey: SM_TOKEN }) });
    const id = await t.webhookChannel({ secretsManagerId: 'stratum/webhook', secretsManagerJsonKey: 'signingKey' });

    await t.dispatcher.dispatch(t.request('violation#v-1#OPENED', [id]));
    await t.dispatcher.dispatch(t.request('violation#v-2#OPENED', [id], { violationId: 'v-2' }));
    await t.runner.runDue(t.tenant);

    expect(webhook.received).toHaveLength(2);
    expect(webhook.received.every((request) => verifySignature(request, SM_TOKEN))).toBe(true);
    expect(secretsManager.commandCalls(GetSecretValueCommand)).toHaveLength(1);
    const channels = await t.graphql(CHANNELS);
    expect(channels.data.alertChannels.edges[0].node.secret).toEqual({ source: 'SECRETS_MANAGER', reference: 'stratum/webhook#signingKey' });
    for (const text of [channels.text, ...t.lines]) expect(text).not.toContain(SM_TOKEN);
  });

  it('reads an SSM SecureString with decryption', async () => {
    const t = setup();
    ssm.on(GetParameterCommand).resolves({ Parameter: { Name: '/stratum/hook-key', Value: SSM_KEY, Type: 'SecureString' } });
    const id = await t.webhookChannel({ ssmParameter: '/stratum/hook-key' });

    await t.dispatcher.dispatch(t.request('violation#v-1#OPENED', [id]));
    await t.runner.runDue(t.tenant);

    expect(ssm.commandCalls(GetParameterCommand)[0]!.args[0].input).toEqual({ Name: '/stratum/hook-key', WithDecryption: true });
    expect(verifySignature(webhook.received[0]!, SSM_KEY)).toBe(true);
    for (const text of t.lines) expect(text).not.toContain(SSM_KEY);
  });

  it('fails a delivery whose secret reference is missing', async () => {
    const t = setup();
    secretsManager.on(GetSecretValueCommand).rejects(Object.assign(new Error('Secrets Manager can not find the specified secret'), { name: 'ResourceNotFoundException' }));
    const id = await t.webhookChannel({ secretsManagerId: 'stratum/missing' });

    await t.dispatcher.dispatch(t.request('violation#v-1#OPENED', [id]));
    expect(await t.runner.runDue(t.tenant)).toEqual([expect.objectContaining({ status: 'FAILED' })]);
    const failed = await t.graphql(DELIVERIES, { state: 'FAILED' });
    expect(failed.data.alertDeliveries.edges[0].node.lastError).toBe('Reading Secrets Manager secret stratum/missing failed with ResourceNotFoundException; check the reference and the function role');
  });

  it('creates the local key file with mode 0600', async () => {
    setup();
    const info = await stat(join(keyDir, 'alert-secrets.key'));
    expect(info.mode & 0o777).toBe(0o600);
    expect(info.size).toBe(32);
  });

  it('binds a ciphertext to its channel', async () => {
    const box = new SecretBox(localKeyFile(keyDir));
    const ciphertext = await box.encrypt(WEBHOOK_KEY, 'acme/channel-a');

    expect(await box.decrypt(ciphertext, 'acme/channel-a')).toBe(WEBHOOK_KEY);
    await expect(box.decrypt(ciphertext, 'acme/channel-b')).rejects.toThrow(/does not decrypt with the current key/);
  });

  it('takes the key from Secrets Manager on AWS', async () => {
    secretsManager.on(GetSecretValueCommand, { SecretId: 'stratum-alert-key' }).resolves({ SecretString: 'k'.repeat(64) });
    const box = new SecretBox(keyProviderFromEnvironment({ STRATUM_ALERT_KEY_SECRET: 'stratum-alert-key' }));
    const ciphertext = await box.encrypt(JIRA_TOKEN, 'acme/c');

    expect(await box.decrypt(ciphertext, 'acme/c')).toBe(JIRA_TOKEN);
    await expect(new SecretBox(localKeyFile(keyDir)).decrypt(ciphertext, 'acme/c')).rejects.toThrow(/does not decrypt/);
    expect(secretsManager.commandCalls(GetSecretValueCommand)).toHaveLength(1);
  });

  it('rejects a key file on Lambda', async () => {
    const provider = keyProviderFromEnvironment({ AWS_LAMBDA_FUNCTION_NAME: 'stratum-graphql' });
    await expect(provider.key()).rejects.toThrow('STRATUM_ALERT_KEY_SECRET is not set on this function');
  });

  it('keeps the stored secret when an update omits it', async () => {
    const t = setup();
    const id = await t.jiraChannel();
    const update = await t.graphql('mutation($id: String!, $input: AlertChannelUpdateInput!) { updateAlertChannel(id: $id, input: $input) { name secretConfigured jira { projectKey } } }', {
      id,
      input: { name: 'Renamed' },
    });
    expect(update.data.updateAlertChannel).toEqual({ name: 'Renamed', secretConfigured: true, jira: { projectKey: 'SEC' } });

    const test = await t.graphql('mutation($id: String!) { testAlertChannel(id: $id) { ok externalId } }', { id });
    expect(test.data.testAlertChannel.ok).toBe(true);
    expect(test.text).not.toContain(JIRA_TOKEN);
  });
});

describe('alert channel input', () => {
  it.each([
    ['plain http to another host', { kind: 'WEBHOOK', webhook: { url: 'http://example.com/hook' }, secret: { value: WEBHOOK_KEY } }, 'input.webhook.url'],
    ['two secret sources', { kind: 'WEBHOOK', webhook: { url: 'https://example.com/hook' }, secret: { value: WEBHOOK_KEY, ssmParameter: '/stratum/x' } }, 'input.secret'],
    ['webhook without its block', { kind: 'WEBHOOK', secret: { value: WEBHOOK_KEY } }, 'input.webhook'],
    ['Jira Cloud without user email', { kind: 'JIRA', jira: { baseUrl: 'https://example.atlassian.net', projectKey: 'SEC', issueType: 'Bug' }, secret: { value: JIRA_TOKEN } }, 'input.jira.userEmail'],
    ['lowercase project key', { kind: 'JIRA', jira: { baseUrl: 'https://example.atlassian.net', projectKey: 'sec', issueType: 'Bug', userEmail: 'a@example.com' }, secret: { value: JIRA_TOKEN } }, 'input.jira.projectKey'],
    ['secret with a line break', { kind: 'WEBHOOK', webhook: { url: 'https://example.com/hook' }, secret: { value: `${WEBHOOK_KEY}\n` } }, 'input.secret.value'],
    ['email without recipients', { kind: 'EMAIL', email: { from: 'a@example.com', to: [] } }, 'input.email.to'],
  ])('rejects %s', async (_case, input, field) => {
    const t = setup();
    const result = await t.graphql('mutation($input: AlertChannelInput!) { createAlertChannel(input: $input) { id } }', { input: { name: 'x', ...input } });
    expect(result.errors![0]!.extensions?.code).toBe('BAD_USER_INPUT');
    expect(result.errors![0]!.extensions?.field).toBe(field);
    for (const secret of SECRETS) expect(result.text).not.toContain(secret);
  });

  it('deletes a channel and fails its pending deliveries', async () => {
    const t = setup();
    const id = await t.webhookChannel();
    await t.dispatcher.dispatch(t.request('violation#v-1#OPENED', [id]));
    const deleted = await t.graphql('mutation($id: String!) { deleteAlertChannel(id: $id) }', { id });
    expect(deleted.data.deleteAlertChannel).toBe(true);

    expect(await t.runner.runDue(t.tenant)).toEqual([expect.objectContaining({ status: 'FAILED' })]);
    expect(webhook.received).toHaveLength(0);
    const again = await t.graphql('mutation($id: String!) { deleteAlertChannel(id: $id) }', { id });
    expect(again.errors![0]!.extensions?.code).toBe('NOT_FOUND');
  });
});

describe('local alert delivery', () => {
  it('sends a dispatched alert without a runner call', async () => {
    const t = setup();
    const hookId = await t.webhookChannel();
    const delivery = startLocalAlertDelivery({ store: local.store, clock: t.clock, logger: t.logger, services: t.services });

    try {
      await delivery.dispatcher.dispatch(t.request('violation#v-1#OPENED', [hookId]));
      await vi.waitFor(() => expect(webhook.received).toHaveLength(1));
    } finally {
      delivery.stop();
    }
    expect(verifySignature(webhook.received[0]!, WEBHOOK_KEY)).toBe(true);
  });
});

describe('alert-deliver handler', () => {
  function sqsEvent(bodies: string[]): SQSEvent {
    return {
      Records: bodies.map((body, index) => ({
        messageId: `m-${index}`,
        receiptHandle: `r-${index}`,
        body,
        attributes: { ApproximateReceiveCount: '1', SentTimestamp: '0', SenderId: 'x', ApproximateFirstReceiveTimestamp: '0' },
        messageAttributes: {},
        md5OfBody: '',
        eventSource: 'aws:sqs',
        eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:alerts',
        awsRegion: 'us-east-1',
      })),
    };
  }

  it('sends a retry back with a delay and reports invalid messages', async () => {
    const t = setup();
    sqs.on(SendMessageBatchCommand).resolves({ Successful: [{ Id: '0', MessageId: 'x', MD5OfMessageBody: '' }], Failed: [] });
    const queue = new SqsDeliveryQueue(new SQSClient({ region: 'us-east-1' }), 'https://sqs.us-east-1.amazonaws.com/123456789012/alerts');
    const dispatcher = createAlertDispatcher({ store: local.store, queue, clock: t.clock, logger: t.logger });
    const hookId = await t.webhookChannel();
    webhook.script.push({ status: 502 });

    await dispatcher.dispatch(t.request('violation#v-1#OPENED', [hookId]));
    const queued = sqs.commandCalls(SendMessageBatchCommand)[0]!.args[0].input.Entries!;
    expect(queued).toHaveLength(1);
    const body = queued[0]!.MessageBody!;
    expect(JSON.parse(body)).toEqual({ tenant: t.tenant, alertKey: 'violation#v-1#OPENED', channelId: hookId });

    const response = await handleAlertDeliveries({ worker: t.worker, queue, clock: t.clock, logger: t.logger }, sqsEvent([body, '{"tenant":']));
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'm-1' }]);

    const resent = sqs.commandCalls(SendMessageBatchCommand)[1]!.args[0].input.Entries!;
    expect(resent[0]!.DelaySeconds).toBe(15);
    const pending = await t.graphql(DELIVERIES, { state: 'PENDING' });
    expect(pending.data.alertDeliveries.edges[0].node).toMatchObject({ attempts: 1 });
    expect(pending.data.alertDeliveries.edges[0].node.lastError).toContain('HTTP 502');
  });
});
