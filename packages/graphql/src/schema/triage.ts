import {
  assessRisk,
  createSuppression,
  endSuppression,
  InvalidInputError,
  NotFoundError,
  parseDigest,
  parseRiskPolicy,
  previewSuppression,
  RISK_TIERS,
  SUPPRESSION_REASONS,
  SUPPRESSION_SCOPES,
  SUPPRESSION_STATES,
  AUDIT_ACTIONS,
  runSuppressionAudit,
  type RuleAuditOutcome,
  type SuppressionAuditReport,
  VEX_JUSTIFICATIONS,
  VEX_STATUSES,
  type AuditRecord,
  type Risk,
  type SuppressionRequest,
  type SuppressionRule,
} from '@stratum/core';

import { builder } from '../builder.ts';
import type { GraphQLContext } from '../context.ts';
import { LayerOriginEnum, ReachabilityEnum, SeverityEnum } from './enums.ts';
import { FindingRef } from './finding.ts';
import { forwardPage, toConnection } from './paging.ts';
import { validateVulnerabilityId } from './validate.ts';

const RiskTierEnum = builder.enumType('RiskTier', { values: RISK_TIERS });
const SuppressionReasonEnum = builder.enumType('SuppressionReason', { values: SUPPRESSION_REASONS });
const SuppressionScopeEnum = builder.enumType('SuppressionScopeKind', { values: SUPPRESSION_SCOPES });
const SuppressionStateEnum = builder.enumType('SuppressionState', { values: SUPPRESSION_STATES });
const AuditActionEnum = builder.enumType('AuditAction', { values: AUDIT_ACTIONS });
const JustificationEnum = builder.enumType('SuppressionJustification', { values: VEX_JUSTIFICATIONS });
const VexStatusOrNoneEnum = builder.enumType('SuppressionVexStatus', { values: [...VEX_STATUSES, 'NONE'] as const });

const RiskRef = builder.objectRef<Risk>('Risk').implement({
  description: 'How urgent a finding is, from its severity, exploit data, VEX, reachability, layer origin and fix.',
  fields: (t) => ({
    score: t.exposeFloat('score', { description: '0 to 100.' }),
    tier: t.field({ type: RiskTierEnum, resolve: (risk) => risk.tier }),
    actionable: t.exposeBoolean('actionable', { description: 'False exactly when the finding is suppressed, VEX states not_affected or fixed, or the code is UNREACHABLE with evidence.' }),
    reasons: t.exposeStringList('reasons', { description: 'Plain sentences, the most important first.' }),
    policyVersion: t.exposeInt('policyVersion'),
  }),
});

const SuppressionRef = builder.objectRef<SuppressionRule>('Suppression').implement({
  description: 'A rule that suppresses matching findings, now and in later scans, until it expires or is revoked.',
  fields: (t) => ({
    id: t.exposeString('id'),
    reason: t.field({ type: SuppressionReasonEnum, resolve: (rule) => rule.reason }),
    justification: t.field({ type: JustificationEnum, nullable: true, resolve: (rule) => rule.justification }),
    comment: t.exposeString('comment'),
    scope: t.field({ type: SuppressionScopeEnum, resolve: (rule) => rule.scope.kind }),
    repository: t.string({ nullable: true, resolve: (rule) => rule.scope.repository }),
    imageDigest: t.string({ nullable: true, resolve: (rule) => rule.scope.imageDigest }),
    filter: t.field({ type: 'JSON', resolve: (rule) => rule.filter }),
    state: t.field({ type: SuppressionStateEnum, resolve: (rule) => rule.state }),
    createdBy: t.exposeString('createdBy'),
    createdAt: t.field({ type: 'DateTime', resolve: (rule) => rule.createdAt }),
    expiresAt: t.field({ type: 'DateTime', nullable: true, resolve: (rule) => rule.expiresAt }),
    appliedCount: t.exposeInt('appliedCount', { description: 'Findings suppressed when the rule was created.' }),
    endedAt: t.field({ type: 'DateTime', nullable: true, resolve: (rule) => rule.endedAt }),
    endedBy: t.exposeString('endedBy', { nullable: true }),
    endReason: t.exposeString('endReason', { nullable: true }),
    flaggedAt: t.field({ type: 'DateTime', nullable: true, resolve: (rule) => rule.flaggedAt }),
    flagReasons: t.stringList({ nullable: true, resolve: (rule) => rule.flagReasons }),
  }),
});

