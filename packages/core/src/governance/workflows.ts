import { randomUUID } from 'node:crypto';

import type { Clock } from '../clock.ts';
import { InvalidInputError, NotFoundError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { TenantStore } from '../store/store.ts';
import { instantiateTemplate, type TemplateOverrides } from './templates.ts';
import { parseWorkflowDefinition, type Workflow, type WorkflowDefinition, type WorkflowTrigger } from './workflow.ts';

/** Dependencies of workflow changes: the tenant's store, the time, a logger and who acts. */
export interface GovernanceContext {
  store: TenantStore;
  clock: Clock;
  logger: Logger;
  actor: string;
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
  return workflow;
}

/** Validates and stores a new workflow. */
export async function createWorkflow(context: GovernanceContext, input: unknown): Promise<Workflow> {
  return storeNew(context, parseWorkflowDefinition(input));
}

/** Creates a workflow from a template shipped with Stratum, with the client's overrides. */
export async function instantiateWorkflowTemplate(context: GovernanceContext, templateId: string, overrides: TemplateOverrides = {}): Promise<Workflow> {
  return storeNew(context, instantiateTemplate(templateId, overrides), templateId);
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
  const updated: Workflow = {
    ...existing,
    ...definition,
    version: expectedVersion + 1,
    updatedAt: context.clock.now().toISOString(),
    updatedBy: context.actor,
  };

  await context.store.governance.putWorkflow(updated, expectedVersion);
  context.logger.info('updated workflow', { tenant: context.store.tenant, workflowId: id, version: updated.version, enabled: updated.enabled });
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
