import type { Severity } from '../severity.ts';
import type { FindingPointer } from './sla.ts';

export const VIOLATION_STATES = ['OPEN', 'ESCALATED', 'CLOSED'] as const;
export type ViolationState = (typeof VIOLATION_STATES)[number];

/**
 * Reasons a violation closes. FIXED: the vulnerability is gone from the repository's latest scan.
 * SUPPRESSED: a suppression rule covers it. NOT_ACTIONABLE: VEX or reachability evidence shows
 * it cannot be exploited. RULE_REMOVED: its workflow was deleted, disabled or no longer covers it.
 */
export const VIOLATION_CLOSE_REASONS = ['FIXED', 'SUPPRESSED', 'NOT_ACTIONABLE', 'RULE_REMOVED'] as const;
export type ViolationCloseReason = (typeof VIOLATION_CLOSE_REASONS)[number];

/** An SLA deadline that passed while the finding was still actionable. */
export interface Violation {
  id: string;
  /** The SLA record whose deadline passed. */
  slaKey: string;
  repository: string;
  vulnerabilityId: string;
  packageIdentity: string;
  packageName: string;
  severity: Severity;
  workflowId: string;
  workflowVersion: number;
  /** The finding as it was when the violation opened. */
  finding: FindingPointer;
  firstSeenAt: string;
  dueDate: string;
  state: ViolationState;
  openedAt: string;
  escalatedAt?: string;
  closedAt?: string;
  closeReason?: ViolationCloseReason;
  /** Idempotency keys of the alerts handed to the dispatcher, in order. */
  alertKeys: string[];
}

export interface ViolationFilter {
  states?: ViolationState[];
  severities?: Severity[];
  repository?: string;
  /** A workflow id. */
  ruleId?: string;
}

export const alertKey = (violationId: string, step: 'OPENED' | 'ESCALATED' | 'CLOSED') => `violation#${violationId}#${step}`;
