import { parseDigest } from '../digest.ts';
import { InvalidInputError } from '../errors.ts';
import type { Finding, LayerOrigin, ReachabilityStatus } from '../finding.ts';
import { LAYER_ORIGINS } from '../finding.ts';
import type { Image } from '../image/model.ts';
import type { Logger } from '../logger.ts';
import { SEVERITIES, severityRank, type Severity } from '../severity.ts';
import type { TenantStore } from '../store/store.ts';
import type { RiskPolicy } from '../triage/policy.ts';
import { assessRisk, isActionable, isSuppressed, isUnreachable, type ExploitFacts, type Risk } from '../triage/risk.ts';
import { repositoryMatches } from './conditions.ts';
import { DEFAULT_GATE_POLICY, type GatePolicy, type GateRule } from './gate-policy.ts';
import { findImageByTag } from './gate-target.ts';
import { policyFromGateWorkflows } from './gate-workflows.ts';

export const GATE_DECISIONS = ['PASS', 'FAIL', 'PENDING'] as const;
export type GateDecision = (typeof GATE_DECISIONS)[number];

/** Reasons for a PENDING result: the image is not stored yet, it has no scan yet, or its scan is older than the policy accepts. */
export const GATE_PENDING_REASONS = ['IMAGE_NOT_FOUND', 'SCAN_PENDING', 'SCAN_TOO_OLD'] as const;
export type GatePendingReason = (typeof GATE_PENDING_REASONS)[number];

/**
 * Reasons a finding did not fail the gate. Every reason except NO_RULE_MATCHED means that a
 * rule would have caught the finding without that exemption.
 */
export const GATE_IGNORE_REASONS = ['BASE_LAYER', 'SUPPRESSED', 'NOT_AFFECTED', 'FIXED', 'UNREACHABLE', 'NO_RULE_MATCHED'] as const;
export type GateIgnoreReason = (typeof GATE_IGNORE_REASONS)[number];

/** Sources of an evaluation's policy. A policy in the request wins over the tenant's GATE workflows. */
export const GATE_POLICY_SOURCES = ['ARGUMENT', 'WORKFLOWS', 'DEFAULT'] as const;
export type GatePolicySource = (typeof GATE_POLICY_SOURCES)[number];

/** The image a gate evaluates: a manifest digest (or image ID), or a repository and tag. */
export type GateTarget = { imageDigest: string } | { repository: string; tag: string };

/** A finding that failed the gate, with the rule that caught it and the facts the rule looked at. */
export interface GateFinding {
  finding: Finding;
  rule: string;
  risk: Risk;
  facts: ExploitFacts;
  reachability: ReachabilityStatus;
}

export interface GateSummary {
  /** Findings of the current scan. Each one is either failing or ignored for exactly one reason. */
  total: number;
  failing: number;
  bySeverity: Record<Severity, number>;
  byOrigin: Record<LayerOrigin, number>;
  ignored: Record<GateIgnoreReason, number>;
}

export interface GateResult {
  decision: GateDecision;
  pendingReason?: GatePendingReason;
  /** Plain sentences that explain the decision, the most important first. */
  reasons: string[];
  target: GateTarget;
  image?: Image;
  /** The failing findings, highest risk first, at most MAX_GATE_FINDINGS of them. */
  findings: GateFinding[];
  /** True when more findings failed than `findings` lists. summary.failing has the full count. */
  findingsTruncated: boolean;
  /** Absent while PENDING. */
  summary?: GateSummary;
  policy: GatePolicy;
  policySource: GatePolicySource;
  evaluatedAt: string;
}

export interface GateContext {
  store: TenantStore;
  logger: Logger;
  /** EPSS and KEV facts by vulnerability id. Without it, rules with `kev: true` or `minEpss` match nothing. */
  exploitFacts?: (vulnerabilityIds: readonly string[]) => Promise<Map<string, ExploitFacts>>;
}

/** Maximum number of failing findings one result lists. An image with more still fails, and the summary counts them all. */
export const MAX_GATE_FINDINGS = 1000;
const PAGE_SIZE = 500;

/** Checks the target's shape: exactly a digest, or a repository with a tag. */
export function parseGateTarget(input: { imageDigest?: string | null; repository?: string | null; tag?: string | null }): GateTarget {
  const digest = input.imageDigest?.trim();
  const repository = input.repository?.trim();
  const tag = input.tag?.trim();

  if (digest && (repository || tag)) {
    throw new InvalidInputError('Pass either imageDigest, or repository and tag, not both: a digest already names one image', { path: 'imageDigest', value: input.imageDigest });
  }
  if (digest) return { imageDigest: parseDigest(digest, 'imageDigest') };

  if (!repository && !tag) throw new InvalidInputError('Missing image: pass imageDigest, or repository and tag', { path: 'imageDigest' });
  if (!repository) throw new InvalidInputError(`Missing repository: tag ${JSON.stringify(tag)} needs the repository it belongs to`, { path: 'repository' });
  if (!tag) throw new InvalidInputError(`Missing tag: pass the tag of ${repository} to evaluate, or imageDigest`, { path: 'tag' });

  // A colon after the last slash starts a tag, while one before it belongs to a registry port.
  if (repository.length > 255 || /[\s@]/.test(repository) || repository.lastIndexOf(':') > repository.lastIndexOf('/')) {
    throw new InvalidInputError(`Invalid repository ${JSON.stringify(input.repository)}: expected a repository name such as team/app or registry.example.com/team/app, without tag or digest`, { path: 'repository', value: input.repository });
  }
  // The OCI Distribution specification's tag grammar.
  if (!/^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/.test(tag)) {
    throw new InvalidInputError(`Invalid tag ${JSON.stringify(input.tag)}: expected up to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'`, { path: 'tag', value: input.tag });
  }
  return { repository, tag };
}

