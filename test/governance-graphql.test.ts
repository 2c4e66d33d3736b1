import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createAlertDispatcher, ingestGovernance, ingestReport, runSlaEscalation, sha256, silentLogger, StoreDeliveryQueue, type ParsedReport } from '@stratum/core';

import { emailChannel, jiraChannel, putChannels } from './support/channels.ts';
import { graphqlClient, type GraphQLClient } from './support/graphql-client.ts';
import { startTestStore, type TestStore } from './support/local-store.ts';

const DAY = 86_400_000;
const REPOSITORY = 'registry.example.com/shop/api';
const DIGEST = sha256('graphql-governance-api');

let local: TestStore;
let api: GraphQLClient;
let other: GraphQLClient;

const WORKFLOW_FIELDS = 'id name enabled trigger version templateId createdBy conditions { severities origins repositories } actions { type days { severity days } baseLayerTracking channelIds escalationChannelIds graceDays notifyOnClose }';

function report(): ParsedReport {
  return {
    format: 'TRIVY',
    scanner: { name: 'trivy' },
    image: { manifestDigest: DIGEST, repository: REPOSITORY, tags: ['1.0.0'] },
    findings: [{ vulnerabilityId: 'CVE-2023-0286', aliases: [], severity: 'CRITICAL', package: { name: 'openssl', version: '3.0.7-r0', type: 'apk', purl: 'pkg:apk/alpine/openssl@3.0.7-r0' } }],
  };
}

beforeAll(async () => {
  local = await startTestStore();
  api = graphqlClient(local, 'gqlgov');
  other = graphqlClient(local, 'gqlother');
});

afterAll(async () => {
  await local.close();
});