const AuditRecordRef = builder.objectRef<AuditRecord>('AuditRecord').implement({
  description: 'An append-only record of a triage change.',
  fields: (t) => ({
    id: t.exposeString('id'),
    at: t.field({ type: 'DateTime', resolve: (record) => record.at }),
    actor: t.exposeString('actor'),
    action: t.field({ type: AuditActionEnum, resolve: (record) => record.action }),
    reason: t.exposeString('reason', { nullable: true }),
    imageKey: t.exposeString('imageKey', { nullable: true }),
    findingId: t.exposeString('findingId', { nullable: true }),
    suppressionId: t.string({ nullable: true, resolve: (record) => record.ruleId }),
    before: t.field({ type: 'JSON', nullable: true, resolve: (record) => record.before ?? null }),
    after: t.field({ type: 'JSON', nullable: true, resolve: (record) => record.after ?? null }),
  }),
});

builder.objectFields(FindingRef, (t) => ({
  risk: t.field({
    type: RiskRef,
    resolve: async ({ finding }, _args, context) => {
      const [facts, policy] = await Promise.all([context.exploitFacts.load(finding.vulnerabilityId), policyOf(context)]);
      return assessRisk(finding, facts, policy, context.clock.now());
    },
  }),
  suppression: t.field({
    type: SuppressionRef,
    nullable: true,
    description: 'The rule that suppresses the finding, including one that has expired but not yet been lapsed by the audit.',
    resolve: async ({ finding }, _args, context) => (finding.suppression ? ((await context.store.triage.getRule(finding.suppression.ruleId)) ?? null) : null),
  }),
  auditTrail: t.connection({
    type: AuditRecordRef,
    resolve: async ({ finding, image }, args, context) => toConnection(await context.store.triage.listAudit({ findingOf: { imageKey: image.key, findingId: finding.id } }, forwardPage(args)), (record) => record),
  }),
}));

const policies = new WeakMap<GraphQLContext, Promise<import('@stratum/core').RiskPolicy>>();
function policyOf(context: GraphQLContext) {
  let policy = policies.get(context);
  if (!policy) {
    policy = context.store.triage.getPolicy();
    policies.set(context, policy);
  }
  return policy;
}

const SuppressionFilterInput = builder.inputType('SuppressionFilterInput', {
  description: 'Findings a suppression covers; every field given must hold, any value within a field may.',
  fields: (t) => ({
    vulnerabilityIds: t.stringList({ required: false }),
    packagePurls: t.stringList({ required: false, description: 'Package purls; one without version covers every version.' }),
    packageNames: t.stringList({ required: false }),
    origins: t.field({ type: [LayerOriginEnum], required: false }),
    vexStatuses: t.field({ type: [VexStatusOrNoneEnum], required: false }),
    reachability: t.field({ type: [ReachabilityEnum], required: false }),
    severities: t.field({ type: [SeverityEnum], required: false }),
  }),
});

const SuppressionInput = builder.inputType('SuppressionInput', {
  fields: (t) => ({
    filter: t.field({ type: SuppressionFilterInput, required: true }),
    scope: t.field({ type: SuppressionScopeEnum, required: true }),
    imageDigest: t.string({ required: false, description: 'For scope IMAGE.' }),
    repository: t.string({ required: false, description: 'For scope REPOSITORY: the rule also covers digests pushed later.' }),
    reason: t.field({ type: SuppressionReasonEnum, required: true }),
    justification: t.field({ type: JustificationEnum, required: false, description: 'Required with reason NOT_AFFECTED.' }),
    comment: t.string({ required: true }),
    expiresAt: t.field({ type: 'DateTime', required: false, description: "Defaults to the risk policy's lifetime (90 days unless changed)." }),
    noExpiry: t.boolean({ required: false, description: 'A rule without expiry, when the risk policy allows it.' }),
  }),
});

type SuppressionInputShape = typeof SuppressionInput.$inferInput;