function describeTarget(target: GateTarget): string {
  return 'imageDigest' in target ? target.imageDigest : `${target.repository}:${target.tag}`;
}

/** Picks the policy: the request's, else the tenant's GATE workflows, else the default. */
async function choosePolicy(context: GateContext, explicit: GatePolicy | undefined): Promise<{ policy: GatePolicy; source: GatePolicySource }> {
  if (explicit) return { policy: explicit, source: 'ARGUMENT' };

  const fromWorkflows = await policyFromGateWorkflows(context.store);
  if (fromWorkflows) return { policy: fromWorkflows, source: 'WORKFLOWS' };

  return { policy: DEFAULT_GATE_POLICY, source: 'DEFAULT' };
}

async function readAllFindings(store: TenantStore, image: Image): Promise<Finding[]> {
  const findings: Finding[] = [];
  let after: string | undefined;

  do {
    const page = await store.listFindings(image, {}, { first: PAGE_SIZE, after });
    findings.push(...page.items.map((item) => item.node));
    after = page.hasNextPage ? page.endCursor : undefined;
  } while (after);

  return findings;
}

interface Evaluated {
  finding: Finding;
  repository?: string;
  risk: Risk;
  facts: ExploitFacts;
  reachability: ReachabilityStatus;
}

/**
 * Checks a finding against a rule. Without exemptions, origin, actionable and reachability are
 * not checked, so the result shows whether a rule would have caught an ignored finding.
 */
function ruleMatches(rule: GateRule, item: Evaluated, policy: GatePolicy, now: Date, exemptions: boolean): boolean {
  const { finding, risk, facts, repository } = item;
  const origins = rule.origins ?? (policy.failOnBase ? LAYER_ORIGINS : (['APPLICATION', 'UNKNOWN'] as const));

  if (rule.severities && !rule.severities.includes(finding.severity)) return false;
  if (rule.kev !== undefined && (facts.kev !== undefined) !== rule.kev) return false;
  if (rule.minEpss !== undefined && (facts.epss === undefined || facts.epss.score < rule.minEpss)) return false;
  if (rule.minRiskScore !== undefined && risk.score < rule.minRiskScore) return false;
  if (rule.fixableOnly && !finding.fixedVersion) return false;
  if (!repositoryMatches(rule.repositories, repository)) return false;
  if (!exemptions) return true;

  if (!origins.includes(finding.origin)) return false;
  if (rule.actionable !== null && isActionable(finding, now) !== rule.actionable) return false;
  if (rule.reachability && !rule.reachability.includes(item.reachability)) return false;
  return true;
}

/** Names the exemption that kept a finding from failing, or NO_RULE_MATCHED when no rule covers it at all. */
function ignoreReason(item: Evaluated, policy: GatePolicy, now: Date): GateIgnoreReason {
  const { finding } = item;
  const coveredWithoutExemptions = policy.rules.some((rule) => ruleMatches(rule, item, policy, now, false));
  if (!coveredWithoutExemptions) return 'NO_RULE_MATCHED';

  if (finding.origin === 'BASE' && !policy.failOnBase) return 'BASE_LAYER';
  if (isSuppressed(finding, now)) return 'SUPPRESSED';
  if (finding.vex?.status === 'NOT_AFFECTED') return 'NOT_AFFECTED';
  if (finding.vex?.status === 'FIXED') return 'FIXED';
  if (isUnreachable(finding)) return 'UNREACHABLE';
  // A rule narrowed to some origins or reachability statuses that this finding lacks.
  return 'NO_RULE_MATCHED';
}

function zeroCounts<K extends string>(keys: readonly K[]): Record<K, number> {
  return Object.fromEntries(keys.map((key) => [key, 0])) as Record<K, number>;
}

function pending(base: Omit<GateResult, 'decision' | 'findings' | 'findingsTruncated' | 'reasons'>, reason: GatePendingReason, sentence: string): GateResult {
  return { ...base, decision: 'PENDING', pendingReason: reason, reasons: [sentence], findings: [], findingsTruncated: false };
}

/**
 * Decides whether an image may ship. Reads the image's current findings, scores each with the
 * tenant's risk policy and the exploit feeds, and fails the gate on every finding that a rule
 * of the policy catches. The result is PENDING, not FAIL, while the image or its scan is
 * missing or the scan is older than the policy accepts, so a pipeline can wait for it.
 */
