import { z } from 'zod';

import type { Digest } from '../digest.ts';
import { InvalidInputError } from '../errors.ts';
import type { Descriptor } from '../image/manifest.ts';
import { digestSchema, parseWith } from '../validation.ts';
import type { RegistryClient } from './registry.ts';

/** Media type of the referrers response, an OCI image index (OCI distribution spec 1.1). */
export const REFERRERS_MEDIA_TYPE = 'application/vnd.oci.image.index.v1+json';

/** A descriptor of a referrers response: a manifest whose `subject` names the image, with its `artifactType`. */
export type ReferrerDescriptor = Descriptor & { artifactType?: string };

/**
 * The optional OCI 1.1 referrers API of a registry. ECR's SDK has no call for it, so
 * `EcrRegistry` does not implement it and discovery falls back to cosign's tag scheme there.
 */
export interface ReferrersClient {
  /** Lists the manifests whose subject is `digest`, or returns undefined when the registry has no referrers API. */
  listReferrers(repository: string, digest: Digest): Promise<ReferrerDescriptor[] | undefined>;
}

export function supportsReferrers(registry: RegistryClient): registry is RegistryClient & ReferrersClient {
  return typeof (registry as Partial<ReferrersClient>).listReferrers === 'function';
}

const referrerSchema = z.object({
  mediaType: z.string(),
  digest: digestSchema,
  size: z.number().int().nonnegative(),
  artifactType: z.string().optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});

const referrersIndexSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.literal(REFERRERS_MEDIA_TYPE).optional(),
  manifests: z.array(referrerSchema),
});

/** Parses the body of a `GET /v2/<name>/referrers/<digest>` response into its descriptors. */
export function parseReferrersIndex(bytes: Buffer): ReferrerDescriptor[] {
  let body: unknown;
  try {
    body = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new InvalidInputError('The registry returned a referrers response that is not valid JSON', { format: 'referrers index' }, { cause: error });
  }

  return parseWith(referrersIndexSchema, body, 'referrers index').manifests;
}
