import type { Finding, LayerOrigin, ReachabilityStatus, SuppressionReason } from '../finding.ts';
import type { Image } from '../image/model.ts';
import type { Severity } from '../severity.ts';
import type { VexJustification, VexStatus } from '../vex/model.ts';
import { purlCovers } from '../vex/package-match.ts';

/** The findings a suppression rule covers. Every field given must hold, and any value within a field may. */
export interface SuppressionFilter {
  vulnerabilityIds?: string[];
  /**
   * Package purl patterns. A purl without version covers every version, as in VEX matching; a
   * pattern with `*` matches any run of characters in the purl, for example `pkg:npm/@babel/*`.
   */
  packagePurls?: string[];
  packageNames?: string[];
  origins?: LayerOrigin[];
  vexStatuses?: Array<VexStatus | 'NONE'>;
  reachability?: ReachabilityStatus[];
  severities?: Severity[];
}

export const SUPPRESSION_SCOPES = ['IMAGE', 'REPOSITORY', 'TENANT'] as const;
export type SuppressionScopeKind = (typeof SUPPRESSION_SCOPES)[number];

/**
 * The images a rule applies to. IMAGE: one image, by digest. REPOSITORY: every image of a repository,
 * including digests pushed later. TENANT: every image of the tenant.
 */
export interface SuppressionScope {
  kind: SuppressionScopeKind;
  imageDigest?: string;
  repository?: string;
}

export const SUPPRESSION_STATES = ['ACTIVE', 'EXPIRED', 'REVOKED'] as const;
export type SuppressionState = (typeof SUPPRESSION_STATES)[number];

export interface SuppressionRule {
  id: string;
  filter: SuppressionFilter;
  scope: SuppressionScope;
  reason: SuppressionReason;
  justification?: VexJustification;
  comment: string;
  createdBy: string;
  createdAt: string;
  expiresAt?: string;
  state: SuppressionState;
  /** Findings the rule suppressed when it was created. */
  appliedCount: number;
  /** The highest severity among those findings; the audit flags a finding whose severity rose above it. */
  severityCeiling?: Severity;
  policyVersion: number;
  endedAt?: string;
  endedBy?: string;
  endReason?: string;
  /** Set by the quarterly audit when findings under the rule changed; cleared when a person reviews it. */
  flaggedAt?: string;
  flagReasons?: string[];
}

function inScope(scope: SuppressionScope, image: Image): boolean {
  if (scope.kind === 'TENANT') return true;
  if (scope.kind === 'IMAGE') return scope.imageDigest !== undefined && [image.digest, image.imageId, image.key, image.indexDigest].includes(scope.imageDigest);
  return scope.repository !== undefined && image.repository === scope.repository;
}

const globs = new Map<string, RegExp>();

function globMatches(pattern: string, value: string): boolean {
  let regex = globs.get(pattern);
  if (!regex) {
    regex = new RegExp(`^${pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
    globs.set(pattern, regex);
  }
  if (regex.test(value)) return true;
  try {
    // Purls percent-encode characters such as the @ of npm scopes; patterns are usually written decoded.
    return regex.test(decodeURIComponent(value));
  } catch {
    return false;
  }
}

function matchesFilter(filter: SuppressionFilter, finding: Finding): boolean {
  if (filter.vulnerabilityIds?.length) {
    const ids = new Set([finding.vulnerabilityId, ...finding.aliases].map((id) => id.toUpperCase()));
    if (!filter.vulnerabilityIds.some((id) => ids.has(id.toUpperCase()))) return false;
  }
  if (filter.packageNames?.length && !filter.packageNames.includes(finding.package.name)) return false;
  if (filter.packagePurls?.length) {
    const purl = finding.package.purl;
    if (!purl || !filter.packagePurls.some((pattern) => (pattern.includes('*') ? globMatches(pattern, purl) : purlCovers(pattern, purl)))) return false;
  }
  if (filter.origins?.length && !filter.origins.includes(finding.origin)) return false;
  if (filter.severities?.length && !filter.severities.includes(finding.severity)) return false;
  if (filter.vexStatuses?.length && !filter.vexStatuses.includes(finding.vex?.status ?? 'NONE')) return false;
  if (filter.reachability?.length && !filter.reachability.includes(finding.reachability?.status ?? 'UNKNOWN')) return false;
  return true;
}

/** True when an active, unexpired rule covers the finding of this image. */
export function ruleMatches(rule: SuppressionRule, image: Image, finding: Finding, now: Date): boolean {
  if (rule.state !== 'ACTIVE') return false;
  if (rule.expiresAt !== undefined && Date.parse(rule.expiresAt) <= now.getTime()) return false;
  return inScope(rule.scope, image) && matchesFilter(rule.filter, finding);
}

/**
 * Sets each finding's suppression from the active rules: a finding keeps a suppression that
 * still applies, and otherwise takes the oldest matching rule. A suppression whose rule no
 * longer applies is removed, so the finding reopens.
 */
export function applySuppressions(rules: readonly SuppressionRule[], image: Image, findings: Finding[], now: Date): Finding[] {
  const byAge = [...rules].sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  const byId = new Map(byAge.map((rule) => [rule.id, rule]));

  return findings.map((finding) => {
    const current = finding.suppression ? byId.get(finding.suppression.ruleId) : undefined;
    if (current && ruleMatches(current, image, finding, now)) return finding;

    const rule = byAge.find((candidate) => ruleMatches(candidate, image, finding, now));
    if (!rule) {
      if (!finding.suppression) return finding;
      const { suppression: _removed, ...rest } = finding;
      return rest;
    }
    return { ...finding, suppression: { ruleId: rule.id, reason: rule.reason, expiresAt: rule.expiresAt, appliedAt: now.toISOString(), severityAtApply: finding.severity } };
  });
}
