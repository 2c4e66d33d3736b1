import { randomUUID } from 'node:crypto';

import type { Finding } from '../finding.ts';
import { severityRank } from '../severity.ts';
import type { ExploitFacts } from './risk.ts';
import { candidates, endSuppression, type TriageContext } from './suppress.ts';
import type { SuppressionRule } from './suppression.ts';

/** The audit's outcome for one rule. */
export interface RuleAuditOutcome {
  ruleId: string;
  comment: string;
  outcome: 'LAPSED' | 'FLAGGED' | 'REOPENED' | 'KEPT';
  reasons: string[];
  /** Findings that became open because of this outcome. */
  reopenedCount: number;
}

export interface SuppressionAuditReport {
  id: string;
  ranAt: string;
  ranBy: string;
  policyVersion: number;
  reviewed: number;
  lapsed: number;
  flagged: number;
  reopened: number;
  rules: RuleAuditOutcome[];
}

export interface AuditDependencies {
  /** EPSS and KEV facts by vulnerability id; without it, the exploit checks find nothing. */
  exploitFacts?: (vulnerabilityIds: readonly string[]) => Promise<Map<string, ExploitFacts>>;
}

/**
 * Lists why a suppressed finding needs a second look: the facts that made it safe to suppress
 * have changed since the rule was applied.
 */
function changedFacts(rule: SuppressionRule, finding: Finding, facts: ExploitFacts, epssThreshold: number): string[] {
  const name = `${finding.vulnerabilityId} in ${finding.package.name} ${finding.package.version}`;
  const reasons: string[] = [];

  if (finding.vex?.status === 'AFFECTED') reasons.push(`${name}: VEX now says affected (${finding.vex.reason})`);
  if (finding.reachability?.status === 'REACHABLE') reasons.push(`${name}: the code is now reachable (${finding.reachability.evidence[0] ?? finding.reachability.method})`);
  if (facts.kev && facts.kev.dateAdded >= rule.createdAt.slice(0, 10)) reasons.push(`${name}: added to CISA's KEV catalog on ${facts.kev.dateAdded}, after the rule was created`);
  if (facts.epss && facts.epss.score > epssThreshold) reasons.push(`${name}: EPSS ${facts.epss.score.toFixed(3)} is above the policy threshold ${epssThreshold}`);

  const before = rule.severityCeiling ?? finding.suppression?.severityAtApply;
  if (before && severityRank(finding.severity) < severityRank(before)) reasons.push(`${name}: severity raised from ${before} to ${finding.severity}`);

  return reasons;
}

/**
 * Reviews every active suppression of a tenant: expired rules lapse and their findings reopen;
 * rules whose findings changed underneath them are flagged, and reopened when the policy
 * requires it. The report is stored and returned.
 */
export async function runSuppressionAudit(context: TriageContext, dependencies: AuditDependencies = {}): Promise<SuppressionAuditReport> {
  const now = context.clock.now();
  const policy = await context.store.triage.getPolicy();
  const rules = await context.store.triage.activeRules();
  const outcomes: RuleAuditOutcome[] = [];

  for (const rule of rules) {
    if (rule.expiresAt !== undefined && Date.parse(rule.expiresAt) <= now.getTime()) {
      const ended = await endSuppression(context, rule.id, 'EXPIRED', `expired at ${rule.expiresAt}`);
      outcomes.push({ ruleId: rule.id, comment: rule.comment, outcome: 'LAPSED', reasons: [`expired at ${rule.expiresAt}`], reopenedCount: ended.reopenedCount });
      continue;
    }

    const covered = (await candidates(context, rule.filter, rule.scope)).filter(({ finding }) => finding.suppression?.ruleId === rule.id);
    const facts = dependencies.exploitFacts ? await dependencies.exploitFacts([...new Set(covered.map(({ finding }) => finding.vulnerabilityId))]) : new Map<string, ExploitFacts>();
    const reasons = covered.flatMap(({ finding }) => changedFacts(rule, finding, facts.get(finding.vulnerabilityId.toUpperCase()) ?? facts.get(finding.vulnerabilityId) ?? {}, policy.epssReviewThreshold));

    if (reasons.length === 0) {
      outcomes.push({ ruleId: rule.id, comment: rule.comment, outcome: 'KEPT', reasons: [], reopenedCount: 0 });
      continue;
    }

    const flagged: SuppressionRule = { ...rule, flaggedAt: now.toISOString(), flagReasons: reasons };
    await context.store.triage.putRule(flagged, 'ACTIVE');
    await context.store.triage.appendAudit([{ at: now.toISOString(), actor: context.actor, action: 'SUPPRESSION_FLAGGED', reason: reasons.join('; '), ruleId: rule.id, before: rule, after: flagged }]);

    if (policy.reopenFlagged) {
      const ended = await endSuppression(context, rule.id, 'REVOKED', `suppression audit: ${reasons.join('; ')}`);
      outcomes.push({ ruleId: rule.id, comment: rule.comment, outcome: 'REOPENED', reasons, reopenedCount: ended.reopenedCount });
    } else {
      outcomes.push({ ruleId: rule.id, comment: rule.comment, outcome: 'FLAGGED', reasons, reopenedCount: 0 });
    }
  }

  const report: SuppressionAuditReport = {
    id: randomUUID(),
    ranAt: now.toISOString(),
    ranBy: context.actor,
    policyVersion: policy.version,
    reviewed: rules.length,
    lapsed: outcomes.filter((outcome) => outcome.outcome === 'LAPSED').length,
    flagged: outcomes.filter((outcome) => outcome.outcome === 'FLAGGED' || outcome.outcome === 'REOPENED').length,
    reopened: outcomes.reduce((sum, outcome) => sum + outcome.reopenedCount, 0),
    rules: outcomes,
  };
  await context.store.triage.putAuditReport(report);
  context.logger.info('ran suppression audit', { tenant: context.store.tenant, reportId: report.id, reviewed: report.reviewed, lapsed: report.lapsed, flagged: report.flagged, reopened: report.reopened });

  return report;
}
