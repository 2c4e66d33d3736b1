import {
  BASE_LAYER_TRACKING,
  createWorkflow,
  daysLeft,
  deleteWorkflow,
  instantiateWorkflowTemplate,
  InvalidInputError,
  OccurrenceFinder,
  packageIdentity,
  runSlaEscalation,
  SEVERITIES,
  SLA_TRACKING,
  slaRecordKey,
  updateWorkflow,
  VIOLATION_CLOSE_REASONS,
  VIOLATION_STATES,
  WORKFLOW_ACTION_TYPES,
  WORKFLOW_TEMPLATES,
  WORKFLOW_TRIGGERS,
  type ExploitFacts,
  type Severity,
  type SlaPassReport,
  type SlaDays,
  type SlaRecord,
  type Violation,
  type Workflow,
  type WorkflowAction,
  type WorkflowConditions,
  type WorkflowTemplate,
} from '@stratum/core';
import DataLoader from 'dataloader';

import { builder } from '../builder.ts';
import type { GraphQLContext } from '../context.ts';
import { AlertDeliveryRef } from './alerts.ts';
import { LayerOriginEnum, ReachabilityEnum, SeverityEnum } from './enums.ts';
import { FindingRef } from './finding.ts';
import { forwardPage, toConnection } from './paging.ts';

const WorkflowTriggerEnum = builder.enumType('WorkflowTrigger', {
  description: 'FINDING_ACTIONABLE: SLA deadlines for actionable findings. NEW_BASE_IMAGE: an image built on a base image not seen before. GATE: the CI gate.',
  values: WORKFLOW_TRIGGERS,
});
const WorkflowActionTypeEnum = builder.enumType('WorkflowActionType', { values: WORKFLOW_ACTION_TYPES });
const BaseLayerTrackingEnum = builder.enumType('BaseLayerTracking', {
  description: "VENDOR: base-layer findings get a due date shown on the finding as the base image vendor's, and open no violation. OWN_DAYS: they are the tenant's, with baseLayerDays.",
  values: BASE_LAYER_TRACKING,
});
const ViolationStateEnum = builder.enumType('ViolationState', { values: VIOLATION_STATES });
const ViolationCloseReasonEnum = builder.enumType('ViolationCloseReason', {
  description: 'FIXED: gone from the repository\'s latest scan. SUPPRESSED: a suppression covers it. NOT_ACTIONABLE: VEX or reachability evidence. RULE_REMOVED: the workflow was deleted, disabled or no longer covers it.',
  values: VIOLATION_CLOSE_REASONS,
});
const SlaTrackingEnum = builder.enumType('SlaTracking', { description: "TENANT: a missed due date opens a violation. VENDOR: the base image vendor's due date, shown only.", values: SLA_TRACKING });

// ---- output types ------------------------------------------------------------------------

const SlaDaysRef = builder.objectRef<{ severity: Severity; days: number }>('SlaDays').implement({
  fields: (t) => ({
    severity: t.field({ type: SeverityEnum, resolve: (entry) => entry.severity }),
    days: t.exposeInt('days'),
  }),
});

const daysList = (days: SlaDays | undefined) => (days ? SEVERITIES.filter((severity) => days[severity] !== undefined).map((severity) => ({ severity, days: days[severity]! })) : null);

const ConditionsRef = builder.objectRef<WorkflowConditions>('WorkflowConditions').implement({
  description: 'Every condition given must hold; any value within a list may. Null means no condition.',
  fields: (t) => ({
    severities: t.field({ type: [SeverityEnum], nullable: true, resolve: (conditions) => conditions.severities ?? null }),
    origins: t.field({ type: [LayerOriginEnum], nullable: true, resolve: (conditions) => conditions.origins ?? null }),
    reachability: t.field({ type: [ReachabilityEnum], nullable: true, resolve: (conditions) => conditions.reachability ?? null }),
    actionable: t.boolean({ nullable: true, resolve: (conditions) => conditions.actionable ?? null }),
    kev: t.boolean({ nullable: true, description: "Whether the vulnerability must (true) or must not (false) be in CISA's KEV catalog.", resolve: (conditions) => conditions.kev ?? null }),
    minEpss: t.float({ nullable: true, description: 'Minimum EPSS probability, 0 to 1.', resolve: (conditions) => conditions.minEpss ?? null }),
    repositories: t.stringList({ nullable: true, description: 'Repository globs: * within one path segment, ** across segments.', resolve: (conditions) => conditions.repositories ?? null }),
  }),
});

