import { z } from 'zod';

import { InvalidInputError } from '../errors.ts';
import { LAYER_ORIGINS, REACHABILITY_STATUSES } from '../finding.ts';
import { SEVERITIES } from '../severity.ts';
import { parseWith } from '../validation.ts';

/**
 * One rule of a gate policy. A finding fails the gate when it meets every condition the rule
 * sets, and a condition left out does not narrow the rule.
 */
export const gateRuleSchema = z
  .object({
    /** Shown next to every finding the rule catches, in the API and in the client's reports. */
    name: z.string().trim().min(1).max(200),
    severities: z.array(z.enum(SEVERITIES)).min(1).optional(),
    /** Layer origins the rule covers. Without it, APPLICATION and UNKNOWN, plus BASE when failOnBase is set. */
    origins: z.array(z.enum(LAYER_ORIGINS)).min(1).optional(),
    /**
     * true (the default): only actionable findings count. false: only findings that are not
     * actionable (suppressed, closed by VEX, unreachable). null: both. The same values as a
     * workflow's `actionable` condition.
     */
    actionable: z.boolean().nullable().default(true),
    /** Reachability statuses the rule covers; a finding without analysis is UNKNOWN. */
    reachability: z.array(z.enum(REACHABILITY_STATUSES)).min(1).optional(),
    /** true: only vulnerabilities in CISA's Known Exploited Vulnerabilities catalog. false: only those not in it. */
    kev: z.boolean().optional(),
    /** Minimum EPSS probability (0 to 1). A vulnerability without an EPSS score does not meet it. */
    minEpss: z.number().min(0).max(1).optional(),
    /** Minimum risk score (0 to 100), as the tenant's risk policy computes it. */
    minRiskScore: z.number().min(0).max(100).optional(),
    /** true: only findings with a fixed version available. */
    fixableOnly: z.boolean().optional(),
    /** Repository globs the rule applies to: `*` matches within one path segment, `**` across segments. */
    repositories: z.array(z.string().trim().min(1).max(255)).min(1).optional(),
  })
  .strict();

export const gatePolicySchema = z
  .object({
    name: z.string().trim().min(1).max(200).optional(),
    rules: z.array(gateRuleSchema).min(1).max(50),
    /** Whether findings in base layers may fail the gate. False by default, because the base image's vendor fixes them. */
    failOnBase: z.boolean().default(false),
    /** Maximum age of the image's scan in hours, counted from its import. An older scan makes the result PENDING. */
    maxScanAgeHours: z.number().positive().max(24 * 3650).optional(),
  })
  .strict();

export type GateRule = z.output<typeof gateRuleSchema>;
export type GatePolicy = z.output<typeof gatePolicySchema>;
/** A policy as a client writes it, with defaults left out. */
export type GatePolicyInput = z.input<typeof gatePolicySchema>;

/**
 * The policy used when neither the request nor the tenant's GATE workflows set one: actionable,
 * reachable-or-unknown, HIGH or CRITICAL findings outside base layers. Findings whose layer
 * origin is UNKNOWN count as application findings, because a layer that cannot be shown to
 * belong to the base image may well be the application's own.
 */
export const DEFAULT_GATE_POLICY: GatePolicy = {
  name: 'Default: actionable high or critical findings in application layers',
  rules: [
    {
      name: 'Actionable HIGH or CRITICAL finding in an application layer',
      severities: ['CRITICAL', 'HIGH'],
      origins: ['APPLICATION', 'UNKNOWN'],
      actionable: true,
      reachability: ['REACHABLE', 'UNKNOWN'],
    },
  ],
  failOnBase: false,
};

/**
 * Validates a gate policy from outside (a GraphQL argument, a policy file). A rule that names
 * BASE while failOnBase is false is rejected instead of silently ignored, so a policy cannot
 * seem to guard base layers when it does not.
 */
export function parseGatePolicy(input: unknown, path = 'policy'): GatePolicy {
  const policy = parseWith(gatePolicySchema, input, 'gate policy');

  if (!policy.failOnBase) {
    const index = policy.rules.findIndex((rule) => rule.origins?.includes('BASE'));
    if (index >= 0) {
      throw new InvalidInputError(
        `Invalid gate policy at ${path}.rules[${index}].origins: it names BASE but failOnBase is false, so base-layer findings would never fail the gate; set "failOnBase": true or remove BASE`,
        { format: 'gate policy', path: `${path}.rules[${index}].origins`, value: policy.rules[index]!.origins },
      );
    }
  }

  return policy;
}
