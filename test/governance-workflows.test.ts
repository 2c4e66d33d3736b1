import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  ConflictError,
  createWorkflow,
  deleteWorkflow,
  fixedClock,
  ingestGovernance,
  ingestReport,
  instantiateTemplate,
  instantiateWorkflowTemplate,
  InvalidInputError,
  listGateWorkflows,
  NotFoundError,
  findingMatches,
  parseWorkflowDefinition,
  repositoryMatches,
  sha256,
  silentLogger,
  updateWorkflow,
  WORKFLOW_TEMPLATES,
  type Finding,
  type ParsedReport,
} from '@stratum/core';

import { RecordingDispatcher } from './support/recording-dispatcher.ts';
import { emailChannel, jiraChannel, putChannels } from './support/channels.ts';
import { startTestStore, type TestStore } from './support/local-store.ts';

let local: TestStore;
let tenantCounter = 0;

beforeAll(async () => {
  local = await startTestStore();
});

afterAll(async () => {
  await local.close();
});

/** Creates a tenant of its own, with the alert channels its workflows name. */
async function setup() {
  const tenant = `wf${++tenantCounter}`;
  const clock = fixedClock('2026-12-01T08:00:00Z');
  const store = local.store.forTenant(tenant);
  const alerts = new RecordingDispatcher();
  await putChannels(store, [emailChannel('payments-email'), jiraChannel('cto-jira'), emailChannel('platform-webhook')]);
  return {
    tenant,
    store,
    alerts,
    acting: { store, clock, logger: silentLogger, actor: 'alice' },
    ingest: { store, clock, logger: silentLogger, governance: ingestGovernance({ store, clock, logger: silentLogger, alerts }) },
  };
}

type Acting = Awaited<ReturnType<typeof setup>>['acting'];

const SLA_INPUT = {
  name: 'Payments SLA',
  trigger: 'FINDING_ACTIONABLE',
  conditions: { repositories: ['payments/**'], severities: ['CRITICAL', 'HIGH'] },
  actions: [
    { type: 'SET_SLA', days: { CRITICAL: 5, HIGH: 20 } },
    { type: 'ALERT', channelIds: ['payments-email'], escalationChannelIds: ['cto-jira'] },
  ],
};

describe('workflow validation', () => {
  it('fills defaults', () => {
    const definition = parseWorkflowDefinition(SLA_INPUT);

    expect(definition.enabled).toBe(true);
    expect(definition.actions[0]).toEqual({ type: 'SET_SLA', days: { CRITICAL: 5, HIGH: 20 }, baseLayerTracking: 'VENDOR' });
    expect(definition.actions[1]).toEqual({ type: 'ALERT', channelIds: ['payments-email'], escalationChannelIds: ['cto-jira'], graceDays: 3, notifyOnClose: false });
  });

  it.each([
    { case: 'empty name', input: { ...SLA_INPUT, name: ' ' }, path: 'input.name' },
    { case: 'unknown trigger', input: { ...SLA_INPUT, trigger: 'NIGHTLY' }, path: 'input.trigger' },
    { case: 'unknown severity', input: { ...SLA_INPUT, conditions: { severities: ['URGENT'] } }, path: 'input.conditions.severities[0]' },
    { case: 'EPSS above 1', input: { ...SLA_INPUT, conditions: { minEpss: 1.5 } }, path: 'input.conditions.minEpss' },
    { case: 'unknown condition', input: { ...SLA_INPUT, conditions: { team: 'payments' } }, path: 'input.conditions' },
    { case: 'zero days', input: { ...SLA_INPUT, actions: [{ type: 'SET_SLA', days: { CRITICAL: 0 } }] }, path: 'input.actions[0].days.CRITICAL' },
    { case: 'fractional days', input: { ...SLA_INPUT, actions: [{ type: 'SET_SLA', days: { HIGH: 2.5 } }] }, path: 'input.actions[0].days.HIGH' },
    { case: 'no days', input: { ...SLA_INPUT, actions: [{ type: 'SET_SLA', days: {} }] }, path: 'input.actions[0].days' },
    { case: 'alert without channels', input: { ...SLA_INPUT, actions: [SLA_INPUT.actions[0], { type: 'ALERT', channelIds: [] }] }, path: 'input.actions[1].channelIds' },
    { case: 'bad channel id', input: { ...SLA_INPUT, actions: [SLA_INPUT.actions[0], { type: 'ALERT', channelIds: ['team email'] }] }, path: 'input.actions[1].channelIds[0]' },
    { case: 'grace without escalation', input: { ...SLA_INPUT, actions: [SLA_INPUT.actions[0], { type: 'ALERT', channelIds: ['a'], graceDays: 2 }] }, path: 'input.actions[1].graceDays' },
    { case: 'SLA without SET_SLA', input: { ...SLA_INPUT, actions: [{ type: 'ALERT', channelIds: ['a'] }] }, path: 'input.actions' },
    { case: 'gate with SLA', input: { name: 'Gate', trigger: 'GATE', actions: [{ type: 'FAIL_GATE' }, { type: 'SET_SLA', days: { HIGH: 3 } }] }, path: 'input.actions[1].type' },
    { case: 'action twice', input: { name: 'Gate', trigger: 'GATE', actions: [{ type: 'FAIL_GATE' }, { type: 'FAIL_GATE' }] }, path: 'input.actions[1].type' },
    { case: 'base image severity', input: { name: 'Base', trigger: 'NEW_BASE_IMAGE', conditions: { severities: ['HIGH'] }, actions: [{ type: 'ALERT', channelIds: ['a'] }] }, path: 'input.conditions.severities' },
    { case: 'base days with vendor', input: { ...SLA_INPUT, actions: [{ type: 'SET_SLA', days: { HIGH: 3 }, baseLayerDays: { HIGH: 9 } }] }, path: 'input.actions[0].baseLayerDays' },
    { case: 'no actions', input: { ...SLA_INPUT, actions: [] }, path: 'input.actions' },
  ])('rejects $case', ({ input, path }) => {
    let caught: unknown;
    try {
      parseWorkflowDefinition(input);
    } catch (error) {
      caught = error;
    }

    expect(caught).toBeInstanceOf(InvalidInputError);
    expect((caught as InvalidInputError).details.path).toBe(path);
    expect((caught as InvalidInputError).message).toContain(path);
  });
});

