/** Kinds of triage change the audit trail records. */
export const AUDIT_ACTIONS = [
  'SUPPRESSION_CREATED',
  'SUPPRESSION_APPLIED',
  'SUPPRESSION_REMOVED',
  'SUPPRESSION_EXPIRED',
  'SUPPRESSION_REVOKED',
  'SUPPRESSION_FLAGGED',
  'FINDING_REOPENED',
  'VEX_DECISION',
  'REACHABILITY_CHANGED',
  'RISK_POLICY_CHANGED',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** One append-only record of a triage change: who, when, why, and the state before and after. */
export interface AuditRecord {
  id: string;
  at: string;
  actor: string;
  action: AuditAction;
  reason?: string;
  imageKey?: string;
  findingId?: string;
  ruleId?: string;
  before?: unknown;
  after?: unknown;
}