const ActionRef = builder.objectRef<WorkflowAction>('WorkflowAction').implement({
  description: 'One action; only the fields of its type are set.',
  fields: (t) => ({
    type: t.field({ type: WorkflowActionTypeEnum, resolve: (action) => action.type }),
    days: t.field({ type: [SlaDaysRef], nullable: true, description: 'SET_SLA: days from first seen to the due date, per severity.', resolve: (action) => (action.type === 'SET_SLA' ? daysList(action.days) : null) }),
    baseLayerTracking: t.field({ type: BaseLayerTrackingEnum, nullable: true, resolve: (action) => (action.type === 'SET_SLA' ? action.baseLayerTracking : null) }),
    baseLayerDays: t.field({ type: [SlaDaysRef], nullable: true, resolve: (action) => (action.type === 'SET_SLA' ? daysList(action.baseLayerDays) : null) }),
    channelIds: t.stringList({ nullable: true, description: 'ALERT: channels for the first alert.', resolve: (action) => (action.type === 'ALERT' ? action.channelIds : null) }),
    escalationChannelIds: t.stringList({ nullable: true, description: 'ALERT: channels for the escalation alert.', resolve: (action) => (action.type === 'ALERT' ? action.escalationChannelIds : null) }),
    graceDays: t.int({ nullable: true, description: 'ALERT: days a violation stays open before it escalates.', resolve: (action) => (action.type === 'ALERT' ? (action.graceDays ?? null) : null) }),
    notifyOnClose: t.boolean({ nullable: true, resolve: (action) => (action.type === 'ALERT' ? action.notifyOnClose : null) }),
  }),
});

export const WorkflowRef = builder.objectRef<Workflow>('Workflow').implement({
  description: 'A tenant workflow: a trigger, conditions and actions.',
  fields: (t) => ({
    id: t.exposeString('id'),
    name: t.exposeString('name'),
    enabled: t.exposeBoolean('enabled'),
    trigger: t.field({ type: WorkflowTriggerEnum, resolve: (workflow) => workflow.trigger }),
    conditions: t.field({ type: ConditionsRef, resolve: (workflow) => workflow.conditions }),
    actions: t.field({ type: [ActionRef], resolve: (workflow) => workflow.actions }),
    version: t.exposeInt('version', { description: 'Pass it as expectedVersion to update or delete.' }),
    templateId: t.string({ nullable: true, resolve: (workflow) => workflow.templateId ?? null }),
    createdAt: t.field({ type: 'DateTime', resolve: (workflow) => workflow.createdAt }),
    createdBy: t.exposeString('createdBy'),
    updatedAt: t.field({ type: 'DateTime', resolve: (workflow) => workflow.updatedAt }),
    updatedBy: t.exposeString('updatedBy'),
  }),
});

const TemplateRef = builder.objectRef<WorkflowTemplate>('WorkflowTemplate').implement({
  description: 'A workflow shipped with Stratum; instantiateWorkflowTemplate creates it for the tenant.',
  fields: (t) => ({
    id: t.exposeString('id'),
    name: t.exposeString('name'),
    description: t.exposeString('description'),
    trigger: t.field({ type: WorkflowTriggerEnum, resolve: (template) => template.definition.trigger }),
    conditions: t.field({ type: ConditionsRef, resolve: (template) => template.definition.conditions }),
    actions: t.field({ type: [ActionRef], resolve: (template) => template.definition.actions }),
    requiresChannels: t.exposeBoolean('requiresChannels', { description: 'Whether instantiating needs alertChannelIds.' }),
  }),
});