describe('workflow conditions', () => {
  const finding: Finding = {
    id: 'f1',
    imageKey: sha256('image'),
    scanId: 'scan-1',
    origin: 'APPLICATION',
    vulnerabilityId: 'CVE-2021-44228',
    aliases: [],
    severity: 'CRITICAL',
    package: { name: 'log4j-core', version: '2.14.1', type: 'jar' },
  };
  const now = new Date('2026-12-01T08:00:00Z');

  it.each([
    { pattern: 'payments/*', repository: 'payments/api', expected: true },
    { pattern: 'payments/*', repository: 'payments/team/api', expected: false },
    { pattern: 'payments/**', repository: 'payments/team/api', expected: true },
    { pattern: '**/api', repository: 'registry.example.com/shop/api', expected: true },
    { pattern: 'shop.api', repository: 'shopXapi', expected: false },
  ])('matches $pattern against $repository', ({ pattern, repository, expected }) => {
    expect(repositoryMatches([pattern], repository)).toBe(expected);
  });

  it('needs a repository for globs', () => {
    expect(repositoryMatches(['**'], undefined)).toBe(false);
    expect(repositoryMatches(undefined, undefined)).toBe(true);
  });

  it.each([
    { case: 'KEV listed', conditions: { kev: true }, facts: { kev: { dateAdded: '2021-12-10' } }, expected: true },
    { case: 'KEV not listed', conditions: { kev: true }, facts: {}, expected: false },
    { case: 'EPSS above minimum', conditions: { minEpss: 0.5 }, facts: { epss: { score: 0.97 } }, expected: true },
    { case: 'EPSS below minimum', conditions: { minEpss: 0.5 }, facts: { epss: { score: 0.1 } }, expected: false },
    { case: 'EPSS missing', conditions: { minEpss: 0.5 }, facts: {}, expected: false },
    { case: 'unknown reachability', conditions: { reachability: ['UNKNOWN' as const] }, facts: {}, expected: true },
    { case: 'other origin', conditions: { origins: ['BASE' as const] }, facts: {}, expected: false },
    { case: 'not actionable wanted', conditions: { actionable: false }, facts: {}, expected: false },
  ])('evaluates $case', ({ conditions, facts, expected }) => {
    expect(findingMatches(conditions, { finding, repository: 'shop/api', facts, now })).toBe(expected);
  });
});

