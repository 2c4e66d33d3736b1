import { sha256 } from '../digest.ts';
import type { Finding, LayerOrigin } from '../finding.ts';
import type { Severity } from '../severity.ts';
import { purlKey } from '../vex/package-match.ts';
import type { SetSlaAction, Workflow } from './workflow.ts';

const DAY_MS = 86_400_000;

/** Whose deadline an SLA record is: the tenant's (violations open) or the base image vendor's (shown only). */
export const SLA_TRACKING = ['TENANT', 'VENDOR'] as const;
export type SlaTracking = (typeof SLA_TRACKING)[number];

/** Location of the finding behind an SLA record when it was last seen. */
export interface FindingPointer {
  imageKey: string;
  scanId: string;
  findingId: string;
  origin: LayerOrigin;
  packageVersion: string;
}

/**
 * The deadline of one vulnerability in one package of one repository. Its key leaves out the
 * image digest and the package version, so re-scans, new digests and an upgrade that is still
 * vulnerable keep the first-seen time and the due date.
 */
export interface SlaRecord {
  key: string;
  repository: string;
  vulnerabilityId: string;
  /** The package without version: the purl's type, namespace and name, or the scanner's type and name. */
  packageIdentity: string;
  packageName: string;
  severity: Severity;
  firstSeenAt: string;
  lastSeenAt: string;
  dueDate: string;
  tracking: SlaTracking;
  workflowId: string;
  workflowVersion: number;
  finding: FindingPointer;
  /** For VENDOR tracking: the base image whose vendor owns the fix. */
  baseImage?: { name?: string; digest?: string };
  /** RESOLVED once the daily pass finds the vulnerability gone from the repository's latest scan. */
  state: 'ACTIVE' | 'RESOLVED';
  resolvedAt?: string;
  /**
   * Violations of this clock closed while the finding stayed (suppressed, not actionable, rule
   * removed). It is part of the violation id, so a finding that becomes actionable again after
   * such a close opens a new violation with its own alerts.
   */
  closedViolations?: number;
}

/**
 * Names the package without its version. Qualifiers are left out too, because a base image
 * upgrade changes `distro=debian-12` to `debian-13` for what is still the same package.
 */
export function packageIdentity(finding: Pick<Finding, 'package'>): string {
  const fromPurl = finding.package.purl ? purlKey(finding.package.purl) : undefined;
  return fromPurl ?? `${finding.package.type.toLowerCase()}//${finding.package.name}`;
}

/** Builds the record key as a digest, so repository names and purls of any length fit and cannot forge a separator. */
export function slaRecordKey(repository: string, vulnerabilityId: string, identity: string): string {
  return sha256([repository, vulnerabilityId.toUpperCase(), identity].join('\n')).slice(7, 39);
}

/** Computes the deadline a SET_SLA action gives a finding, or undefined when its severity has none. */
export function slaTerms(action: SetSlaAction, finding: Pick<Finding, 'origin' | 'severity'>): { days: number; tracking: SlaTracking } | undefined {
  if (finding.origin === 'BASE') {
    if (action.baseLayerTracking === 'VENDOR') {
      const days = action.days[finding.severity];
      return days === undefined ? undefined : { days, tracking: 'VENDOR' };
    }
    const days = (action.baseLayerDays ?? action.days)[finding.severity];
    return days === undefined ? undefined : { days, tracking: 'TENANT' };
  }

  // Findings in layers of unknown origin are the tenant's: unknown never counts as someone else's problem.
  const days = action.days[finding.severity];
  return days === undefined ? undefined : { days, tracking: 'TENANT' };
}

export function addDays(iso: string, days: number): string {
  return new Date(Date.parse(iso) + days * DAY_MS).toISOString();
}

/**
 * Counts the whole days from `now` until `dueDate`, rounded up so a started day counts as one.
 * It is 7 just after a 7-day deadline is set, 1 during its last day, 0 during the first day after
 * it passed and -1 during the second. Rounding down would show 6 a second after the deadline was set.
 */
export function daysLeft(dueDate: string, now: Date): number {
  const days = Math.ceil((Date.parse(dueDate) - now.getTime()) / DAY_MS);
  // Math.ceil gives -0 for the first day after the deadline; GraphQL would print it as 0 anyway.
  return days === 0 ? 0 : days;
}

/** The id of the violation a record's deadline opens: a finding that returns after a fix starts a new clock, and with it a new id. */
export function violationIdOf(record: Pick<SlaRecord, 'key' | 'firstSeenAt' | 'closedViolations'>): string {
  return sha256(`${record.key}\n${record.firstSeenAt}\n${record.closedViolations ?? 0}`).slice(7, 31);
}

/** A chosen deadline: the workflow and terms that give a finding its earliest due date. */
export interface SlaChoice {
  workflow: Workflow;
  days: number;
  tracking: SlaTracking;
}