const finders = new WeakMap<GraphQLContext, OccurrenceFinder>();
function finderOf(context: GraphQLContext): OccurrenceFinder {
  let finder = finders.get(context);
  if (!finder) {
    finder = new OccurrenceFinder(context);
    finders.set(context, finder);
  }
  return finder;
}

const ViolationRef = builder.objectRef<Violation>('Violation').implement({
  description: 'An SLA due date that passed while the finding was still actionable.',
  fields: (t) => ({
    id: t.exposeString('id'),
    state: t.field({ type: ViolationStateEnum, resolve: (violation) => violation.state }),
    severity: t.field({ type: SeverityEnum, resolve: (violation) => violation.severity }),
    repository: t.exposeString('repository'),
    vulnerabilityId: t.exposeString('vulnerabilityId'),
    packageName: t.exposeString('packageName'),
    packageVersion: t.string({ description: 'The version when the violation opened.', resolve: (violation) => violation.finding.packageVersion }),
    finding: t.field({
      type: FindingRef,
      nullable: true,
      description: "The finding in the repository's latest scanned image; null once it is gone from it.",
      resolve: async (violation, _args, context) => (await finderOf(context).find(violation.repository, violation.vulnerabilityId, violation.packageIdentity)) ?? null,
    }),
    rule: t.field({ type: WorkflowRef, nullable: true, description: 'The SLA workflow; null when it was deleted.', resolve: async (violation, _args, context) => (await context.store.governance.getWorkflow(violation.workflowId)) ?? null }),
    ruleId: t.string({ resolve: (violation) => violation.workflowId }),
    firstSeenAt: t.field({ type: 'DateTime', resolve: (violation) => violation.firstSeenAt }),
    dueDate: t.field({ type: 'DateTime', resolve: (violation) => violation.dueDate }),
    openedAt: t.field({ type: 'DateTime', resolve: (violation) => violation.openedAt }),
    escalatedAt: t.field({ type: 'DateTime', nullable: true, resolve: (violation) => violation.escalatedAt ?? null }),
    closedAt: t.field({ type: 'DateTime', nullable: true, resolve: (violation) => violation.closedAt ?? null }),
    closeReason: t.field({ type: ViolationCloseReasonEnum, nullable: true, resolve: (violation) => violation.closeReason ?? null }),
    alertKeys: t.stringList({ description: 'Idempotency keys of the alerts dispatched for it, such as violation#<id>#OPENED.', resolve: (violation) => violation.alertKeys }),
    alerts: t.connection({
      type: AlertDeliveryRef,
      description: 'Deliveries of the alerts it sent, one per channel, oldest first.',
      resolve: async (violation, args, context) => toConnection(await context.store.alerts.listDeliveries(violation.id, forwardPage(args)), (delivery) => delivery),
    }),
  }),
});

interface SlaStatus {
  record: SlaRecord;
  now: Date;
}

const SlaStatusRef = builder.objectRef<SlaStatus>('SlaStatus').implement({
  description: "A finding's SLA deadline, kept per repository, vulnerability and package across re-scans and new digests.",
  fields: (t) => ({
    firstSeenAt: t.field({ type: 'DateTime', resolve: ({ record }) => record.firstSeenAt }),
    dueDate: t.field({ type: 'DateTime', resolve: ({ record }) => record.dueDate }),
    daysLeft: t.int({ description: 'Whole days until the due date, a started day counting as one: 7 just after a 7-day deadline is set, 1 during its last day, 0 during the first day after it, then negative.', resolve: ({ record, now }) => daysLeft(record.dueDate, now) }),
    tracking: t.field({ type: SlaTrackingEnum, resolve: ({ record }) => record.tracking }),
    baseImage: t.string({ nullable: true, description: 'For VENDOR tracking: the base image whose vendor owns the fix.', resolve: ({ record }) => record.baseImage?.name ?? record.baseImage?.digest ?? null }),
    rule: t.field({ type: WorkflowRef, nullable: true, resolve: async ({ record }, _args, context) => (await context.store.governance.getWorkflow(record.workflowId)) ?? null }),
  }),
});