describe('workflow templates', () => {
  it.each(WORKFLOW_TEMPLATES.map((template) => ({ id: template.id, name: template.name, alerts: template.requiresChannels })))('instantiates $name', ({ id, alerts }) => {
    const definition = instantiateTemplate(id, alerts ? { alertChannelIds: ['ops'] } : {});

    expect(parseWorkflowDefinition(definition)).toEqual(definition);
  });

  it('blocks critical reachable in application and unknown layers', () => {
    const definition = instantiateTemplate('block-critical-reachable');

    expect(definition.trigger).toBe('GATE');
    expect(definition.conditions).toEqual({ severities: ['CRITICAL'], origins: ['APPLICATION', 'UNKNOWN'], reachability: ['REACHABLE', 'UNKNOWN'], actionable: true });
    expect(definition.actions).toEqual([{ type: 'FAIL_GATE' }]);
  });

  it('gives SLA days by severity', () => {
    const definition = instantiateTemplate('sla-by-severity');

    expect(definition.actions).toEqual([{ type: 'SET_SLA', days: { CRITICAL: 7, HIGH: 30, MEDIUM: 90 }, baseLayerTracking: 'VENDOR' }]);
  });

  it('needs channels to alert', () => {
    expect(() => instantiateTemplate('alert-new-base-image')).toThrow(/overrides.alertChannelIds/);
  });

  it.each([
    { case: 'alert channels on the gate', templateId: 'block-critical-reachable', overrides: { alertChannelIds: ['ops'] }, path: 'overrides.alertChannelIds', message: /takes no alert channels/ },
    { case: 'close notices on the gate', templateId: 'block-critical-reachable', overrides: { notifyOnClose: true }, path: 'overrides.notifyOnClose', message: /takes no alert channels/ },
    { case: 'escalation of a new base image', templateId: 'alert-new-base-image', overrides: { alertChannelIds: ['ops'], escalationChannelIds: ['lead'] }, path: 'overrides.escalationChannelIds', message: /opens no violation to escalate/ },
    { case: 'grace days of a new base image', templateId: 'alert-new-base-image', overrides: { alertChannelIds: ['ops'], graceDays: 2 }, path: 'overrides.graceDays', message: /opens no violation to escalate/ },
  ])('rejects $case, naming the override', ({ templateId, overrides, path, message }) => {
    let caught: unknown;
    try {
      instantiateTemplate(templateId, overrides);
    } catch (error) {
      caught = error;
    }

    expect(caught).toBeInstanceOf(InvalidInputError);
    expect((caught as InvalidInputError).details.path).toBe(path);
    expect((caught as InvalidInputError).message).toMatch(message);
    expect((caught as InvalidInputError).message).not.toContain('actions[');
  });

  it('rejects an unknown template', () => {
    expect(() => instantiateTemplate('block-everything')).toThrow(NotFoundError);
  });

  it('names the override at fault', () => {
    expect(() => instantiateTemplate('sla-by-severity', { slaDays: { CRITICAL: -1 } })).toThrow(/overrides.actions\[0\].days.CRITICAL/);
  });
});

describe('workflow records', () => {
  it.each([
    {
      case: 'create with an unknown escalation channel',
      act: (acting: Acting) => createWorkflow(acting, { ...SLA_INPUT, actions: [SLA_INPUT.actions[0], { type: 'ALERT', channelIds: ['payments-email'], escalationChannelIds: ['cto-jria'] }] }),
      path: 'input.actions[1].escalationChannelIds[0]',
      id: 'cto-jria',
    },
    {
      case: 'instantiate with a channel name',
      act: (acting: Acting) => instantiateWorkflowTemplate(acting, 'sla-by-severity', { alertChannelIds: ['payments-email', 'team-email'] }),
      path: 'overrides.alertChannelIds[1]',
      id: 'team-email',
    },
    {
      case: 'update with an unknown channel',
      act: async (acting: Acting) => {
        const created = await createWorkflow(acting, SLA_INPUT);
        return updateWorkflow(acting, created.id, 1, { ...SLA_INPUT, actions: [SLA_INPUT.actions[0], { type: 'ALERT', channelIds: ['gone-email'] }] });
      },
      path: 'input.actions[1].channelIds[0]',
      id: 'gone-email',
    },
  ])('reject a $case', async ({ act, path, id }) => {
    const { acting } = await setup();

    const caught = await act(acting).then(() => undefined, (error: unknown) => error);

    expect(caught).toBeInstanceOf(InvalidInputError);
    expect((caught as InvalidInputError).details.path).toBe(path);
    expect((caught as InvalidInputError).message).toContain(path);
    expect((caught as InvalidInputError).message).toContain(`"${id}"`);
  });

  it('are versioned on update', async () => {
    const { acting, store } = await setup();
    const created = await createWorkflow(acting, SLA_INPUT);
    const updated = await updateWorkflow(acting, created.id, 1, { ...SLA_INPUT, enabled: false });

    expect(updated.version).toBe(2);
    expect(updated.enabled).toBe(false);
    expect(updated.createdBy).toBe('alice');
    expect((await store.governance.getWorkflow(created.id))?.version).toBe(2);
    await expect(updateWorkflow(acting, created.id, 1, SLA_INPUT)).rejects.toThrow(ConflictError);
  });

  it('are deleted at their version', async () => {
    const { acting, store } = await setup();
    const created = await createWorkflow(acting, SLA_INPUT);

    await expect(deleteWorkflow(acting, created.id, 2)).rejects.toThrow(ConflictError);
    await deleteWorkflow(acting, created.id, 1);
    expect(await store.governance.getWorkflow(created.id)).toBeUndefined();
    await expect(deleteWorkflow(acting, created.id, 1)).rejects.toThrow(NotFoundError);
  });

  it('list only enabled gate workflows', async () => {
    const { acting, store } = await setup();
    const gate = await instantiateWorkflowTemplate(acting, 'block-critical-reachable');
    await instantiateWorkflowTemplate(acting, 'block-critical-reachable', { name: 'Off for now', enabled: false });
    await instantiateWorkflowTemplate(acting, 'sla-by-severity');

    const gates = await listGateWorkflows(store);

    expect(gates.map((workflow) => workflow.id)).toEqual([gate.id]);
    expect(gates[0]!.templateId).toBe('block-critical-reachable');
  });
});

