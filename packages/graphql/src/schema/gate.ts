import {
  evaluateGate,
  GATE_DECISIONS,
  GATE_IGNORE_REASONS,
  GATE_PENDING_REASONS,
  GATE_POLICY_SOURCES,
  LAYER_ORIGINS,
  parseGatePolicy,
  parseGateTarget,
  SEVERITIES,
  type ExploitFacts,
  type GateFinding,
  type GateResult,
  type GateSummary,
} from '@stratum/core';

import { builder } from '../builder.ts';
import type { GraphQLContext } from '../context.ts';
import { withRepositoryHint, type GateResultWithRepository } from '../gate-repository.ts';
import { LayerOriginEnum, SeverityEnum } from './enums.ts';
import { FindingRef } from './finding.ts';
import { ImageRef } from './image.ts';
import { parseJsonString } from './validate.ts';
import { RiskRef } from './triage.ts';

const GateDecisionEnum = builder.enumType('GateDecision', {
  description: 'PASS: no finding fails the policy. FAIL: at least one does. PENDING: the image or its scan is not there yet, or the scan is older than the policy accepts.',
  values: GATE_DECISIONS,
});

const GatePendingReasonEnum = builder.enumType('GatePendingReason', {
  description: 'IMAGE_NOT_FOUND: no push or report has named the image yet. SCAN_PENDING: the image is stored but has no scan. SCAN_TOO_OLD: the scan is older than maxScanAgeHours.',
  values: GATE_PENDING_REASONS,
});

const GateIgnoreReasonEnum = builder.enumType('GateIgnoreReason', {
  description: 'Why a finding that a rule covers did not fail the gate; NO_RULE_MATCHED counts findings that no rule covers at all.',
  values: GATE_IGNORE_REASONS,
});

const GatePolicySourceEnum = builder.enumType('GatePolicySource', {
  description: "ARGUMENT: the request's policy. WORKFLOWS: the tenant's enabled GATE workflows. DEFAULT: the built-in policy.",
  values: GATE_POLICY_SOURCES,
});

const GateFindingRef = builder.objectRef<GateFinding & { image: NonNullable<GateResult['image']> }>('GateFinding').implement({
  description: 'A finding that failed the gate, with the rule that caught it.',
  fields: (t) => ({
    finding: t.field({ type: FindingRef, resolve: (item) => ({ finding: item.finding, image: item.image }) }),
    rule: t.exposeString('rule', { description: 'Name of the policy rule that caught the finding.' }),
    risk: t.field({ type: RiskRef, description: 'The risk the rule saw, scored when the gate was evaluated.', resolve: (item) => item.risk }),
    kev: t.boolean({ description: "Listed in CISA's Known Exploited Vulnerabilities catalog.", resolve: (item) => item.facts.kev !== undefined }),
    epss: t.float({ nullable: true, description: 'EPSS probability of exploitation in the next 30 days, 0 to 1.', resolve: (item) => item.facts.epss?.score }),
  }),
});

const SeverityCountRef = builder.objectRef<{ severity: (typeof SEVERITIES)[number]; count: number }>('GateSeverityCount').implement({
  fields: (t) => ({ severity: t.field({ type: SeverityEnum, resolve: (row) => row.severity }), count: t.exposeInt('count') }),
});

const OriginCountRef = builder.objectRef<{ origin: (typeof LAYER_ORIGINS)[number]; count: number }>('GateOriginCount').implement({
  fields: (t) => ({ origin: t.field({ type: LayerOriginEnum, resolve: (row) => row.origin }), count: t.exposeInt('count') }),
});

const IgnoredCountRef = builder.objectRef<{ reason: (typeof GATE_IGNORE_REASONS)[number]; count: number }>('GateIgnoredCount').implement({
  fields: (t) => ({ reason: t.field({ type: GateIgnoreReasonEnum, resolve: (row) => row.reason }), count: t.exposeInt('count') }),
});