function toRequest(input: SuppressionInputShape): SuppressionRequest {
  const filter = input.filter;
  return {
    filter: {
      vulnerabilityIds: filter.vulnerabilityIds?.map((id) => validateVulnerabilityId(id, 'filter.vulnerabilityIds')) ?? undefined,
      packagePurls: filter.packagePurls ?? undefined,
      packageNames: filter.packageNames ?? undefined,
      origins: filter.origins ?? undefined,
      vexStatuses: filter.vexStatuses ?? undefined,
      reachability: filter.reachability ?? undefined,
      severities: filter.severities ?? undefined,
    },
    scope: {
      kind: input.scope,
      imageDigest: input.imageDigest == null ? undefined : parseDigest(input.imageDigest, 'imageDigest'),
      repository: input.repository ?? undefined,
    },
    reason: input.reason,
    justification: input.justification ?? undefined,
    comment: input.comment,
    expiresAt: input.expiresAt ?? undefined,
    noExpiry: input.noExpiry ?? undefined,
  };
}

function triageContext(context: GraphQLContext) {
  return { store: context.store, clock: context.clock, logger: context.logger, actor: context.actor };
}

const PreviewRef = builder.objectRef<{ count: number; sample: Array<{ finding: import('@stratum/core').Finding; image: import('@stratum/core').Image }> }>('SuppressionPreview').implement({
  fields: (t) => ({
    count: t.exposeInt('count', { description: 'Current findings the rule would suppress.' }),
    sample: t.field({ type: [FindingRef], description: 'Up to 20 of them.', resolve: (preview) => preview.sample }),
  }),
});

const SuppressResultRef = builder.objectRef<{ rule: SuppressionRule; suppressedCount: number }>('SuppressResult').implement({
  fields: (t) => ({
    suppression: t.field({ type: SuppressionRef, resolve: (result) => result.rule }),
    suppressedCount: t.exposeInt('suppressedCount'),
  }),
});

const RevokeResultRef = builder.objectRef<{ rule: SuppressionRule; reopenedCount: number }>('RevokeSuppressionResult').implement({
  fields: (t) => ({
    suppression: t.field({ type: SuppressionRef, resolve: (result) => result.rule }),
    reopenedCount: t.exposeInt('reopenedCount'),
  }),
});

const SUPPRESSION_ID = /^[0-9a-f-]{36}$/;

builder.mutationFields((t) => ({
  previewSuppression: t.field({
    type: PreviewRef,
    description: 'Counts the findings a suppression would cover, with a sample, without changing anything.',
    args: { input: t.arg({ type: SuppressionInput, required: true }) },
    resolve: (_root, { input }, context) => previewSuppression(triageContext(context), toRequest(input)),
  }),
  suppressFindings: t.field({
    type: SuppressResultRef,
    description: 'Creates a suppression rule and applies it to current and later findings it covers.',
    args: { input: t.arg({ type: SuppressionInput, required: true }) },
    resolve: (_root, { input }, context) => createSuppression(triageContext(context), toRequest(input)),
  }),
  revokeSuppression: t.field({
    type: RevokeResultRef,
    description: 'Revokes a suppression; its findings reopen unless another rule covers them.',
    args: { id: t.arg.string({ required: true }), reason: t.arg.string({ required: true }) },
    resolve: (_root, args, context) => {
      if (!SUPPRESSION_ID.test(args.id)) throw new InvalidInputError(`Invalid suppression id ${JSON.stringify(args.id)}: expected a UUID, as suppressions lists them`, { path: 'id', value: args.id });
      if (args.reason.trim() === '') throw new InvalidInputError('Missing reason: say why the suppression is revoked, for the audit trail', { path: 'reason' });
      return endSuppression(triageContext(context), args.id, 'REVOKED', args.reason.trim());
    },
  }),
  updateRiskPolicy: t.field({
    type: 'JSON',
    description: 'Stores a new version of the risk policy; the version must be one above the current one.',
    args: { policy: t.arg({ type: 'JSON', required: true }), comment: t.arg.string({ required: true }) },
    resolve: async (_root, args, context) => {
      const current = await context.store.triage.getPolicy();
      const next = parseRiskPolicy(args.policy);
      if (next.version !== current.version + 1) {
        throw new InvalidInputError(`Invalid policy version ${next.version}: the current version is ${current.version}, so the next one is ${current.version + 1}`, { path: 'policy.version', value: next.version });
      }
      await context.store.triage.putPolicy(next);
      await context.store.triage.appendAudit([{ at: context.clock.now().toISOString(), actor: context.actor, action: 'RISK_POLICY_CHANGED', reason: args.comment, before: current, after: next }]);
      return next;
    },
  }),
}));

