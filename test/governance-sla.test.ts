import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  createSuppression,
  daysLeft,
  fixedClock,
  importVexDocument,
  ingestGovernance,
  ingestReport,
  instantiateWorkflowTemplate,
  packageIdentity,
  parseVexDocument,
  runSlaEscalation,
  sha256,
  silentLogger,
  slaRecordKey,
  updateWorkflow,
  type ExploitFacts,
  type ParsedReport,
  type ReportedFinding,
  type Severity,
  type TemplateOverrides,
  type Workflow,
  type WorkflowDefinition,
} from '@stratum/core';

import { emailChannel, jiraChannel, putChannels } from './support/channels.ts';
import { RecordingDispatcher } from './support/recording-dispatcher.ts';
import { startTestStore, type TestStore } from './support/local-store.ts';

const DAY = 86_400_000;
const START = '2026-12-01T08:00:00.000Z';
const REPOSITORY = 'registry.example.com/shop/api';
const OPENSSL_CVE = 'CVE-2023-0286';

let local: TestStore;
let tenantCounter = 0;

beforeAll(async () => {
  local = await startTestStore();
});

afterAll(async () => {
  await local.close();
});

function openssl(version = '3.0.7-r0', severity: Severity = 'CRITICAL'): ReportedFinding {
  return {
    vulnerabilityId: OPENSSL_CVE,
    aliases: [],
    severity,
    package: { name: 'openssl', version, type: 'apk', purl: `pkg:apk/alpine/openssl@${version}?arch=x86_64&distro=3.17.0` },
  };
}

function lodash(): ReportedFinding {
  return { vulnerabilityId: 'CVE-2021-23337', aliases: [], severity: 'HIGH', package: { name: 'lodash', version: '4.17.20', type: 'npm', purl: 'pkg:npm/lodash@4.17.20' } };
}

function report(digest: string, findings: ReportedFinding[], repository = REPOSITORY): ParsedReport {
  return { format: 'TRIVY', scanner: { name: 'trivy' }, image: { manifestDigest: digest, repository, tags: [] }, findings };
}

/** Creates a tenant of its own, with its own clock, dispatcher and an ingest that records SLA deadlines. */
function tenantSetup(exploitFacts?: (ids: readonly string[]) => Promise<Map<string, ExploitFacts>>) {
  const tenant = `sla${++tenantCounter}`;
  const clock = fixedClock(START);
  const alerts = new RecordingDispatcher();
  const store = local.store.forTenant(tenant);
  const dependencies = { store, clock, logger: silentLogger, alerts, exploitFacts };
  const ingest = { store, clock, logger: silentLogger, governance: ingestGovernance(dependencies) };
  const acting = { store, clock, logger: silentLogger, actor: 'test-user' };
  // The workflows' alert channels must exist; deliveries never run, because the dispatcher only records.
  let channels: Promise<unknown> | undefined;

  return {
    tenant,
    clock,
    alerts,
    store,
    ingest,
    acting,
    pass: () => runSlaEscalation(dependencies),
    at: (days: number) => clock.set(new Date(Date.parse(START) + days * DAY).toISOString()),
    slaWorkflow: async (overrides: TemplateOverrides = {}) => {
      channels ??= putChannels(store, [emailChannel('team-email'), jiraChannel('lead-jira')]);
      await channels;
      return instantiateWorkflowTemplate(acting, 'sla-by-severity', { alertChannelIds: ['team-email'], escalationChannelIds: ['lead-jira'], graceDays: 2, ...overrides });
    },
    record: (finding = openssl()) => store.governance.getSlaRecord(slaRecordKey(REPOSITORY, OPENSSL_CVE, packageIdentity(finding))),
  };
}

function definitionOf(workflow: Workflow): WorkflowDefinition {
  return { name: workflow.name, enabled: workflow.enabled, trigger: workflow.trigger, conditions: workflow.conditions, actions: workflow.actions };
}