const slaLoaders = new WeakMap<GraphQLContext, DataLoader<string, SlaRecord | undefined>>();
function slaLoaderOf(context: GraphQLContext): DataLoader<string, SlaRecord | undefined> {
  let loader = slaLoaders.get(context);
  if (!loader) {
    loader = new DataLoader(async (recordKeys) => {
      const found = await context.store.governance.getSlaRecords([...recordKeys]);
      return recordKeys.map((recordKey) => found.get(recordKey));
    });
    slaLoaders.set(context, loader);
  }
  return loader;
}

builder.objectFields(FindingRef, (t) => ({
  slaStatus: t.field({
    type: SlaStatusRef,
    nullable: true,
    description: 'The SLA deadline, when an SLA workflow covers the finding; null otherwise and for images without a repository.',
    resolve: async ({ finding, image }, _args, context) => {
      if (!image.repository) return null;
      const record = await slaLoaderOf(context).load(slaRecordKey(image.repository, finding.vulnerabilityId, packageIdentity(finding)));
      return record?.state === 'ACTIVE' ? { record, now: context.clock.now() } : null;
    },
  }),
}));

// ---- inputs ------------------------------------------------------------------------------

const SlaDaysInput = builder.inputType('SlaDaysInput', {
  fields: (t) => ({
    severity: t.field({ type: SeverityEnum, required: true }),
    days: t.int({ required: true }),
  }),
});

const ConditionsInput = builder.inputType('WorkflowConditionsInput', {
  description: 'Every condition given must hold; any value within a list may.',
  fields: (t) => ({
    severities: t.field({ type: [SeverityEnum], required: false }),
    origins: t.field({ type: [LayerOriginEnum], required: false }),
    reachability: t.field({ type: [ReachabilityEnum], required: false }),
    actionable: t.boolean({ required: false }),
    kev: t.boolean({ required: false }),
    minEpss: t.float({ required: false, description: 'Minimum EPSS probability, 0 to 1.' }),
    repositories: t.stringList({ required: false, description: 'Repository globs: * within one path segment, ** across segments.' }),
  }),
});

const ActionInput = builder.inputType('WorkflowActionInput', {
  description: 'One action; set only the fields of its type.',
  fields: (t) => ({
    type: t.field({ type: WorkflowActionTypeEnum, required: true }),
    days: t.field({ type: [SlaDaysInput], required: false, description: 'SET_SLA: days from first seen to the due date.' }),
    baseLayerTracking: t.field({ type: BaseLayerTrackingEnum, required: false, description: 'SET_SLA: VENDOR unless given.' }),
    baseLayerDays: t.field({ type: [SlaDaysInput], required: false, description: 'SET_SLA with OWN_DAYS: days for base-layer findings; days applies when absent.' }),
    channelIds: t.stringList({ required: false, description: 'ALERT: alert channel ids.' }),
    escalationChannelIds: t.stringList({ required: false, description: 'ALERT: channel ids for the escalation.' }),
    graceDays: t.int({ required: false, description: 'ALERT: days before escalation; 3 when escalation channels are given without it.' }),
    notifyOnClose: t.boolean({ required: false, description: 'ALERT: also alert when a violation closes.' }),
  }),
});

const WorkflowInput = builder.inputType('WorkflowInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    enabled: t.boolean({ required: false, description: 'True unless given.' }),
    trigger: t.field({ type: WorkflowTriggerEnum, required: true }),
    conditions: t.field({ type: ConditionsInput, required: false }),
    actions: t.field({ type: [ActionInput], required: true }),
  }),
});

const TemplateOverridesInput = builder.inputType('WorkflowTemplateOverrides', {
  description: "Changes to a template: conditions are merged over the template's, the alert fields set its ALERT action, slaDays replaces its SLA days.",
  fields: (t) => ({
    name: t.string({ required: false }),
    enabled: t.boolean({ required: false }),
    conditions: t.field({ type: ConditionsInput, required: false }),
    alertChannelIds: t.stringList({ required: false }),
    escalationChannelIds: t.stringList({ required: false }),
    graceDays: t.int({ required: false }),
    notifyOnClose: t.boolean({ required: false }),
    slaDays: t.field({ type: [SlaDaysInput], required: false }),
  }),
});

