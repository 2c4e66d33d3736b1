import type { TenantStore } from '../store/store.ts';
import type { GatePolicy, GateRule } from './gate-policy.ts';
import type { Workflow } from './workflow.ts';
import { listGateWorkflows } from './workflows.ts';

/**
 * Turns a GATE workflow into a gate rule with the same conditions. A workflow that names no
 * origins covers APPLICATION and UNKNOWN layers only, as a gate rule does: base-layer findings
 * fail the gate only when a workflow names BASE.
 */
function ruleOf(workflow: Workflow): GateRule {
  const { conditions } = workflow;
  return {
    name: workflow.name,
    severities: conditions.severities,
    origins: conditions.origins,
    actionable: conditions.actionable ?? null,
    reachability: conditions.reachability,
    kev: conditions.kev,
    minEpss: conditions.minEpss,
    repositories: conditions.repositories,
  };
}

/** Builds the policy from the tenant's enabled GATE workflows, or returns undefined when it has none. */
export async function policyFromGateWorkflows(store: TenantStore): Promise<GatePolicy | undefined> {
  const workflows = await listGateWorkflows(store);
  if (workflows.length === 0) return undefined;

  return {
    name: `GATE workflows: ${workflows.map((workflow) => workflow.name).join(', ')}`,
    rules: workflows.map(ruleOf),
    failOnBase: workflows.some((workflow) => workflow.conditions.origins?.includes('BASE')),
  };
}
