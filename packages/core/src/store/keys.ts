import { InvalidInputError } from '../errors.ts';
import type { LayerOrigin } from '../finding.ts';

/** Tenant ids go into every key, so they are restricted to characters that cannot forge a key separator. */
const TENANT_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/;

export function assertTenant(tenant: string): void {
  if (!TENANT_PATTERN.test(tenant)) {
    throw new InvalidInputError(`Invalid tenant id ${JSON.stringify(tenant)}: use 1 to 64 lowercase letters, digits, '-' or '_'`, { path: 'tenant', value: tenant });
  }
}

const rank = (value: number) => String(value);

export const keys = {
  image: (tenant: string, imageKey: string) => ({ PK: `T#${tenant}#IMG#${imageKey}`, SK: 'IMAGE' }),
  ref: (tenant: string, digest: string) => ({ PK: `T#${tenant}#REF#${digest}`, SK: 'REF' }),
  repository: (tenant: string, repository: string) => `T#${tenant}#REPO#${repository}`,
  /** The tenant's repositories, one item per repository, so governance can visit images that no new scan brings. */
  repositories: (tenant: string) => `T#${tenant}#REPOS`,
  chain: (tenant: string, chainId: string, imageKey: string) => ({ PK: `T#${tenant}#CHAIN#${chainId}`, SK: `IMG#${imageKey}` }),
  chainPartition: (tenant: string, chainId: string) => `T#${tenant}#CHAIN#${chainId}`,
  chainTop: (tenant: string, chainId: string) => ({ PK: `T#${tenant}#TOP#${chainId}`, SK: 'TOP' }),
  scan: (tenant: string, scanId: string) => `T#${tenant}#SCAN#${scanId}`,
  finding: (tenant: string, scanId: string, severityRank: number, findingId: string) => ({
    PK: `T#${tenant}#SCAN#${scanId}`,
    SK: `F#${rank(severityRank)}#${findingId}`,
  }),
  findingsByOrigin: (tenant: string, scanId: string, origin: LayerOrigin) => `T#${tenant}#SCAN#${scanId}#O#${origin}`,
  vulnerability: (tenant: string, vulnerabilityId: string) => `T#${tenant}#VULN#${vulnerabilityId.toUpperCase()}`,
  package: (tenant: string, packageName: string) => `T#${tenant}#PKG#${packageName}`,
  severityPart: (severityRank: number) => rank(severityRank),
};
