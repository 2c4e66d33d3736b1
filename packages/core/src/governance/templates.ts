import { NotFoundError, InvalidInputError } from '../errors.ts';
import { parseWorkflowDefinition, type AlertAction, type SlaDays, type WorkflowAction, type WorkflowConditions, type WorkflowDefinition } from './workflow.ts';

/** A workflow shipped with Stratum, instantiated with `instantiateWorkflowTemplate`. */
export interface WorkflowTemplate {
  id: string;
  name: string;
  description: string;
  definition: WorkflowDefinition;
  /** True when the template alerts, so instantiating it needs `alertChannelIds`. */
  requiresChannels: boolean;
}

/**
 * Changes a client may make when instantiating a template. Conditions are merged over the
 * template's, the alert fields add or change the ALERT action, and `slaDays` replaces the SLA days.
 */
export interface TemplateOverrides {
  name?: string;
  enabled?: boolean;
  conditions?: WorkflowConditions;
  alertChannelIds?: string[];
  escalationChannelIds?: string[];
  graceDays?: number;
  notifyOnClose?: boolean;
  slaDays?: SlaDays;
}

export const WORKFLOW_TEMPLATES: readonly WorkflowTemplate[] = [
  {
    id: 'block-critical-reachable',
    name: 'Block on critical reachable',
    description:
      "Fails the CI gate on an actionable CRITICAL finding in the application's own layers, or in layers of unknown origin, whose code is reachable or not yet analysed. Base-layer findings never fail it.",
    definition: {
      name: 'Block on critical reachable',
      enabled: true,
      trigger: 'GATE',
      // UNKNOWN as in the default gate policy: a layer not shown to be the base's may be the application's own.
      conditions: { severities: ['CRITICAL'], origins: ['APPLICATION', 'UNKNOWN'], reachability: ['REACHABLE', 'UNKNOWN'], actionable: true },
      actions: [{ type: 'FAIL_GATE' }],
    },
    requiresChannels: false,
  },
  {
    id: 'sla-by-severity',
    name: 'SLA by severity',
    description:
      "Gives actionable findings 7 days (critical), 30 days (high) or 90 days (medium) from first seen. Base-layer findings are tracked against the base image's vendor: their due date is shown on the finding and its base image, and no tenant violation is opened for them.",
    definition: {
      name: 'SLA by severity',
      enabled: true,
      trigger: 'FINDING_ACTIONABLE',
      conditions: {},
      actions: [{ type: 'SET_SLA', days: { CRITICAL: 7, HIGH: 30, MEDIUM: 90 }, baseLayerTracking: 'VENDOR' }],
    },
    requiresChannels: false,
  },
  {
    id: 'alert-new-base-image',
    name: 'Alert on new base image',
    description: 'Alerts once per base image when an image is stored whose base image this tenant has not seen before.',
    definition: {
      name: 'Alert on new base image',
      enabled: true,
      trigger: 'NEW_BASE_IMAGE',
      conditions: {},
      actions: [],
    },
    requiresChannels: true,
  },
];

export function workflowTemplate(id: string): WorkflowTemplate {
  const template = WORKFLOW_TEMPLATES.find((candidate) => candidate.id === id);
  if (!template) throw new NotFoundError('Workflow template', id, `use one of ${WORKFLOW_TEMPLATES.map((known) => known.id).join(', ')}`);
  return template;
}

/** Builds the ALERT action from the overrides, on top of the template's own one if it has one. */
function alertFrom(overrides: TemplateOverrides, existing: AlertAction | undefined): AlertAction | undefined {
  const touched = [overrides.alertChannelIds, overrides.escalationChannelIds, overrides.graceDays, overrides.notifyOnClose].some((value) => value != null);
  if (!touched) return existing;

  return {
    type: 'ALERT',
    channelIds: overrides.alertChannelIds ?? existing?.channelIds ?? [],
    escalationChannelIds: overrides.escalationChannelIds ?? existing?.escalationChannelIds ?? [],
    ...(overrides.graceDays != null ? { graceDays: overrides.graceDays } : existing?.graceDays !== undefined ? { graceDays: existing.graceDays } : {}),
    notifyOnClose: overrides.notifyOnClose ?? existing?.notifyOnClose ?? false,
  };
}

/**
 * Rejects alert overrides that the template's trigger has no use for, naming the override the
 * client wrote rather than the action it would have built. A GATE template fails the gate and
 * sends nothing; a NEW_BASE_IMAGE alert opens no violation, so it is never escalated or closed.
 */
function assertOverridesFit(template: WorkflowTemplate, overrides: TemplateOverrides): void {
  const reject = (field: keyof TemplateOverrides, reason: string) => {
    throw new InvalidInputError(`Invalid overrides.${field}: template ${template.id} ${reason}; leave ${field} out`, { format: 'workflow', path: `overrides.${field}`, value: overrides[field] });
  };
  const trigger = template.definition.trigger;
  // An empty list sets nothing, so only a list with ids is rejected.
  const isSet = (field: keyof TemplateOverrides) => (Array.isArray(overrides[field]) ? (overrides[field] as unknown[]).length > 0 : overrides[field] != null);

  if (trigger === 'GATE') {
    for (const field of ['alertChannelIds', 'escalationChannelIds', 'graceDays', 'notifyOnClose'] as const) {
      if (isSet(field)) reject(field, 'fails the CI gate and sends no alerts, so it takes no alert channels');
    }
  }
  if (trigger === 'NEW_BASE_IMAGE') {
    for (const field of ['escalationChannelIds', 'graceDays', 'notifyOnClose'] as const) {
      if (isSet(field)) reject(field, 'sends one alert per new base image and opens no violation to escalate or close');
    }
  }
}

/**
 * Turns a template and a client's overrides into a validated workflow definition. Errors name
 * the override field when the override caused them.
 */
export function instantiateTemplate(templateId: string, overrides: TemplateOverrides = {}): WorkflowDefinition {
  const template = workflowTemplate(templateId);

  if (template.requiresChannels && !overrides.alertChannelIds?.length) {
    throw new InvalidInputError(`Invalid overrides.alertChannelIds: template ${template.id} alerts, so it needs at least one channel id`, {
      format: 'workflow',
      path: 'overrides.alertChannelIds',
      value: overrides.alertChannelIds ?? null,
    });
  }

  assertOverridesFit(template, overrides);

  const base = template.definition;
  const existingAlert = base.actions.find((action): action is AlertAction => action.type === 'ALERT');
  const alert = alertFrom(overrides, existingAlert);
  const actions: WorkflowAction[] = base.actions
    .filter((action) => action.type !== 'ALERT')
    .map((action) => (action.type === 'SET_SLA' && overrides.slaDays ? { ...action, days: overrides.slaDays } : action));
  if (alert) actions.push(alert);

  const definition = {
    name: overrides.name ?? base.name,
    enabled: overrides.enabled ?? base.enabled,
    trigger: base.trigger,
    conditions: { ...base.conditions, ...overrides.conditions },
    actions,
  };
  return parseWorkflowDefinition(definition, 'overrides');
}
