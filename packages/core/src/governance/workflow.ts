import { z } from 'zod';

import { InvalidInputError } from '../errors.ts';
import { LAYER_ORIGINS, REACHABILITY_STATUSES, type LayerOrigin, type ReachabilityStatus } from '../finding.ts';
import { SEVERITIES, type Severity } from '../severity.ts';
import { formatPath } from '../validation.ts';

/**
 * Workflow triggers: an actionable finding (SLA deadlines and violations), an image built on a
 * base image the tenant has not seen before, or a CI gate evaluation.
 */
export const WORKFLOW_TRIGGERS = ['FINDING_ACTIONABLE', 'NEW_BASE_IMAGE', 'GATE'] as const;
export type WorkflowTrigger = (typeof WORKFLOW_TRIGGERS)[number];

export const WORKFLOW_ACTION_TYPES = ['SET_SLA', 'ALERT', 'FAIL_GATE'] as const;
export type WorkflowActionType = (typeof WORKFLOW_ACTION_TYPES)[number];

/**
 * SLA treatment of findings in base-image layers. VENDOR: the due date is computed and shown on
 * the finding as the base image vendor's fix deadline, but no tenant violation is opened.
 * OWN_DAYS: the finding is the tenant's to fix, with `baseLayerDays`.
 */
export const BASE_LAYER_TRACKING = ['VENDOR', 'OWN_DAYS'] as const;
export type BaseLayerTracking = (typeof BASE_LAYER_TRACKING)[number];

/** Days until the due date, per severity. A severity without an entry gets no deadline. */
export type SlaDays = Partial<Record<Severity, number>>;

/**
 * Conditions a finding (or, for NEW_BASE_IMAGE, an image) must meet. Every condition given must
 * hold; any value within a list may.
 */
export interface WorkflowConditions {
  severities?: Severity[];
  origins?: LayerOrigin[];
  /** Reachability statuses. A finding without analysis counts as UNKNOWN. */
  reachability?: ReachabilityStatus[];
  /** Keeps findings that are (true) or are not (false) actionable, as isActionable decides. */
  actionable?: boolean;
  /** Keeps findings whose vulnerability is (true) or is not (false) in CISA's KEV catalog. */
  kev?: boolean;
  /** Minimum EPSS probability, 0 to 1. A vulnerability without an EPSS score does not match. */
  minEpss?: number;
  /** Repository globs: `*` matches within one path segment, `**` across segments. */
  repositories?: string[];
}

export interface SetSlaAction {
  type: 'SET_SLA';
  days: SlaDays;
  baseLayerTracking: BaseLayerTracking;
  /** Days for base-layer findings with OWN_DAYS tracking. `days` applies when absent. */
  baseLayerDays?: SlaDays;
}

export interface AlertAction {
  type: 'ALERT';
  /** Alert channels of the tenant for the first alert. */
  channelIds: string[];
  /** Channels that get the second alert once a violation stays open for `graceDays`. */
  escalationChannelIds: string[];
  /** Days a violation stays open before it escalates. Absent without escalation channels. */
  graceDays?: number;
  /** Also alert `channelIds` when a violation closes. */
  notifyOnClose: boolean;
}

export interface FailGateAction {
  type: 'FAIL_GATE';
}

export type WorkflowAction = SetSlaAction | AlertAction | FailGateAction;

/** A tenant's workflow as stored and returned. */
export interface Workflow {
  id: string;
  name: string;
  enabled: boolean;
  trigger: WorkflowTrigger;
  conditions: WorkflowConditions;
  actions: WorkflowAction[];
  /** Version number, 1 at creation and one more with each update. Updates name the version they read. */
  version: number;
  /** The template it was created from, if any. */
  templateId?: string;
  createdAt: string;
  createdBy: string;
  updatedAt: string;
  updatedBy: string;
}

/** The fields a client sets when creating or replacing a workflow. */
export type WorkflowDefinition = Pick<Workflow, 'name' | 'enabled' | 'trigger' | 'conditions' | 'actions'>;

/** Escalation grace period when escalation channels are named without one. */
export const DEFAULT_GRACE_DAYS = 3;
/** Ten years: a longer deadline is almost certainly a typing error. */
const MAX_DAYS = 3650;
const CHANNEL_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;
const REPOSITORY_GLOB = /^[^\s]{1,256}$/;

const days = z.number().int('expected a whole number of days').min(1, 'expected at least 1 day').max(MAX_DAYS, `expected at most ${MAX_DAYS} days`);
const slaDays = z
  .partialRecord(z.enum(SEVERITIES), days)
  .refine((value) => Object.keys(value).length > 0, 'expected days for at least one severity');
const channelIds = z.array(z.string().regex(CHANNEL_ID, 'expected a channel id of letters, digits and . _ : -, at most 64 characters')).max(20, 'expected at most 20 channels');

const conditionsSchema = z
  .object({
    severities: z.array(z.enum(SEVERITIES)).min(1, 'expected at least one severity, or no severities field').optional(),
    origins: z.array(z.enum(LAYER_ORIGINS)).min(1, 'expected at least one origin, or no origins field').optional(),
    reachability: z.array(z.enum(REACHABILITY_STATUSES)).min(1, 'expected at least one status, or no reachability field').optional(),
    actionable: z.boolean().optional(),
    kev: z.boolean().optional(),
    minEpss: z.number().min(0, 'expected a probability from 0 to 1').max(1, 'expected a probability from 0 to 1').optional(),
    repositories: z.array(z.string().regex(REPOSITORY_GLOB, 'expected a repository or glob of 1 to 256 characters without spaces')).min(1, 'expected at least one repository, or no repositories field').max(50, 'expected at most 50 repositories').optional(),
  })
  .strict();