describe('new base image alert', () => {
  const baseDiff = sha256('debian base layer');

  function imageReport(name: string, repository: string, diffIds: string[], tags: string[] = []): ParsedReport {
    return { format: 'TRIVY', scanner: { name: 'trivy' }, image: { manifestDigest: sha256(name), repository, tags, diffIds }, findings: [] };
  }

  it('alerts once per base', async () => {
    const { acting, ingest, alerts, tenant } = await setup();
    const workflow = await instantiateWorkflowTemplate(acting, 'alert-new-base-image', { alertChannelIds: ['platform-webhook'] });
    await ingestReport(ingest, { report: imageReport('debian', 'library/debian', [baseDiff], ['12']) });

    await ingestReport(ingest, { report: imageReport('api-1', 'shop/api', [baseDiff, sha256('api 1')]) });
    await ingestReport(ingest, { report: imageReport('api-2', 'shop/api', [baseDiff, sha256('api 2')]) });
    await ingestReport(ingest, { report: imageReport('web-1', 'shop/web', [baseDiff, sha256('web 1')]) });

    const requests = alerts.ofKind('NEW_BASE_IMAGE');
    expect(requests).toHaveLength(1);
    expect(requests[0]!.tenant).toBe(tenant);
    expect(requests[0]!.channelIds).toEqual(['platform-webhook']);
    expect(requests[0]!.subject).toBe('New base image in shop/api: library/debian:12');
    expect(requests[0]!.details.workflowIds).toEqual([workflow.id]);
  });

  it('alerts again for another base', async () => {
    const { acting, ingest, alerts } = await setup();
    await instantiateWorkflowTemplate(acting, 'alert-new-base-image', { alertChannelIds: ['platform-webhook'] });
    const alpineDiff = sha256('alpine base layer');
    await ingestReport(ingest, { report: imageReport('debian', 'library/debian', [baseDiff], ['12']) });
    await ingestReport(ingest, { report: imageReport('alpine', 'library/alpine', [alpineDiff], ['3.20']) });

    await ingestReport(ingest, { report: imageReport('api-1', 'shop/api', [baseDiff, sha256('api 1')]) });
    await ingestReport(ingest, { report: imageReport('api-2', 'shop/api', [alpineDiff, sha256('api 2')]) });

    expect(alerts.ofKind('NEW_BASE_IMAGE').map((request) => request.subject)).toEqual(['New base image in shop/api: library/debian:12', 'New base image in shop/api: library/alpine:3.20']);
  });

  it('respects repository globs', async () => {
    const { acting, ingest, alerts } = await setup();
    await instantiateWorkflowTemplate(acting, 'alert-new-base-image', { alertChannelIds: ['platform-webhook'], conditions: { repositories: ['payments/*'] } });
    await ingestReport(ingest, { report: imageReport('debian', 'library/debian', [baseDiff], ['12']) });

    await ingestReport(ingest, { report: imageReport('api-1', 'shop/api', [baseDiff, sha256('api 1')]) });

    expect(alerts.requests).toHaveLength(0);
  });

  it('changes nothing without governance', async () => {
    const { acting, store, alerts } = await setup();
    await instantiateWorkflowTemplate(acting, 'alert-new-base-image', { alertChannelIds: ['platform-webhook'] });
    const plain = { store, clock: acting.clock, logger: silentLogger };

    await ingestReport(plain, { report: imageReport('debian', 'library/debian', [baseDiff], ['12']) });
    const result = await ingestReport(plain, { report: imageReport('api-1', 'shop/api', [baseDiff, sha256('api 1')]) });

    expect(result.image.baseImage?.name).toBe('library/debian:12');
    expect(alerts.requests).toHaveLength(0);
  });
});