describe('SLA deadlines', () => {
  it('start at first seen', async () => {
    const setup = tenantSetup();
    await setup.slaWorkflow();
    await ingestReport(setup.ingest, { report: report(sha256('api-1'), [openssl(), lodash()]) });

    const record = await setup.record();
    expect(record?.firstSeenAt).toBe(START);
    expect(record?.dueDate).toBe('2026-12-08T08:00:00.000Z');
    expect(record?.tracking).toBe('TENANT');
    const lodashRecord = await setup.store.governance.getSlaRecord(slaRecordKey(REPOSITORY, 'CVE-2021-23337', 'npm//lodash'));
    expect(lodashRecord?.dueDate).toBe('2026-12-31T08:00:00.000Z');
  });

  it('survive re-scans and new digests', async () => {
    const setup = tenantSetup();
    await setup.slaWorkflow();
    await ingestReport(setup.ingest, { report: report(sha256('api-1'), [openssl()]) });

    setup.at(3);
    await ingestReport(setup.ingest, { report: report(sha256('api-1'), [openssl(), lodash()]) });
    setup.at(5);
    // A new digest with openssl upgraded but still vulnerable keeps the clock.
    await ingestReport(setup.ingest, { report: report(sha256('api-2'), [openssl('3.0.8-r0')]) });

    const record = await setup.record();
    expect(record?.firstSeenAt).toBe(START);
    expect(record?.dueDate).toBe('2026-12-08T08:00:00.000Z');
    expect(record?.finding.packageVersion).toBe('3.0.8-r0');
    expect(record?.lastSeenAt).toBe('2026-12-06T08:00:00.000Z');
  });

  it('skip findings no rule covers', async () => {
    const setup = tenantSetup();
    await setup.slaWorkflow();
    const low: ReportedFinding = { ...openssl(), severity: 'LOW' };
    await ingestReport(setup.ingest, { report: report(sha256('api-low'), [low]) });

    expect(await setup.record(low)).toBeUndefined();
  });

  it('take the strictest rule', async () => {
    const setup = tenantSetup();
    await setup.slaWorkflow();
    await setup.slaWorkflow({ name: 'Shop API critical in 2 days', slaDays: { CRITICAL: 2 }, conditions: { repositories: ['registry.example.com/shop/*'] } });
    await ingestReport(setup.ingest, { report: report(sha256('api-strict'), [openssl()]) });

    expect((await setup.record())?.dueDate).toBe('2026-12-03T08:00:00.000Z');
  });

  it('follow KEV conditions', async () => {
    const setup = tenantSetup(async (ids) => new Map(ids.filter((id) => id === OPENSSL_CVE).map((id) => [id, { kev: { dateAdded: '2023-03-01' } }])));
    await setup.slaWorkflow({ conditions: { kev: true } });
    await ingestReport(setup.ingest, { report: report(sha256('api-kev'), [openssl(), lodash()]) });

    expect((await setup.record())?.dueDate).toBe('2026-12-08T08:00:00.000Z');
    expect(await setup.store.governance.getSlaRecord(slaRecordKey(REPOSITORY, 'CVE-2021-23337', 'npm//lodash'))).toBeUndefined();
  });

  it('are backfilled for findings stored before the workflow', async () => {
    const setup = tenantSetup();
    await ingestReport(setup.ingest, { report: report(sha256('api-early'), [openssl(), lodash()]) });
    expect(await setup.record()).toBeUndefined();

    // The workflow comes a day later; the scan's import time stays the first-seen time.
    setup.at(1);
    await setup.slaWorkflow();
    const record = await setup.record();
    expect(record?.firstSeenAt).toBe(START);
    expect(record?.dueDate).toBe('2026-12-08T08:00:00.000Z');
    expect(record?.state).toBe('ACTIVE');

    // The daily pass finds nothing left to add, and opens the violation once the deadline passes.
    const quiet = await setup.pass();
    expect(quiet.backfilledRecords).toBe(0);
    setup.at(7.5);
    const due = await setup.pass();
    expect(due.opened).toBe(1);
    expect(setup.alerts.ofKind('VIOLATION_OPENED')).toHaveLength(1);
  });

  it('are backfilled by the daily pass when a workflow is enabled again', async () => {
    const setup = tenantSetup();
    const workflow = await setup.slaWorkflow();
    const disabled = await updateWorkflow(setup.acting, workflow.id, workflow.version, { ...definitionOf(workflow), enabled: false });
    await ingestReport(setup.ingest, { report: report(sha256('api-off'), [openssl()]) });
    expect(await setup.record()).toBeUndefined();

    // Enabling it through the store directly skips the mutation's backfill, so the pass must do it.
    await setup.store.governance.putWorkflow({ ...disabled, enabled: true, version: disabled.version + 1 }, disabled.version);
    const pass = await setup.pass();
    expect(pass.backfilledRecords).toBe(1);
    expect((await setup.record())?.firstSeenAt).toBe(START);
  });

  it('are counted across repositories when backfilled', async () => {
    const setup = tenantSetup();
    const workflow = await setup.slaWorkflow();
    const disabled = await updateWorkflow(setup.acting, workflow.id, workflow.version, { ...definitionOf(workflow), enabled: false });
    await ingestReport(setup.ingest, { report: report(sha256('api-two'), [openssl()]) });
    await ingestReport(setup.ingest, { report: report(sha256('web-two'), [openssl()], 'registry.example.com/shop/web') });

    // The repositories are backfilled in parallel; each one's count must reach the total.
    await setup.store.governance.putWorkflow({ ...disabled, enabled: true, version: disabled.version + 1 }, disabled.version);
    const pass = await setup.pass();
    expect(pass.backfilledRecords).toBe(2);
  });

  it('are not recorded without workflows', async () => {
    const setup = tenantSetup();
    await ingestReport(setup.ingest, { report: report(sha256('api-none'), [openssl()]) });

    expect(await setup.record()).toBeUndefined();
  });
});

