import { InvalidInputError, type FindingFilter, type LayerOrigin, type ReachabilityStatus, type Severity, type VexStatus, type FindingState } from '@stratum/core';

const VULNERABILITY_ID = /^[A-Za-z][A-Za-z0-9]*-[A-Za-z0-9:._-]+$/;

export function validateVulnerabilityId(value: string, field: string): string {
  const id = value.trim();
  if (!VULNERABILITY_ID.test(id) || id.length > 128) {
    throw new InvalidInputError(`Invalid ${field} ${JSON.stringify(value)}: expected an id such as CVE-2021-44228, GHSA-jfh8-c2jp-5v3q or DSA-5000-1`, { path: field, value });
  }
  return id;
}

export function validateFindingFilter(input: {
  origin?: LayerOrigin | null;
  severity?: Severity[] | null;
  vulnerabilityId?: string | null;
  packageName?: string | null;
  vexStatus?: Array<VexStatus | 'NONE'> | null;
  state?: FindingState[] | null;
  actionable?: boolean | null;
  reachability?: ReachabilityStatus[] | null;
}, now: Date): FindingFilter {
  const packageName = input.packageName?.trim();
  if (input.packageName != null && (!packageName || packageName.length > 512)) {
    throw new InvalidInputError('Invalid filter.packageName: expected a package name of 1 to 512 characters', { path: 'filter.packageName', value: input.packageName });
  }

  return {
    origin: input.origin ?? undefined,
    severities: input.severity ?? undefined,
    vulnerabilityId: input.vulnerabilityId == null ? undefined : validateVulnerabilityId(input.vulnerabilityId, 'filter.vulnerabilityId'),
    packageName: packageName || undefined,
    vexStatuses: input.vexStatus ?? undefined,
    states: input.state ?? undefined,
    actionable: input.actionable ?? undefined,
    reachability: input.reachability ?? undefined,
    now: now.toISOString(),
  };
}

/** Parses a document that a client sent as a JSON string instead of a JSON value. */
export function parseJsonString(text: string, field: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new InvalidInputError(`Invalid ${field}: the string is not JSON (${(error as Error).message}); send the document as a JSON value or a JSON string`, { path: field });
  }
}