const ViolationFilterInput = builder.inputType('ViolationFilter', {
  fields: (t) => ({
    states: t.field({ type: [ViolationStateEnum], required: false }),
    severities: t.field({ type: [SeverityEnum], required: false }),
    repository: t.string({ required: false }),
    ruleId: t.string({ required: false, description: 'A workflow id.' }),
  }),
});

type DaysInput = Array<{ severity: Severity; days: number }> | null | undefined;

/** Turns a severity list into the core's map; a severity given twice is an error naming the field. */
function toDays(list: DaysInput, path: string): SlaDays | undefined {
  if (list == null) return undefined;
  const days: SlaDays = {};
  list.forEach((entry, index) => {
    if (days[entry.severity] !== undefined) throw new InvalidInputError(`Invalid ${path}[${index}].severity: ${entry.severity} is listed twice`, { format: 'workflow', path: `${path}[${index}].severity`, value: entry.severity });
    days[entry.severity] = entry.days;
  });
  return days;
}

type WorkflowInputShape = typeof WorkflowInput.$inferInput;

/** Maps GraphQL input to the core's definition shape; the core validates it and names any bad field. */
function toDefinition(input: WorkflowInputShape): unknown {
  return {
    ...input,
    actions: input.actions.map((action, index) => ({
      ...action,
      days: toDays(action.days, `input.actions[${index}].days`),
      baseLayerDays: toDays(action.baseLayerDays, `input.actions[${index}].baseLayerDays`),
    })),
  };
}

const WORKFLOW_ID = /^[0-9a-f-]{36}$/;
function checkWorkflowId(id: string): string {
  if (!WORKFLOW_ID.test(id)) throw new InvalidInputError(`Invalid workflow id ${JSON.stringify(id)}: expected a UUID, as workflows lists them`, { path: 'id', value: id });
  return id;
}

function exploitFactsOf(context: GraphQLContext) {
  return async (ids: readonly string[]): Promise<Map<string, ExploitFacts>> => {
    const facts = await context.exploitFacts.loadMany([...ids]);
    return new Map(ids.map((id, index) => [id.toUpperCase(), facts[index] instanceof Error ? {} : (facts[index] as ExploitFacts)]));
  };
}

/** Builds the context of workflow changes; the facts let a new SLA workflow's backfill check kev and minEpss. */
function governanceContext(context: GraphQLContext) {
  return { store: context.store, clock: context.clock, logger: context.logger, actor: context.actor, exploitFacts: exploitFactsOf(context) };
}

// ---- fields ------------------------------------------------------------------------------

builder.queryFields((t) => ({
  workflows: t.connection({
    type: WorkflowRef,
    description: "The tenant's workflows, oldest first.",
    resolve: async (_root, args, context) => toConnection(await context.store.governance.listWorkflows(forwardPage(args)), (workflow) => workflow),
  }),
  workflow: t.field({
    type: WorkflowRef,
    nullable: true,
    args: { id: t.arg.string({ required: true }) },
    resolve: async (_root, args, context) => (await context.store.governance.getWorkflow(checkWorkflowId(args.id))) ?? null,
  }),
  workflowTemplates: t.field({ type: [TemplateRef], description: 'Workflows shipped with Stratum.', resolve: () => [...WORKFLOW_TEMPLATES] }),
  violations: t.connection({
    type: ViolationRef,
    description: 'SLA violations, newest first.',
    args: { filter: t.arg({ type: ViolationFilterInput, required: false }) },
    resolve: async (_root, args, context) => {
      const filter = args.filter ?? {};
      const page = await context.store.governance.listViolations(
        { states: filter.states ?? undefined, severities: filter.severities ?? undefined, repository: filter.repository ?? undefined, ruleId: filter.ruleId ?? undefined },
        forwardPage(args),
      );
      return toConnection(page, (violation) => violation);
    },
  }),
}));