describe('days left', () => {
  const due = '2026-12-08T08:00:00.000Z';
  it.each([
    { case: 'a deadline set a second ago', now: '2026-12-01T08:00:01.000Z', expected: 7 },
    { case: 'the last day', now: '2026-12-07T20:00:00.000Z', expected: 1 },
    { case: 'the deadline itself', now: due, expected: 0 },
    { case: 'half a day late', now: '2026-12-08T20:00:00.000Z', expected: 0 },
    { case: 'one day and a second late', now: '2026-12-09T08:00:01.000Z', expected: -1 },
    { case: 'two days late', now: '2026-12-10T08:00:00.000Z', expected: -2 },
  ])('counts $case as $expected', ({ now, expected }) => {
    expect(daysLeft(due, new Date(now))).toBe(expected);
  });
});

describe('daily SLA pass', () => {
  it('walks a violation to escalation and fix', async () => {
    const setup = tenantSetup();
    await setup.slaWorkflow({ notifyOnClose: true });
    await ingestReport(setup.ingest, { report: report(sha256('api-1'), [openssl()]) });

    // Before the due date nothing happens.
    setup.at(6);
    await setup.pass();
    expect(setup.alerts.requests).toHaveLength(0);

    // A re-scan under a new digest on day 6 keeps the due date of day 7.
    await ingestReport(setup.ingest, { report: report(sha256('api-2'), [openssl('3.0.8-r0')]) });

    setup.at(7.5);
    const opened = await setup.pass();
    expect(opened.opened).toBe(1);
    expect(setup.alerts.requests).toHaveLength(1);
    const first = setup.alerts.requests[0]!;
    const violation = (await setup.store.governance.openViolations())[0]!;
    expect(first.key).toBe(`violation#${violation.id}#OPENED`);
    expect(first.kind).toBe('VIOLATION_OPENED');
    expect(first.channelIds).toEqual(['team-email']);
    expect(first.violationId).toBe(violation.id);
    expect(first.tenant).toBe(setup.tenant);
    expect(first.details.dueDate).toBe('2026-12-08T08:00:00.000Z');
    expect(violation.state).toBe('OPEN');
    expect(violation.finding.packageVersion).toBe('3.0.8-r0');

    // Three runs on the same day send one alert.
    await setup.pass();
    await setup.pass();
    expect(setup.alerts.requests).toHaveLength(1);

    // Grace of 2 days: not yet on day 9, escalated on day 9.5.
    setup.at(9);
    await setup.pass();
    expect(setup.alerts.requests).toHaveLength(1);
    setup.at(9.5);
    const escalated = await setup.pass();
    await setup.pass();
    await setup.pass();
    expect(escalated.escalated).toBe(1);
    expect(setup.alerts.keys()).toEqual([`violation#${violation.id}#OPENED`, `violation#${violation.id}#ESCALATED`]);
    expect(setup.alerts.requests[1]!.channelIds).toEqual(['lead-jira']);
    expect((await setup.store.governance.getViolation(violation.id))?.state).toBe('ESCALATED');

    // A new scan without the vulnerability fixes it.
    setup.at(10);
    await ingestReport(setup.ingest, { report: report(sha256('api-3'), [lodash()]) });
    const fixed = await setup.pass();
    await setup.pass();
    await setup.pass();
    expect(fixed.closed).toBe(1);
    expect(setup.alerts.keys()).toEqual([`violation#${violation.id}#OPENED`, `violation#${violation.id}#ESCALATED`, `violation#${violation.id}#CLOSED`]);
    expect(setup.alerts.requests[2]!.kind).toBe('VIOLATION_CLOSED');
    const closed = await setup.store.governance.getViolation(violation.id);
    expect(closed?.state).toBe('CLOSED');
    expect(closed?.closeReason).toBe('FIXED');
    expect(closed?.openedAt).toBe('2026-12-08T20:00:00.000Z');
    expect(closed?.escalatedAt).toBe('2026-12-10T20:00:00.000Z');
    expect(closed?.closedAt).toBe('2026-12-11T08:00:00.000Z');
    expect(closed?.alertKeys).toHaveLength(3);
    expect((await setup.record())?.state).toBe('RESOLVED');
    expect(await setup.store.governance.openViolations()).toHaveLength(0);
  });

  it('transitions the Jira issues of a closed violation without notifyOnClose', async () => {
    const setup = tenantSetup();
    await putChannels(setup.store, [jiraChannel('team-jira'), jiraChannel('closing-jira', { closeTransition: 'Done' })]);
    await setup.slaWorkflow({ alertChannelIds: ['team-jira'], escalationChannelIds: ['closing-jira'] });
    await ingestReport(setup.ingest, { report: report(sha256('api-jira'), [openssl()]) });

    setup.at(7.5);
    await setup.pass();
    setup.at(9.5);
    await setup.pass();
    setup.at(10);
    await ingestReport(setup.ingest, { report: report(sha256('api-jira-fixed'), [lodash()]) });
    await setup.pass();
    await setup.pass();

    // Only the escalation channel has a close transition, so only it hears of the close, once.
    const closes = setup.alerts.ofKind('VIOLATION_CLOSED');
    expect(closes).toHaveLength(1);
    expect(closes[0]!.channelIds).toEqual(['closing-jira']);
  });

  it('closes when suppressed', async () => {
    const setup = tenantSetup();
    await setup.slaWorkflow();
    await ingestReport(setup.ingest, { report: report(sha256('api-s'), [openssl()]) });
    setup.at(8);
    await setup.pass();
    expect(setup.alerts.requests).toHaveLength(1);

    await createSuppression(setup.acting, {
      filter: { vulnerabilityIds: [OPENSSL_CVE] },
      scope: { kind: 'REPOSITORY', repository: REPOSITORY },
      reason: 'RISK_ACCEPTED',
      comment: 'Only reachable from the admin network',
    });
    const result = await setup.pass();
    await setup.pass();

    expect(result.closed).toBe(1);
    const violation = (await setup.store.governance.listViolations({}, { first: 10 })).items[0]!.node;
    expect(violation.state).toBe('CLOSED');
    expect(violation.closeReason).toBe('SUPPRESSED');
    // notifyOnClose is off, so closing sends nothing.
    expect(setup.alerts.requests).toHaveLength(1);
  });

  it('closes after a not_affected VEX statement', async () => {
    const setup = tenantSetup();
    await setup.slaWorkflow();
    const digest = sha256('api-vex');
    await ingestReport(setup.ingest, { report: report(digest, [openssl()]) });
    setup.at(8);
    await setup.pass();

    const document = parseVexDocument({
      '@context': 'https://openvex.dev/ns/v0.2.0',
      '@id': 'https://shop.example/vex/api-openssl',
      author: 'Shop security team',
      timestamp: '2026-12-09T09:00:00Z',
      version: 1,
      statements: [
        { vulnerability: { name: OPENSSL_CVE }, products: [{ '@id': `${REPOSITORY}@${digest}` }], status: 'not_affected', justification: 'vulnerable_code_not_in_execute_path' },
      ],
    });
    await importVexDocument(setup.acting, document, 'OWN');
    const result = await setup.pass();

    expect(result.closed).toBe(1);
    const violation = (await setup.store.governance.listViolations({}, { first: 10 })).items[0]!.node;
    expect(violation.closeReason).toBe('NOT_ACTIONABLE');
    expect(setup.alerts.requests).toHaveLength(1);
  });

  it('reopens when a suppression ends', async () => {
    const setup = tenantSetup();
    await setup.slaWorkflow();
    await ingestReport(setup.ingest, { report: report(sha256('api-r'), [openssl()]) });
    setup.at(8);
    await setup.pass();
    await createSuppression(setup.acting, {
      filter: { vulnerabilityIds: [OPENSSL_CVE] },
      scope: { kind: 'REPOSITORY', repository: REPOSITORY },
      reason: 'RISK_ACCEPTED',
      comment: 'Accepted for one week',
      expiresAt: new Date(Date.parse(START) + 15 * DAY).toISOString(),
    });
    await setup.pass();

    setup.at(16);
    const result = await setup.pass();
    await setup.pass();

    expect(result.opened).toBe(1);
    expect(setup.alerts.ofKind('VIOLATION_OPENED')).toHaveLength(2);
    const states = (await setup.store.governance.listViolations({}, { first: 10 })).items.map(({ node }) => node.state).sort();
    expect(states).toEqual(['CLOSED', 'OPEN']);
  });

  it('closes when the rule is disabled', async () => {
    const setup = tenantSetup();
    const workflow = await setup.slaWorkflow();
    await ingestReport(setup.ingest, { report: report(sha256('api-d'), [openssl()]) });
    setup.at(8);
    await setup.pass();

    await updateWorkflow(setup.acting, workflow.id, 1, { name: workflow.name, enabled: false, trigger: workflow.trigger, conditions: workflow.conditions, actions: workflow.actions });
    await setup.pass();

    const violation = (await setup.store.governance.listViolations({}, { first: 10 })).items[0]!.node;
    expect(violation.closeReason).toBe('RULE_REMOVED');
  });

  it('sends nothing for vendor-tracked base layers', async () => {
    const setup = tenantSetup();
    await setup.slaWorkflow();
    const baseDiff = sha256('alpine layer');
    const appDiff = sha256('app layer');
    await ingestReport(setup.ingest, { report: { ...report(sha256('alpine'), [], 'library/alpine'), image: { manifestDigest: sha256('alpine'), repository: 'library/alpine', tags: ['3.17'], diffIds: [baseDiff] } } });
    const inBase: ReportedFinding = { ...openssl(), layer: { diffId: baseDiff } };
    const inApp: ReportedFinding = { ...lodash(), severity: 'CRITICAL', layer: { diffId: appDiff } };
    await ingestReport(setup.ingest, { report: { ...report(sha256('api-layers'), [inBase, inApp]), image: { manifestDigest: sha256('api-layers'), repository: REPOSITORY, tags: [], diffIds: [baseDiff, appDiff] } } });

    const baseRecord = await setup.record();
    expect(baseRecord?.tracking).toBe('VENDOR');
    expect(baseRecord?.dueDate).toBe('2026-12-08T08:00:00.000Z');
    expect(baseRecord?.baseImage?.name).toBe('library/alpine:3.17');

    setup.at(8);
    await setup.pass();
    const violations = (await setup.store.governance.listViolations({}, { first: 10 })).items.map(({ node }) => node);
    expect(violations.map((violation) => violation.vulnerabilityId)).toEqual(['CVE-2021-23337']);
    expect(setup.alerts.requests).toHaveLength(1);
  });

  it('keeps tenants apart', async () => {
    const first = tenantSetup();
    const second = tenantSetup();
    await first.slaWorkflow();
    await ingestReport(first.ingest, { report: report(sha256('api-iso'), [openssl()]) });
    await ingestReport(second.ingest, { report: report(sha256('api-iso'), [openssl()]) });
    first.at(8);
    second.at(8);

    await first.pass();
    const secondResult = await second.pass();

    expect(first.alerts.requests).toHaveLength(1);
    expect(second.alerts.requests).toHaveLength(0);
    expect(secondResult.dueRecords).toBe(0);
    expect(await second.store.governance.allWorkflows()).toHaveLength(0);
    expect((await second.store.governance.listViolations({}, { first: 10 })).items).toHaveLength(0);
  });
});
