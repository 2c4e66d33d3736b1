import { Table, type StackContext } from 'sst/constructs';
import { INDEXES, KEY_ATTRIBUTES } from '../packages/core/src/store/table.ts';

export function Storage({ stack }: StackContext) {
  // Names come from the store's own table definition (also used for the local stand-in), so the
  // deployed table and the code that queries it cannot drift apart.
  const table = new Table(stack, 'Data', {
    fields: Object.fromEntries(KEY_ATTRIBUTES.map((name) => [name, 'string' as const])),
    primaryIndex: { partitionKey: 'PK', sortKey: 'SK' },
    globalIndexes: Object.fromEntries(
      Object.values(INDEXES).map((name) => [
        name,
        { partitionKey: `${name}PK`, sortKey: `${name}SK`, projection: 'all' as const },
      ]),
    ),
    timeToLiveAttribute: 'expiresAt',
    cdk: {
      table: {
        // SST sets the deprecated `pointInTimeRecovery` flag itself, and CDK raises an error when it
        // is set next to the newer specification, so it is cleared here.
        pointInTimeRecovery: undefined,
        pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      },
    },
  });

  return { table };
}
