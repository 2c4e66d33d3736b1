import type { Digest } from './digest.ts';
import type { Severity } from './severity.ts';
import type { FindingVex } from './vex/matcher.ts';

/** The source of a layer: the base image's vendor, the application's own build, or undecided. */
export const LAYER_ORIGINS = ['BASE', 'APPLICATION', 'UNKNOWN'] as const;
export type LayerOrigin = (typeof LAYER_ORIGINS)[number];

export interface Cvss {
  score: number;
  vector?: string;
  /** CVSS version as written by the source, for example "3.1" or "2.0". */
  version?: string;
  /** The scoring party, for example "nvd", "redhat" or "ghsa". */
  source?: string;
}

export interface FindingPackage {
  name: string;
  version: string;
  /** Ecosystem as the scanner names it, lowercase: "apk", "deb", "rpm", "npm", "python", "jar", "gobinary", … */
  type: string;
  purl?: string;
  /** Path of the file the package was found in, for language packages. */
  path?: string;
}

/**
 * The layer a scanner attributed a package to. Scanners name it by its compressed digest, by
 * its diff_id, or by a hash that may be either (ECR's and Inspector's sourceLayerHash); the
 * image model resolves all three to a layer index once the image's layers are known.
 */
export interface LayerReference {
  digest?: Digest;
  diffId?: Digest;
  /** A layer hash that the source does not say is a digest or a diff_id. */
  hash?: Digest;
}

/** One vulnerability in one package as a report states it, normalized across formats. */
export interface ReportedFinding {
  vulnerabilityId: string;
  aliases: string[];
  severity: Severity;
  cvss?: Cvss;
  title?: string;
  description?: string;
  fixedVersion?: string;
  package: FindingPackage;
  layer?: LayerReference;
  /** The database the scanner matched against, for example "alpine", "ghsa" or "DEBIAN_CVE". */
  dataSource?: string;
  primaryUrl?: string;
}

/** A finding as stored: the reported facts plus its identity and the layer it was resolved to. */
export interface Finding extends ReportedFinding {
  id: string;
  imageKey: string;
  /** Index into the image's layers, or undefined when the report named no layer or an unknown one. */
  layerIndex?: number;
  origin: LayerOrigin;
  scanId: string;
  /** The VEX decision that applies, when a statement matches. */
  vex?: FindingVex;
  /** The suppression rule that applies, when one matches. */
  suppression?: FindingSuppression;
  /** Whether the vulnerable code can run, from content analysis; absent means UNKNOWN. */
  reachability?: FindingReachability;
}

export const REACHABILITY_STATUSES = ['REACHABLE', 'UNREACHABLE', 'UNKNOWN'] as const;
export type ReachabilityStatus = (typeof REACHABILITY_STATUSES)[number];

export interface FindingReachability {
  status: ReachabilityStatus;
  method: string;
  /** A chain a person can check, for example `/usr/sbin/nginx → libssl.so.3 → libssl3 3.0.11-1`. */
  evidence: string[];
  analyzedAt: string;
}

export const SUPPRESSION_REASONS = ['NOT_AFFECTED', 'RISK_ACCEPTED', 'FALSE_POSITIVE'] as const;
export type SuppressionReason = (typeof SUPPRESSION_REASONS)[number];

/** The suppression rule that decided a finding, copied onto it so that lists can filter on it. */
export interface FindingSuppression {
  ruleId: string;
  reason: SuppressionReason;
  expiresAt?: string;
  appliedAt: string;
  /** The finding's severity when the rule was applied, so the audit can see a raised severity. */
  severityAtApply?: Severity;
}
