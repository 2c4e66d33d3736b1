import { z } from 'zod';

import { parseWith } from '../validation.ts';

/**
 * The risk policy: weights of the risk score and the rules of suppressions. Each tenant may
 * store its own; every change gets a new version, and findings show the version that scored
 * them.
 */
export const riskPolicySchema = z.object({
  version: z.number().int().min(1),
  /** Base points per severity before the other factors. */
  severityPoints: z.object({
    CRITICAL: z.number().min(0).max(100),
    HIGH: z.number().min(0).max(100),
    MEDIUM: z.number().min(0).max(100),
    LOW: z.number().min(0).max(100),
    NEGLIGIBLE: z.number().min(0).max(100),
    UNKNOWN: z.number().min(0).max(100),
  }),
  /** Points per CVSS base point; the higher of this and the severity's points is the base score. */
  cvssPointsPerScore: z.number().min(0).max(10),
  /** Points for presence in CISA's Known Exploited Vulnerabilities catalog. */
  kevPoints: z.number().min(0).max(100),
  /** Points at an EPSS probability of 1; scaled linearly below it. */
  epssPoints: z.number().min(0).max(100),
  /** Points when a fixed version exists, because the fix is cheap to apply. */
  fixAvailablePoints: z.number().min(0).max(100),
  /** Multipliers by layer origin; base layers are patched by updating the base image. */
  originFactor: z.object({ BASE: z.number().min(0).max(2), APPLICATION: z.number().min(0).max(2), UNKNOWN: z.number().min(0).max(2) }),
  /** Multiplier for UNREACHABLE findings that stay actionable (a suppression or VEX is what removes them). */
  unreachableFactor: z.number().min(0).max(1),
  /** Score thresholds of the tiers, highest first. */
  tiers: z.object({ CRITICAL: z.number(), HIGH: z.number(), MEDIUM: z.number() }),
  /** EPSS probability above which the quarterly audit flags a suppression for review. */
  epssReviewThreshold: z.number().min(0).max(1),
  /** Suppression lifetime when a request names no expiry, in days. */
  defaultSuppressionDays: z.number().int().min(1).max(3650),
  /** Whether a suppression may be created without any expiry. */
  allowNoExpiry: z.boolean(),
  /** Whether the quarterly audit reopens flagged suppressions, or only reports them. */
  reopenFlagged: z.boolean(),
});
export type RiskPolicy = z.infer<typeof riskPolicySchema>;

export const DEFAULT_RISK_POLICY: RiskPolicy = {
  version: 1,
  // Severity alone stays below 65, so the top tier needs exploit evidence (KEV or a high EPSS) on top.
  severityPoints: { CRITICAL: 60, HIGH: 45, MEDIUM: 25, LOW: 8, NEGLIGIBLE: 2, UNKNOWN: 25 },
  cvssPointsPerScore: 6,
  kevPoints: 30,
  epssPoints: 25,
  fixAvailablePoints: 5,
  originFactor: { BASE: 0.8, APPLICATION: 1, UNKNOWN: 1 },
  unreachableFactor: 0.3,
  tiers: { CRITICAL: 80, HIGH: 55, MEDIUM: 30 },
  epssReviewThreshold: 0.5,
  defaultSuppressionDays: 90,
  allowNoExpiry: false,
  reopenFlagged: true,
};

export function parseRiskPolicy(input: unknown): RiskPolicy {
  return parseWith(riskPolicySchema, input, 'risk policy');
}
