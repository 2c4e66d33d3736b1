import { getStack, use } from 'sst/constructs';
import { describe, expect, it } from 'vitest';
import { Api } from '../../stacks/Api.ts';
import { Events } from '../../stacks/Events.ts';
import type { StackTemplates } from './synthesize.ts';
import { HANDLER_PREFIX, roleActions, type Resource } from './template-queries.ts';

const handlerName = (fn: Resource) => String(fn.Properties.Handler).slice(HANDLER_PREFIX.length);

/** Declares the checks shared by the request and event handlers of the Storage, Events and Api stacks. */
export function describeHandlerFunctions(templates: () => StackTemplates): void {
  const functions = (): Resource[] => {
    const { storage, events, api } = templates();
    return [storage, events, api]
      .flatMap((template) => Object.values(template.findResources('AWS::Lambda::Function')) as Resource[])
      .filter((fn) => String(fn.Properties.Handler).startsWith(HANDLER_PREFIX));
  };

  describe('functions', () => {
    it('all three handlers are deployed', () => {
      expect(functions().map(handlerName).sort()).toEqual([
        'graphql.handler',
        'image-pushed.handler',
        'scan-completed.handler',
      ]);
    });

    it('handlers receive the table name', () => {
      expect(functions().every((fn) => fn.Properties.Environment?.Variables?.STRATUM_TABLE !== undefined)).toBe(true);
    });

    it('handlers run nodejs20.x', () => {
      expect(functions().map((fn) => fn.Properties.Runtime)).toEqual(Array(3).fill('nodejs20.x'));
    });

    it('handlers run on arm64', () => {
      expect(functions().map((fn) => fn.Properties.Architectures)).toEqual(Array(3).fill(['arm64']));
    });

    it('timeouts match each workload', () => {
      const timeouts = Object.fromEntries(functions().map((fn) => [handlerName(fn), fn.Properties.Timeout]));
      expect(timeouts).toEqual({ 'graphql.handler': 10, 'image-pushed.handler': 30, 'scan-completed.handler': 60 });
    });

    it('handlers may write the table', () => {
      const { events, api } = templates();
      const granted = [
        roleActions(events, getStack(Events), use(Events).imagePushed),
        roleActions(events, getStack(Events), use(Events).scanCompleted),
        roleActions(api, getStack(Api), use(Api).graphql),
      ];
      expect(granted.every((actions) => ['dynamodb:Query', 'dynamodb:PutItem'].every((a) => actions.includes(a)))).toBe(
        true,
      );
    });
  });
}