export async function evaluateGate(context: GateContext, target: GateTarget, policy: GatePolicy | undefined, now: Date): Promise<GateResult> {
  const chosen = await choosePolicy(context, policy);
  const base = { target, policy: chosen.policy, policySource: chosen.source, evaluatedAt: now.toISOString() };
  const named = describeTarget(target);

  const image = 'imageDigest' in target ? await context.store.getImage(target.imageDigest) : await findImageByTag(context.store, target.repository, target.tag);
  if (!image) {
    return pending(base, 'IMAGE_NOT_FOUND', `Image ${named} is not known yet: it appears once its push or its scan report reaches Stratum.`);
  }
  if (!image.scan) {
    return pending({ ...base, image }, 'SCAN_PENDING', `Image ${named} has no scan yet: the gate decides once a scan report for it is imported.`);
  }

  const maxAgeHours = chosen.policy.maxScanAgeHours;
  const ageHours = (now.getTime() - Date.parse(image.scan.importedAt)) / 3_600_000;
  if (maxAgeHours !== undefined && ageHours > maxAgeHours) {
    return pending(
      { ...base, image },
      'SCAN_TOO_OLD',
      `The scan of ${named} was imported at ${image.scan.importedAt}, ${Math.floor(ageHours)} hours ago, and the policy accepts at most ${maxAgeHours}: rescan the image.`,
    );
  }

  const findings = await readAllFindings(context.store, image);
  const riskPolicy: RiskPolicy = await context.store.triage.getPolicy();
  const ids = [...new Set(findings.map((finding) => finding.vulnerabilityId))];
  const facts = context.exploitFacts ? await context.exploitFacts(ids) : new Map<string, ExploitFacts>();

  const summary: GateSummary = { total: findings.length, failing: 0, bySeverity: zeroCounts(SEVERITIES), byOrigin: zeroCounts(LAYER_ORIGINS), ignored: zeroCounts(GATE_IGNORE_REASONS) };
  const failing: GateFinding[] = [];

  for (const finding of findings) {
    const findingFacts = facts.get(finding.vulnerabilityId.toUpperCase()) ?? facts.get(finding.vulnerabilityId) ?? {};
    const item: Evaluated = { finding, repository: image.repository, facts: findingFacts, risk: assessRisk(finding, findingFacts, riskPolicy, now), reachability: finding.reachability?.status ?? 'UNKNOWN' };
    summary.bySeverity[finding.severity] += 1;
    summary.byOrigin[finding.origin] += 1;

    const rule = finding.origin === 'BASE' && !chosen.policy.failOnBase ? undefined : chosen.policy.rules.find((candidate) => ruleMatches(candidate, item, chosen.policy, now, true));
    if (rule) failing.push({ finding, risk: item.risk, facts: findingFacts, reachability: item.reachability, rule: rule.name });
    else summary.ignored[ignoreReason(item, chosen.policy, now)] += 1;
  }

  summary.failing = failing.length;
  failing.sort((a, b) => b.risk.score - a.risk.score || severityRank(a.finding.severity) - severityRank(b.finding.severity) || (a.finding.id < b.finding.id ? -1 : 1));

  const decision: GateDecision = failing.length > 0 ? 'FAIL' : 'PASS';
  const reasons = decisionReasons(decision, summary, named);
  context.logger.info('evaluated gate', {
    tenant: context.store.tenant,
    imageKey: image.key,
    scanId: image.scan.id,
    decision,
    failing: summary.failing,
    total: summary.total,
    policySource: chosen.source,
  });

  return { ...base, image, decision, reasons, findings: failing.slice(0, MAX_GATE_FINDINGS), findingsTruncated: failing.length > MAX_GATE_FINDINGS, summary };
}

const IGNORE_WORDS: Record<Exclude<GateIgnoreReason, 'NO_RULE_MATCHED'>, string> = {
  BASE_LAYER: 'in base layers',
  SUPPRESSED: 'suppressed',
  NOT_AFFECTED: 'not affected according to VEX',
  FIXED: 'fixed according to VEX',
  UNREACHABLE: 'unreachable',
};

function decisionReasons(decision: GateDecision, summary: GateSummary, named: string): string[] {
  const findings = summary.total === 1 ? '1 finding' : `${summary.total} findings`;
  const reasons = [
    decision === 'FAIL'
      ? `${summary.failing} of ${findings} of ${named} ${summary.failing === 1 ? 'fails' : 'fail'} the policy.`
      : summary.total === 1
        ? `The only finding of ${named} does not fail the policy.`
        : `None of the ${findings} of ${named} fails the policy.`,
  ];

  for (const [reason, words] of Object.entries(IGNORE_WORDS)) {
    const count = summary.ignored[reason as GateIgnoreReason];
    if (count > 0) reasons.push(`${count} ${count === 1 ? 'finding a rule covers is' : 'findings a rule covers are'} ${words}, so ${count === 1 ? 'it does' : 'they do'} not count.`);
  }
  return reasons;
}
