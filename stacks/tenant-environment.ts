/**
 * Returns the environment that functions handling registry events need: the table, and how an
 * AWS account maps to a tenant (set at deploy time through the same variables).
 */
export function tenantEnvironment(tableName: string): Record<string, string> {
  return {
    STRATUM_TABLE: tableName,
    STRATUM_ACCOUNT_TENANTS: process.env.STRATUM_ACCOUNT_TENANTS ?? '',
    STRATUM_DEFAULT_TENANT: process.env.STRATUM_DEFAULT_TENANT ?? 'default',
  };
}
