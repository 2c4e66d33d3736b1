import { Match } from 'aws-cdk-lib/assertions';
import { describe, it } from 'vitest';
import { tableDefinition } from '../../packages/core/src/store/table.ts';
import type { StackTemplates } from './synthesize.ts';

const expectedTable = tableDefinition('unused');

/** Declares the checks of the Storage stack against the store's table definition. */
export function describeStorageStack(templates: () => StackTemplates): void {
  const storage = () => templates().storage;

  describe('storage', () => {
    it('table uses store key schema', () => {
      storage().hasResourceProperties('AWS::DynamoDB::Table', { KeySchema: expectedTable.KeySchema });
    });

    it('table defines every key attribute', () => {
      storage().hasResourceProperties('AWS::DynamoDB::Table', {
        AttributeDefinitions: Match.arrayEquals(expectedTable.AttributeDefinitions ?? []),
      });
    });

    it('table has the three GSIs', () => {
      storage().hasResourceProperties('AWS::DynamoDB::Table', {
        GlobalSecondaryIndexes: Match.arrayEquals(expectedTable.GlobalSecondaryIndexes ?? []),
      });
    });

    it('table bills per request', () => {
      storage().hasResourceProperties('AWS::DynamoDB::Table', { BillingMode: 'PAY_PER_REQUEST' });
    });

    it('table keeps point-in-time recovery', () => {
      storage().hasResourceProperties('AWS::DynamoDB::Table', {
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      });
    });

    it('table expires items at expiresAt', () => {
      storage().hasResourceProperties('AWS::DynamoDB::Table', {
        TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      });
    });
  });
}
