import { randomUUID } from 'node:crypto';

import type { Clock } from '../clock.ts';
import { InvalidInputError, NotFoundError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { TenantStore } from '../store/store.ts';
import type { ExploitFacts } from '../triage/risk.ts';
import { backfillSlaRecords } from './sla-backfill.ts';
import { instantiateTemplate, type TemplateOverrides } from './templates.ts';
import { parseWorkflowDefinition, slaAction, type Workflow, type WorkflowDefinition, type WorkflowTrigger } from './workflow.ts';

/** Dependencies of workflow changes: the tenant's store, the time, a logger and who acts. */
export interface GovernanceContext {
  store: TenantStore;
  clock: Clock;
  logger: Logger;
  actor: string;
  /** EPSS and KEV facts for the kev and minEpss conditions of the deadlines a new SLA workflow backfills. */
  exploitFacts?: (vulnerabilityIds: readonly string[]) => Promise<Map<string, ExploitFacts>>;
}

/**
 * Gives the findings already stored their deadlines once an enabled SLA workflow exists, so a
 * tenant that creates one after its images were ingested does not wait for new scans.
 */
async function backfillIfSla(context: GovernanceContext, workflow: Workflow): Promise<void> {
  if (workflow.enabled && workflow.trigger === 'FINDING_ACTIONABLE' && slaAction(workflow)) await backfillSlaRecords(context);
}

async function storeNew(context: GovernanceContext, definition: WorkflowDefinition, templateId?: string): Promise<Workflow> {
  const now = context.clock.now().toISOString();
  const workflow: Workflow = {
    id: randomUUID(),
    ...definition,
    version: 1,
    ...(templateId ? { templateId } : {}),
    createdAt: now,
    createdBy: context.actor,
    updatedAt: now,
    updatedBy: context.actor,
  };

  // The registry entry comes first: a workflow the daily pass cannot find would never fire.
  await context.store.governance.registerTenant();
  await context.store.governance.putWorkflow(workflow, null);
  context.logger.info('created workflow', { tenant: context.store.tenant, workflowId: workflow.id, trigger: workflow.trigger, templateId });
  await backfillIfSla(context, workflow);
  return workflow;
}

/**
 * Checks that every channel id of the ALERT action names one of the tenant's alert channels, so
 * a typing error fails now instead of leaving each alert without delivery. `pathOf` names the
 * field as the client wrote it.
 */
async function assertChannelsExist(context: GovernanceContext, definition: WorkflowDefinition, pathOf: (index: number, field: 'channelIds' | 'escalationChannelIds') => string): Promise<void> {
  const index = definition.actions.findIndex((action) => action.type === 'ALERT');
  const action = definition.actions[index];
  if (!action || action.type !== 'ALERT') return;

  for (const field of ['channelIds', 'escalationChannelIds'] as const) {
    for (const [position, id] of action[field].entries()) {
      if (await context.store.alerts.getChannel(id)) continue;
      const path = `${pathOf(index, field)}[${position}]`;
      throw new InvalidInputError(`Invalid workflow ${path}: no alert channel has the id ${JSON.stringify(id)}; use an id from alertChannels`, { format: 'workflow', path, value: id });
    }
  }
}

const inputPath = (index: number, field: string) => `input.actions[${index}].${field}`;
const overridePath = (_index: number, field: 'channelIds' | 'escalationChannelIds') => (field === 'channelIds' ? 'overrides.alertChannelIds' : 'overrides.escalationChannelIds');

/** Validates and stores a new workflow. */
export async function createWorkflow(context: GovernanceContext, input: unknown): Promise<Workflow> {
  const definition = parseWorkflowDefinition(input);
  await assertChannelsExist(context, definition, inputPath);
  return storeNew(context, definition);
}

/** Creates a workflow from a template shipped with Stratum, with the client's overrides. */
export async function instantiateWorkflowTemplate(context: GovernanceContext, templateId: string, overrides: TemplateOverrides = {}): Promise<Workflow> {
  const definition = instantiateTemplate(templateId, overrides);
  await assertChannelsExist(context, definition, overridePath);
  return storeNew(context, definition, templateId);
}

function assertVersion(version: number): void {
  if (!Number.isInteger(version) || version < 1) {
    throw new InvalidInputError(`Invalid expectedVersion ${version}: pass the version of the workflow as last read, an integer from 1`, { format: 'workflow', path: 'expectedVersion', value: version });
  }
}

/**
 * Replaces a workflow's definition when it still has `expectedVersion`; disabling is an update
 * with `enabled: false`. The trigger may change, and the result is validated as a whole.
 */
export async function updateWorkflow(context: GovernanceContext, id: string, expectedVersion: number, input: unknown): Promise<Workflow> {
  assertVersion(expectedVersion);
  const existing = await context.store.governance.getWorkflow(id);
  if (!existing) throw new NotFoundError('Workflow', id, 'list the workflows to see their ids');

  const definition = parseWorkflowDefinition(input);
  await assertChannelsExist(context, definition, inputPath);
  const updated: Workflow = {
    ...existing,
    ...definition,
    version: expectedVersion + 1,
    updatedAt: context.clock.now().toISOString(),
    updatedBy: context.actor,
  };

  await context.store.governance.putWorkflow(updated, expectedVersion);
  context.logger.info('updated workflow', { tenant: context.store.tenant, workflowId: id, version: updated.version, enabled: updated.enabled });
  await backfillIfSla(context, updated);
  return updated;
}

/**
 * Deletes a workflow when it still has `expectedVersion`. Its open violations close as
 * RULE_REMOVED on the next daily pass.
 */
export async function deleteWorkflow(context: GovernanceContext, id: string, expectedVersion: number): Promise<void> {
  assertVersion(expectedVersion);
  await context.store.governance.deleteWorkflow(id, expectedVersion);
  context.logger.info('deleted workflow', { tenant: context.store.tenant, workflowId: id, version: expectedVersion });
}

/** Lists the tenant's enabled workflows with this trigger, oldest first. */
export async function enabledWorkflows(store: TenantStore, trigger: WorkflowTrigger): Promise<Workflow[]> {
  return (await store.governance.allWorkflows()).filter((workflow) => workflow.enabled && workflow.trigger === trigger);
}

/**
 * Lists the tenant's enabled GATE workflows, which the CI gate turns into its policy. Each one's
 * conditions select the findings that fail the gate, and its only action is FAIL_GATE.
 */
export async function listGateWorkflows(store: TenantStore): Promise<Workflow[]> {
  return enabledWorkflows(store, 'GATE');
}