const RuleAuditRef = builder.objectRef<RuleAuditOutcome>('SuppressionAuditRule').implement({
  fields: (t) => ({
    suppressionId: t.string({ resolve: (outcome) => outcome.ruleId }),
    comment: t.exposeString('comment'),
    outcome: t.exposeString('outcome', { description: 'LAPSED (expired), FLAGGED (changed, kept by policy), REOPENED (changed, ended by policy) or KEPT.' }),
    reasons: t.exposeStringList('reasons'),
    reopenedCount: t.exposeInt('reopenedCount'),
  }),
});

const AuditReportRef = builder.objectRef<SuppressionAuditReport>('SuppressionAudit').implement({
  description: 'A review of every active suppression, run each quarter or on demand.',
  fields: (t) => ({
    id: t.exposeString('id'),
    ranAt: t.field({ type: 'DateTime', resolve: (report) => report.ranAt }),
    ranBy: t.exposeString('ranBy'),
    policyVersion: t.exposeInt('policyVersion'),
    reviewed: t.exposeInt('reviewed', { description: 'Active rules reviewed.' }),
    lapsed: t.exposeInt('lapsed', { description: 'Rules that had expired and lapsed.' }),
    flagged: t.exposeInt('flagged', { description: 'Rules flagged because their findings changed, whether ended or kept by policy.' }),
    reopened: t.exposeInt('reopened', { description: 'Findings reopened by lapsed and ended rules.' }),
    rules: t.field({ type: [RuleAuditRef], resolve: (report) => report.rules }),
  }),
});

builder.mutationFields((t) => ({
  runSuppressionAudit: t.field({
    type: AuditReportRef,
    description: 'Runs the suppression audit now, as the quarterly schedule does, and stores its report.',
    resolve: (_root, _args, context) =>
      runSuppressionAudit(triageContext(context), {
        exploitFacts: async (ids) => {
          const facts = await context.exploitFacts.loadMany([...ids]);
          return new Map(ids.map((id, index) => [id.toUpperCase(), facts[index] instanceof Error ? {} : facts[index]!]));
        },
      }),
  }),
}));

builder.queryFields((t) => ({
  suppressionAudits: t.connection({
    type: AuditReportRef,
    description: 'Stored suppression audit reports, newest first.',
    resolve: async (_root, args, context) => toConnection(await context.store.triage.listAuditReports(forwardPage(args)), (report) => report),
  }),
  suppressions: t.connection({
    type: SuppressionRef,
    description: 'Suppression rules, newest first.',
    args: { state: t.arg({ type: SuppressionStateEnum, required: false }) },
    resolve: async (_root, args, context) => toConnection(await context.store.triage.listRules(forwardPage(args), args.state ?? undefined), (rule) => rule),
  }),
  suppression: t.field({
    type: SuppressionRef,
    nullable: true,
    args: { id: t.arg.string({ required: true }) },
    resolve: async (_root, args, context) => (await context.store.triage.getRule(args.id)) ?? null,
  }),
  suppressionAuditTrail: t.connection({
    type: AuditRecordRef,
    description: 'Audit records of one suppression: its creation, every finding it changed, its end.',
    args: { id: t.arg.string({ required: true }) },
    resolve: async (_root, args, context) => toConnection(await context.store.triage.listAudit({ rule: args.id }, forwardPage(args)), (record) => record),
  }),
  imageAuditTrail: t.connection({
    type: AuditRecordRef,
    description: 'Audit records of the findings of one image.',
    args: { digest: t.arg.string({ required: true }) },
    resolve: async (_root, args, context) => {
      const image = await context.store.getImage(parseDigest(args.digest, 'digest'));
      if (!image) throw new NotFoundError('Image', args.digest);
      return toConnection(await context.store.triage.listAudit({ image: image.key }, forwardPage(args)), (record) => record);
    },
  }),
  tenantAuditTrail: t.connection({
    type: AuditRecordRef,
    description: 'Audit records of the tenant itself, such as risk policy changes, oldest first.',
    resolve: async (_root, args, context) => toConnection(await context.store.triage.listTenantAudit(forwardPage(args)), (record) => record),
  }),
  riskPolicy: t.field({ type: 'JSON', description: "The tenant's current risk policy.", resolve: (_root, _args, context) => context.store.triage.getPolicy() }),
}));

export { RiskRef, SuppressionRef };