describe('workflows through GraphQL', () => {
  it('lists the templates', async () => {
    const result = await api.query('{ workflowTemplates { id name trigger requiresChannels actions { type days { severity days } baseLayerTracking } } }');

    expect(result.errors).toBeUndefined();
    expect(result.data.workflowTemplates.map((template: { name: string }) => template.name)).toEqual(['Block on critical reachable', 'SLA by severity', 'Alert on new base image']);
    expect(result.data.workflowTemplates[1].actions[0].days).toEqual([
      { severity: 'CRITICAL', days: 7 },
      { severity: 'HIGH', days: 30 },
      { severity: 'MEDIUM', days: 90 },
    ]);
  });

  it('creates, updates and deletes', async () => {
    const input = {
      name: 'Payments SLA',
      trigger: 'FINDING_ACTIONABLE',
      conditions: { repositories: ['payments/**'] },
      actions: [{ type: 'SET_SLA', days: [{ severity: 'CRITICAL', days: 3 }] }],
    };
    const created = await api.query(`mutation($input: WorkflowInput!) { createWorkflow(input: $input) { ${WORKFLOW_FIELDS} } }`, { input });
    expect(created.errors).toBeUndefined();
    const workflow = created.data.createWorkflow;
    expect(workflow.version).toBe(1);
    expect(workflow.createdBy).toBe('local-user');
    expect(workflow.actions[0].baseLayerTracking).toBe('VENDOR');

    const updated = await api.query(`mutation($id: String!, $input: WorkflowInput!) { updateWorkflow(id: $id, expectedVersion: 1, input: $input) { version enabled } }`, { id: workflow.id, input: { ...input, enabled: false } });
    expect(updated.data.updateWorkflow).toEqual({ version: 2, enabled: false });

    const stale = await api.query(`mutation($id: String!, $input: WorkflowInput!) { updateWorkflow(id: $id, expectedVersion: 1, input: $input) { version } }`, { id: workflow.id, input });
    expect(stale.errors?.[0]?.extensions?.code).toBe('CONFLICT');

    const deleted = await api.query(`mutation($id: String!) { deleteWorkflow(id: $id, expectedVersion: 2) }`, { id: workflow.id });
    expect(deleted.data.deleteWorkflow).toBe(workflow.id);
    const read = await api.query(`query($id: String!) { workflow(id: $id) { id } }`, { id: workflow.id });
    expect(read.data.workflow).toBeNull();
  });

  it('names the invalid field', async () => {
    const input = { name: 'Bad', trigger: 'FINDING_ACTIONABLE', actions: [{ type: 'SET_SLA', days: [{ severity: 'HIGH', days: 0 }] }] };
    const result = await api.query(`mutation($input: WorkflowInput!) { createWorkflow(input: $input) { id } }`, { input });

    expect(result.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(result.errors?.[0]?.extensions?.field).toBe('input.actions[0].days.HIGH');
  });

  it('rejects a severity given twice', async () => {
    const input = { name: 'Bad', trigger: 'FINDING_ACTIONABLE', actions: [{ type: 'SET_SLA', days: [{ severity: 'HIGH', days: 3 }, { severity: 'HIGH', days: 4 }] }] };
    const result = await api.query(`mutation($input: WorkflowInput!) { createWorkflow(input: $input) { id } }`, { input });

    expect(result.errors?.[0]?.extensions?.field).toBe('input.actions[0].days[1].severity');
  });
});

describe('violations through GraphQL', () => {
  it('show the walk of one finding', async () => {
    await putChannels(local.store.forTenant('gqlgov'), [emailChannel('team-email'), jiraChannel('lead-jira')]);
    const instantiated = await api.query(
      `mutation { instantiateWorkflowTemplate(templateId: "sla-by-severity", overrides: { alertChannelIds: ["team-email"], escalationChannelIds: ["lead-jira"], graceDays: 1 }) { ${WORKFLOW_FIELDS} } }`,
    );
    expect(instantiated.errors).toBeUndefined();
    const workflow = instantiated.data.instantiateWorkflowTemplate;
    expect(workflow.templateId).toBe('sla-by-severity');
    expect(workflow.actions[1]).toMatchObject({ type: 'ALERT', channelIds: ['team-email'], escalationChannelIds: ['lead-jira'], graceDays: 1 });

    const clock = local.context().clock;
    const store = local.store.forTenant('gqlgov');
    const alerts = createAlertDispatcher({ store: local.store, queue: new StoreDeliveryQueue(), clock, logger: silentLogger });
    await ingestReport({ store, clock, logger: silentLogger, governance: ingestGovernance({ store, clock, logger: silentLogger, alerts }) }, { report: report() });

    const status = await api.query(`query($repository: String!) { images(repository: $repository, first: 1) { edges { node { findings(first: 5) { edges { node { slaStatus { dueDate daysLeft tracking rule { id } } } } } } } } }`, {
      repository: REPOSITORY,
    });
    expect(status.errors).toBeUndefined();
    const slaStatus = status.data.images.edges[0].node.findings.edges[0].node.slaStatus;
    expect(slaStatus).toEqual({ dueDate: new Date(clock.now().getTime() + 7 * DAY).toISOString(), daysLeft: 7, tracking: 'TENANT', rule: { id: workflow.id } });

    clock.advance(8 * DAY);
    await runSlaEscalation({ store, clock, logger: silentLogger, alerts });
    clock.advance(1 * DAY);
    await runSlaEscalation({ store, clock, logger: silentLogger, alerts });

    const violations = await api.query(
      `query($filter: ViolationFilter) { violations(filter: $filter, first: 10) { edges { node { id state severity repository dueDate openedAt escalatedAt closeReason alertKeys rule { id } finding { vulnerabilityId package { name } slaStatus { daysLeft } } alerts(first: 10) { edges { node { alertKey channelId state lastError } } } } } } }`,
      { filter: { states: ['ESCALATED'], repository: REPOSITORY, ruleId: workflow.id } },
    );
    expect(violations.errors).toBeUndefined();
    const edges = violations.data.violations.edges;
    expect(edges).toHaveLength(1);
    const violation = edges[0].node;
    expect(violation.state).toBe('ESCALATED');
    expect(violation.rule.id).toBe(workflow.id);
    expect(violation.finding.vulnerabilityId).toBe('CVE-2023-0286');
    expect(violation.finding.slaStatus.daysLeft).toBe(-2);
    expect(violation.alertKeys).toEqual([`violation#${violation.id}#OPENED`, `violation#${violation.id}#ESCALATED`]);
    // Both channels are disabled, so each delivery is reported as failed rather than silently dropped.
    expect(violation.alerts.edges.map((edge: { node: { alertKey: string; channelId: string; state: string } }) => [edge.node.alertKey, edge.node.channelId, edge.node.state])).toEqual([
      [`violation#${violation.id}#OPENED`, 'team-email', 'FAILED'],
      [`violation#${violation.id}#ESCALATED`, 'lead-jira', 'FAILED'],
    ]);

    const none = await api.query(`{ violations(filter: { states: [CLOSED] }, first: 10) { edges { node { id } } } }`);
    expect(none.data.violations.edges).toHaveLength(0);
    const otherTenant = await other.query(`{ violations(first: 10) { edges { node { id } } } workflows(first: 10) { edges { node { id } } } }`);
    expect(otherTenant.data.violations.edges).toHaveLength(0);
    expect(otherTenant.data.workflows.edges).toHaveLength(0);
  });
});
