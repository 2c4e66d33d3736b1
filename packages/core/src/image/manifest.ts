import { z } from 'zod';

import { InvalidInputError } from '../errors.ts';
import { digestSchema, parseWith } from '../validation.ts';

export const MEDIA_TYPES = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
} as const;

/** Media types that name an image manifest or an index, used to filter registry notifications. */
export const MANIFEST_MEDIA_TYPES: readonly string[] = Object.values(MEDIA_TYPES);

const platformSchema = z.object({
  architecture: z.string(),
  os: z.string(),
  variant: z.string().optional(),
  'os.version': z.string().optional(),
});
export type Platform = z.infer<typeof platformSchema>;

const descriptorSchema = z.object({
  mediaType: z.string(),
  digest: digestSchema,
  size: z.number().int().nonnegative(),
  annotations: z.record(z.string(), z.string()).optional(),
  platform: platformSchema.optional(),
});
export type Descriptor = z.infer<typeof descriptorSchema>;

const manifestSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.enum([MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerManifest]).optional(),
  config: descriptorSchema,
  layers: z.array(descriptorSchema),
  annotations: z.record(z.string(), z.string()).optional(),
});
export type ImageManifest = z.infer<typeof manifestSchema>;

const indexSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.enum([MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerManifestList]).optional(),
  manifests: z.array(descriptorSchema),
  annotations: z.record(z.string(), z.string()).optional(),
});
export type ImageIndex = z.infer<typeof indexSchema>;

export type ManifestDocument = { kind: 'manifest'; manifest: ImageManifest } | { kind: 'index'; index: ImageIndex };

/**
 * Parses a manifest or an index. The media type decides when present; an OCI document may
 * omit it, and then the presence of `manifests` or `layers` decides.
 */
export function parseManifestDocument(input: unknown): ManifestDocument {
  const body = input as { mediaType?: unknown; manifests?: unknown } | null;
  const mediaType = body?.mediaType;
  const isIndex =
    mediaType === MEDIA_TYPES.ociIndex ||
    mediaType === MEDIA_TYPES.dockerManifestList ||
    (mediaType === undefined && Array.isArray(body?.manifests));

  if (isIndex) return { kind: 'index', index: parseWith(indexSchema, input, 'image index') };
  return { kind: 'manifest', manifest: parseWith(manifestSchema, input, 'image manifest') };
}

export function parseManifest(input: unknown): ImageManifest {
  return parseWith(manifestSchema, input, 'image manifest');
}

/** BuildKit stores attestations as index entries with this annotation and platform unknown/unknown. */
function isAttestation(descriptor: Descriptor): boolean {
  return (
    descriptor.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest' ||
    (descriptor.platform?.os === 'unknown' && descriptor.platform.architecture === 'unknown')
  );
}

/**
 * Picks the runnable image for a platform from an index, skipping attestation manifests.
 * The default platform is linux/amd64, the platform of most Lambda and ECS workloads.
 */
export function selectPlatform(index: ImageIndex, requested: Partial<Platform> = { os: 'linux', architecture: 'amd64' }): Descriptor {
  const runnable = index.manifests.filter((descriptor) => !isAttestation(descriptor));

  const match = runnable.find((descriptor) => {
    const platform = descriptor.platform;
    if (!platform) return false;
    if (requested.os && platform.os !== requested.os) return false;
    if (requested.architecture && platform.architecture !== requested.architecture) return false;
    if (requested.variant && platform.variant !== requested.variant) return false;
    return true;
  });
  if (match) return match;

  // An index with a single runnable entry and no platform data is common for single-arch pushes.
  if (runnable.length === 1 && !runnable[0]!.platform) return runnable[0]!;

  const available = runnable.map((d) => (d.platform ? `${d.platform.os}/${d.platform.architecture}${d.platform.variant ? `/${d.platform.variant}` : ''}` : d.digest));
  throw new InvalidInputError(
    `Image index has no manifest for platform ${requested.os ?? '*'}/${requested.architecture ?? '*'}; available: ${available.join(', ') || 'none'}`,
    { path: 'manifests', value: available },
  );
}
