/** Severity levels, most severe first. UNKNOWN covers "unassigned", "not yet assigned" and friends. */
export const SEVERITIES = ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'NEGLIGIBLE', 'UNKNOWN'] as const;
export type Severity = (typeof SEVERITIES)[number];

const SYNONYMS: Record<string, Severity> = {
  critical: 'CRITICAL',
  important: 'HIGH',
  high: 'HIGH',
  moderate: 'MEDIUM',
  medium: 'MEDIUM',
  low: 'LOW',
  negligible: 'NEGLIGIBLE',
  informational: 'NEGLIGIBLE',
  info: 'NEGLIGIBLE',
  none: 'NEGLIGIBLE',
  unimportant: 'NEGLIGIBLE',
};

/**
 * Maps a scanner's or a vendor's severity word to the common scale. Red Hat's "Important" and
 * "Moderate", Debian's "unimportant" and Amazon's "INFORMATIONAL" are the usual outliers; any
 * word not listed becomes UNKNOWN rather than a guess.
 */
export function normalizeSeverity(value: string | null | undefined): Severity {
  if (!value) return 'UNKNOWN';

  return SYNONYMS[value.trim().toLowerCase()] ?? 'UNKNOWN';
}

/** Maps a CVSS v3 or v4 base score to its qualitative rating (CVSS v3.1 specification, section 5). */
export function severityFromCvss(score: number | undefined): Severity {
  if (score === undefined || Number.isNaN(score)) return 'UNKNOWN';
  if (score >= 9) return 'CRITICAL';
  if (score >= 7) return 'HIGH';
  if (score >= 4) return 'MEDIUM';
  if (score > 0) return 'LOW';
  return 'NEGLIGIBLE';
}

/** Rank used in sort keys: 0 for CRITICAL up to 5 for UNKNOWN, so ascending order lists the most severe first. */
export function severityRank(severity: Severity): number {
  return SEVERITIES.indexOf(severity);
}