builder.mutationFields((t) => ({
  createWorkflow: t.field({
    type: WorkflowRef,
    args: { input: t.arg({ type: WorkflowInput, required: true }) },
    resolve: (_root, { input }, context) => createWorkflow(governanceContext(context), toDefinition(input)),
  }),
  updateWorkflow: t.field({
    type: WorkflowRef,
    description: 'Replaces a workflow; fails with CONFLICT unless expectedVersion is its current version. Disable it with enabled: false.',
    args: { id: t.arg.string({ required: true }), expectedVersion: t.arg.int({ required: true }), input: t.arg({ type: WorkflowInput, required: true }) },
    resolve: (_root, args, context) => updateWorkflow(governanceContext(context), checkWorkflowId(args.id), args.expectedVersion, toDefinition(args.input)),
  }),
  deleteWorkflow: t.field({
    type: 'String',
    description: "Deletes a workflow at expectedVersion and returns its id; its open violations close on the next daily pass.",
    args: { id: t.arg.string({ required: true }), expectedVersion: t.arg.int({ required: true }) },
    resolve: async (_root, args, context) => {
      await deleteWorkflow(governanceContext(context), checkWorkflowId(args.id), args.expectedVersion);
      return args.id;
    },
  }),
  instantiateWorkflowTemplate: t.field({
    type: WorkflowRef,
    description: 'Creates a workflow from a template in one step.',
    args: { templateId: t.arg.string({ required: true }), overrides: t.arg({ type: TemplateOverridesInput, required: false }) },
    resolve: (_root, args, context) => {
      const overrides = args.overrides ?? {};
      return instantiateWorkflowTemplate(governanceContext(context), args.templateId, {
        name: overrides.name ?? undefined,
        enabled: overrides.enabled ?? undefined,
        conditions: (overrides.conditions ?? undefined) as WorkflowConditions | undefined,
        alertChannelIds: overrides.alertChannelIds ?? undefined,
        escalationChannelIds: overrides.escalationChannelIds ?? undefined,
        graceDays: overrides.graceDays ?? undefined,
        notifyOnClose: overrides.notifyOnClose ?? undefined,
        slaDays: toDays(overrides.slaDays, 'overrides.slaDays'),
      });
    },
  }),
}));

const SlaPassRef = builder.objectRef<SlaPassReport>('SlaEscalationRun').implement({
  description: "One run of the SLA pass for the tenant, on demand or by the daily schedule.",
  fields: (t) => ({
    ranAt: t.field({ type: 'DateTime', resolve: (report) => report.ranAt }),
    dueRecords: t.exposeInt('dueRecords', { description: 'SLA records whose due date had passed.' }),
    opened: t.exposeInt('opened', { description: 'Violations opened by this run.' }),
    escalated: t.exposeInt('escalated', { description: 'Violations escalated by this run.' }),
    closed: t.exposeInt('closed', { description: 'Violations closed by this run.' }),
    resolvedRecords: t.exposeInt('resolvedRecords', { description: 'Due SLA records whose finding is gone from the repository, so they open nothing.' }),
    alertsDispatched: t.int({
      description: 'Alerts handed to delivery by this run; the deliveries themselves are sent in the background and listed on each violation. Zero when the server has no alert dispatcher.',
      resolve: (report) => report.alertsSent,
    }),
  }),
});

builder.mutationFields((t) => ({
  // NOTE: on Lambda this request is bounded by the function's 10 s timeout. A tenant with thousands of
  // due records may need several runs; each continues the last, because every step of the pass is idempotent.
  runSlaEscalation: t.field({
    type: SlaPassRef,
    description: 'Runs the SLA pass for the tenant now, as the daily schedule does: opens, escalates and closes violations and dispatches their alerts. Running it again sends no alert twice.',
    resolve: (_root, _args, context) =>
      runSlaEscalation({
        store: context.store,
        clock: context.clock,
        logger: context.logger,
        alerts: context.alerts,
        exploitFacts: exploitFactsOf(context),
      }),
  }),
}));
