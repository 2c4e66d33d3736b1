import type { Finding } from '../finding.ts';
import { isActionable, type ExploitFacts } from '../triage/risk.ts';
import type { WorkflowConditions } from './workflow.ts';

/** A finding as workflow conditions see it: with its image's repository and its exploit facts. */
export interface ConditionSubject {
  finding: Finding;
  repository?: string;
  facts: ExploitFacts;
  now: Date;
}

const globs = new Map<string, RegExp>();

function globRegex(pattern: string): RegExp {
  let regex = globs.get(pattern);
  if (!regex) {
    const escaped = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
    // `**` spans path segments and `*` stays within one, as in .gitignore and most CI path filters.
    const source = escaped.replaceAll('**', '\u0000').replaceAll('*', '[^/]*').replaceAll('\u0000', '.*');
    regex = new RegExp(`^${source}$`);
    globs.set(pattern, regex);
  }
  return regex;
}

/** True when no globs are given, or the repository matches one of them. An image without repository matches only no globs. */
export function repositoryMatches(globsOrNone: readonly string[] | undefined, repository: string | undefined): boolean {
  if (!globsOrNone || globsOrNone.length === 0) return true;
  if (repository === undefined) return false;
  return globsOrNone.some((pattern) => globRegex(pattern).test(repository));
}

/**
 * Evaluates a workflow's conditions against a finding. Every condition given must hold. KEV and
 * EPSS conditions read the facts passed in, so a tenant without feed data matches neither
 * `kev: true` nor `minEpss`.
 */
export function findingMatches(conditions: WorkflowConditions, subject: ConditionSubject): boolean {
  const { finding } = subject;

  if (conditions.severities && !conditions.severities.includes(finding.severity)) return false;
  if (conditions.origins && !conditions.origins.includes(finding.origin)) return false;
  if (conditions.reachability && !conditions.reachability.includes(finding.reachability?.status ?? 'UNKNOWN')) return false;
  if (conditions.actionable !== undefined && isActionable(finding, subject.now) !== conditions.actionable) return false;
  if (conditions.kev !== undefined && (subject.facts.kev !== undefined) !== conditions.kev) return false;
  if (conditions.minEpss !== undefined && (subject.facts.epss === undefined || subject.facts.epss.score < conditions.minEpss)) return false;

  return repositoryMatches(conditions.repositories, subject.repository);
}

/** True when the conditions read EPSS or KEV data, so callers fetch facts only when needed. */
export function needsExploitFacts(conditions: WorkflowConditions): boolean {
  return conditions.kev !== undefined || conditions.minEpss !== undefined;
}