const actionSchema = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('SET_SLA'),
      days: slaDays,
      baseLayerTracking: z.enum(BASE_LAYER_TRACKING).default('VENDOR'),
      baseLayerDays: slaDays.optional(),
    })
    .strict(),
  z
    .object({
      type: z.literal('ALERT'),
      channelIds: channelIds.min(1, 'expected at least one channel id'),
      escalationChannelIds: channelIds.default([]),
      graceDays: days.optional(),
      notifyOnClose: z.boolean().default(false),
    })
    .strict(),
  z.object({ type: z.literal('FAIL_GATE') }).strict(),
]);

const definitionSchema = z
  .object({
    name: z.string().trim().min(1, 'expected a name of 1 to 100 characters').max(100, 'expected a name of 1 to 100 characters'),
    enabled: z.boolean().default(true),
    trigger: z.enum(WORKFLOW_TRIGGERS),
    conditions: conditionsSchema.default({}),
    actions: z.array(actionSchema).min(1, 'expected at least one action').max(5, 'expected at most 5 actions'),
  })
  .strict();

/** Action types each trigger accepts, with the one each requires. */
const TRIGGER_RULES: Record<WorkflowTrigger, { allowed: WorkflowActionType[]; required: WorkflowActionType }> = {
  FINDING_ACTIONABLE: { allowed: ['SET_SLA', 'ALERT'], required: 'SET_SLA' },
  NEW_BASE_IMAGE: { allowed: ['ALERT'], required: 'ALERT' },
  GATE: { allowed: ['FAIL_GATE'], required: 'FAIL_GATE' },
};

/** Conditions about findings, which a NEW_BASE_IMAGE workflow (about images) cannot use. */
const FINDING_CONDITIONS = ['severities', 'origins', 'reachability', 'actionable', 'kev', 'minEpss'] as const;

function invalid(path: string, value: unknown, message: string): never {
  throw new InvalidInputError(`Invalid workflow ${path}: ${message}`, { format: 'workflow', path, value });
}

/** Checks that the trigger, conditions and actions fit together, after zod has checked each part. */
function checkCombination(definition: WorkflowDefinition, root: string): void {
  const rules = TRIGGER_RULES[definition.trigger];

  definition.actions.forEach((action, index) => {
    if (!rules.allowed.includes(action.type)) {
      invalid(`${root}.actions[${index}].type`, action.type, `trigger ${definition.trigger} accepts the actions ${rules.allowed.join(', ')}`);
    }
    if (definition.actions.findIndex((other) => other.type === action.type) !== index) {
      invalid(`${root}.actions[${index}].type`, action.type, `a workflow takes each action type at most once`);
    }
    if (action.type === 'ALERT' && action.graceDays !== undefined && action.escalationChannelIds.length === 0) {
      invalid(`${root}.actions[${index}].graceDays`, action.graceDays, 'a grace period needs escalationChannelIds to escalate to');
    }
    if (action.type === 'SET_SLA' && action.baseLayerDays && action.baseLayerTracking !== 'OWN_DAYS') {
      invalid(`${root}.actions[${index}].baseLayerDays`, action.baseLayerDays, 'baseLayerDays applies only with baseLayerTracking OWN_DAYS');
    }
  });

  if (!definition.actions.some((action) => action.type === rules.required)) {
    invalid(`${root}.actions`, definition.actions.map((action) => action.type), `trigger ${definition.trigger} requires a ${rules.required} action`);
  }

  if (definition.trigger === 'NEW_BASE_IMAGE') {
    const used = FINDING_CONDITIONS.find((name) => definition.conditions[name] !== undefined);
    if (used) invalid(`${root}.conditions.${used}`, definition.conditions[used], 'trigger NEW_BASE_IMAGE is about images and accepts only the repositories condition');
  }
}

/** Gives every ALERT action with escalation channels its grace period. */
function withDefaults(definition: WorkflowDefinition): WorkflowDefinition {
  const actions = definition.actions.map((action) =>
    action.type === 'ALERT' && action.escalationChannelIds.length > 0 && action.graceDays === undefined ? { ...action, graceDays: DEFAULT_GRACE_DAYS } : action,
  );
  return { ...definition, actions };
}

/**
 * Validates a workflow definition from outside (GraphQL input, a template with overrides).
 * Throws an InvalidInputError whose path names the field, for example `input.actions[0].days.CRITICAL`.
 */
export function parseWorkflowDefinition(input: unknown, root = 'input'): WorkflowDefinition {
  const cleaned = withoutNulls(input);
  const result = definitionSchema.safeParse(cleaned);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const path = `${root}.${formatPath(issue.path)}`;
    invalid(path, valueAt(cleaned, issue.path), issue.message);
  }

  const definition = withDefaults(withoutNulls(result.data) as WorkflowDefinition);
  checkCombination(definition, root);
  return definition;
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let current = input;
  for (const part of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[part];
  }
  return current;
}

/**
 * Drops null and undefined fields at every depth: GraphQL clients send null for absent optional
 * input, and DynamoDB's marshaller rejects undefined attributes.
 */
function withoutNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([, inner]) => inner !== undefined && inner !== null)
      .map(([key, inner]) => [key, withoutNulls(inner)]),
  );
}

export function slaAction(workflow: Workflow): SetSlaAction | undefined {
  return workflow.actions.find((action): action is SetSlaAction => action.type === 'SET_SLA');
}

export function alertAction(workflow: Workflow): AlertAction | undefined {
  return workflow.actions.find((action): action is AlertAction => action.type === 'ALERT');
}