const GateSummaryRef = builder.objectRef<GateSummary>('GateSummary').implement({
  description: "Counts over the image's current findings; every finding is either failing or ignored for one reason.",
  fields: (t) => ({
    total: t.exposeInt('total'),
    failing: t.exposeInt('failing'),
    bySeverity: t.field({ type: [SeverityCountRef], resolve: (summary) => SEVERITIES.map((severity) => ({ severity, count: summary.bySeverity[severity] })) }),
    byOrigin: t.field({ type: [OriginCountRef], resolve: (summary) => LAYER_ORIGINS.map((origin) => ({ origin, count: summary.byOrigin[origin] })) }),
    ignored: t.field({ type: [IgnoredCountRef], resolve: (summary) => GATE_IGNORE_REASONS.map((reason) => ({ reason, count: summary.ignored[reason] })) }),
  }),
});

const GateResultRef = builder.objectRef<GateResultWithRepository>('GateResult').implement({
  description: 'Whether an image may ship under a gate policy, and the findings that decided it.',
  fields: (t) => ({
    decision: t.field({ type: GateDecisionEnum, resolve: (result) => result.decision }),
    pendingReason: t.field({ type: GatePendingReasonEnum, nullable: true, resolve: (result) => result.pendingReason }),
    reasons: t.exposeStringList('reasons', { description: 'Plain sentences that explain the decision, the most important first.' }),
    image: t.field({ type: ImageRef, nullable: true, description: 'Null when the image is not known yet.', resolve: (result) => result.image }),
    findings: t.field({
      type: [GateFindingRef],
      description: 'The failing findings, highest risk first, at most 1000.',
      resolve: (result) => (result.image ? result.findings.map((item) => ({ ...item, image: result.image! })) : []),
    }),
    findingsTruncated: t.exposeBoolean('findingsTruncated', { description: 'True when more findings failed than `findings` lists; summary.failing has the full count.' }),
    summary: t.field({ type: GateSummaryRef, nullable: true, description: 'Null while the decision is PENDING.', resolve: (result) => result.summary }),
    policy: t.field({ type: 'JSON', description: 'The gate policy that was applied, with its defaults filled in.', resolve: (result) => result.policy }),
    policySource: t.field({ type: GatePolicySourceEnum, resolve: (result) => result.policySource }),
    evaluatedAt: t.field({ type: 'DateTime', resolve: (result) => result.evaluatedAt }),
    repositoryKnown: t.boolean({
      nullable: true,
      description: 'Whether the tenant has stored any image of the requested repository; null when the image was named by digest. False means waiting for the image is likely pointless.',
      resolve: (result) => result.repositoryKnown,
    }),
  }),
});

async function exploitFactsOf(context: GraphQLContext, ids: readonly string[]): Promise<Map<string, ExploitFacts>> {
  const facts = await context.exploitFacts.loadMany([...ids]);
  return new Map(ids.map((id, index) => [id.toUpperCase(), facts[index] instanceof Error ? {} : facts[index]!]));
}

builder.queryFields((t) => ({
  evaluateGate: t.field({
    type: GateResultRef,
    description:
      "Decides whether an image may ship: FAIL when a finding meets a rule of the policy, PASS otherwise, PENDING while the image or its scan is missing. Name the image by imageDigest, or by repository and tag. Without policy, the tenant's enabled GATE workflows apply, else the default policy.",
    args: {
      imageDigest: t.arg.string({ required: false, description: 'Manifest digest or image ID, such as sha256:…' }),
      repository: t.arg.string({ required: false, description: 'Repository as the image was pushed or reported, with tag.' }),
      tag: t.arg.string({ required: false }),
      policy: t.arg({
        type: 'JSON',
        required: false,
        description: 'A gate policy: { name, rules: [{ name, severities, origins, actionable, reachability, kev, minEpss, minRiskScore, fixableOnly, repositories }], failOnBase, maxScanAgeHours }.',
      }),
    },
    resolve: async (_root, args, context) => {
      const target = parseGateTarget(args);
      const policyInput = typeof args.policy === 'string' ? parseJsonString(args.policy, 'policy') : args.policy;
      const policy = policyInput == null ? undefined : parseGatePolicy(policyInput);

      const result = await evaluateGate(
        { store: context.store, logger: context.logger, exploitFacts: (ids) => exploitFactsOf(context, ids) },
        target,
        policy,
        context.clock.now(),
      );
      return withRepositoryHint(context.store, result, 'repository' in target ? target.repository : undefined);
    },
  }),
}));
