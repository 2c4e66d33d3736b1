import type { CfnElement, Stack } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import type { Function } from 'sst/constructs';

export type Resource = { Properties: Record<string, any> };
export type Statement = { Action: string | string[]; Resource: unknown; Condition?: unknown };

/** Folder of the Lambda handler files, which starts every function's Handler property. */
export const HANDLER_PREFIX = 'packages/functions/src/';

export const logicalId = (stack: Stack, construct: IConstruct) => stack.getLogicalId(construct.node.defaultChild as CfnElement);

export const actionsOf = (statement: Statement) => (Array.isArray(statement.Action) ? statement.Action : [statement.Action]);

/** Finds the Lambda functions of a template whose Handler property equals `handler`. */
export function functionsWithHandler(template: Template, handler: string): Resource[] {
  return Object.values(template.findResources('AWS::Lambda::Function', { Properties: { Handler: handler } })) as Resource[];
}

/** Collects the statements of every IAM policy in a template. */
export function policyStatements(template: Template): Statement[] {
  const policies = Object.values(template.findResources('AWS::IAM::Policy')) as Resource[];
  return policies.flatMap((policy) => policy.Properties.PolicyDocument.Statement as Statement[]);
}

/** Collects every IAM statement attached to a function's role, however the policies group them. */
export function roleStatements(template: Template, stack: Stack, fn: Function): Statement[] {
  if (!fn.role) throw new Error(`Function ${fn.node.id} has no IAM role`);

  const role = { Ref: logicalId(stack, fn.role) };
  const policies = Object.values(template.findResources('AWS::IAM::Policy', { Properties: { Roles: [role] } })) as Resource[];
  return policies.flatMap((policy) => policy.Properties.PolicyDocument.Statement as Statement[]);
}

/** Collects every IAM action granted to a function's role. */
export function roleActions(template: Template, stack: Stack, fn: Function): string[] {
  return roleStatements(template, stack, fn).flatMap(actionsOf);
}
