import type { Finding } from '../finding.ts';
import type { RiskPolicy } from './policy.ts';

/** Public exploit data about a vulnerability, from the EPSS and KEV feeds. */
export interface ExploitFacts {
  epss?: { score: number; percentile?: number; date?: string };
  kev?: { dateAdded: string; dueDate?: string; knownRansomwareUse?: boolean };
}

export const RISK_TIERS = ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW'] as const;
export type RiskTier = (typeof RISK_TIERS)[number];

export interface Risk {
  /** 0 to 100. */
  score: number;
  tier: RiskTier;
  /** False exactly when the finding is suppressed, VEX states not_affected or fixed, or the code is UNREACHABLE with evidence. */
  actionable: boolean;
  /** Plain sentences, the most important first. */
  reasons: string[];
  policyVersion: number;
}

/** True while a suppression applies: it has no expiry, or the expiry is still ahead. */
export function isSuppressed(finding: Finding, now: Date): boolean {
  const suppression = finding.suppression;
  return suppression !== undefined && (suppression.expiresAt === undefined || Date.parse(suppression.expiresAt) > now.getTime());
}

/** UNREACHABLE counts only with evidence; UNKNOWN and a missing analysis count as reachable. */
export function isUnreachable(finding: Finding): boolean {
  return finding.reachability?.status === 'UNREACHABLE' && finding.reachability.evidence.length > 0;
}

export function isActionable(finding: Finding, now: Date): boolean {
  if (isSuppressed(finding, now)) return false;
  if (finding.vex?.status === 'NOT_AFFECTED' || finding.vex?.status === 'FIXED') return false;
  return !isUnreachable(finding);
}

function tierOf(score: number, policy: RiskPolicy): RiskTier {
  if (score >= policy.tiers.CRITICAL) return 'CRITICAL';
  if (score >= policy.tiers.HIGH) return 'HIGH';
  if (score >= policy.tiers.MEDIUM) return 'MEDIUM';
  return 'LOW';
}

const ORIGIN_WORDS = { BASE: "in the base image's layers, fixed by updating the base image", APPLICATION: "in the application's own layers", UNKNOWN: 'in a layer whose origin is unknown' };

/**
 * Scores a finding: severity points (or CVSS × the policy's points per score, whichever is higher), plus points for KEV,
 * EPSS and an available fix, multiplied by the layer-origin factor and, for UNREACHABLE code,
 * by the unreachable factor. Capped at 100. Reasons list what weighed most first.
 */
export function assessRisk(finding: Finding, facts: ExploitFacts, policy: RiskPolicy, now: Date): Risk {
  const reasons: Array<{ weight: number; text: string }> = [];
  const severityPoints = policy.severityPoints[finding.severity];
  const cvssPoints = finding.cvss ? finding.cvss.score * policy.cvssPointsPerScore : 0;
  let score = Math.max(severityPoints, cvssPoints);
  reasons.push({ weight: score, text: `Severity ${finding.severity}${finding.cvss ? `, CVSS ${finding.cvss.score}` : ''}.` });

  if (facts.kev) {
    score += policy.kevPoints;
    reasons.push({ weight: 1000, text: `Listed in CISA's Known Exploited Vulnerabilities catalog since ${facts.kev.dateAdded}${facts.kev.knownRansomwareUse ? ', with known ransomware use' : ''}.` });
  }
  if (facts.epss) {
    const points = facts.epss.score * policy.epssPoints;
    score += points;
    const percentile = facts.epss.percentile === undefined ? '' : ` (percentile ${Math.round(facts.epss.percentile * 100)})`;
    reasons.push({ weight: facts.epss.score * 100, text: `EPSS gives a ${(facts.epss.score * 100).toFixed(1)}% probability of exploitation in the next 30 days${percentile}.` });
  }
  if (finding.fixedVersion) {
    score += policy.fixAvailablePoints;
    reasons.push({ weight: 1, text: `A fix is available: ${finding.package.name} ${finding.fixedVersion}.` });
  }

  score *= policy.originFactor[finding.origin];
  reasons.push({ weight: 0.5, text: `The package is ${ORIGIN_WORDS[finding.origin]}.` });

  if (isUnreachable(finding)) {
    score *= policy.unreachableFactor;
    reasons.push({ weight: 900, text: `The vulnerable code is unreachable from the entrypoint: ${finding.reachability!.evidence[0]}.` });
  }

  const actionable = isActionable(finding, now);
  if (isSuppressed(finding, now)) {
    const suppression = finding.suppression!;
    reasons.push({ weight: 2000, text: `Suppressed by rule ${suppression.ruleId} (${suppression.reason.toLowerCase().replaceAll('_', ' ')})${suppression.expiresAt ? ` until ${suppression.expiresAt}` : ''}.` });
  } else if (finding.suppression) {
    reasons.push({ weight: 1500, text: `Suppression ${finding.suppression.ruleId} expired at ${finding.suppression.expiresAt}, so the finding is open again.` });
  }
  if (finding.vex && (finding.vex.status === 'NOT_AFFECTED' || finding.vex.status === 'FIXED')) {
    reasons.push({ weight: 1900, text: `VEX: ${finding.vex.reason}` });
  } else if (finding.vex) {
    reasons.push({ weight: 800, text: `VEX: ${finding.vex.reason}` });
  }

  const rounded = Math.min(100, Math.round(score * 10) / 10);
  return {
    score: rounded,
    tier: tierOf(rounded, policy),
    actionable,
    reasons: reasons.sort((a, b) => b.weight - a.weight).map((reason) => reason.text),
    policyVersion: policy.version,
  };
}
