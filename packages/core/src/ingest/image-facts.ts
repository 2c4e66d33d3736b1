import type { Digest } from '../digest.ts';
import { InvalidInputError } from '../errors.ts';
import type { ImageConfig } from '../image/config.ts';
import type { ImageManifest } from '../image/manifest.ts';
import { buildLayers, mergeLayers, type Image } from '../image/model.ts';
import type { IngestContext } from './context.ts';

/** Everything a push or a report can tell about an image's identity and structure. */
export interface ImageUpdate {
  manifestDigest?: Digest;
  imageId?: Digest;
  /** Digest of the index the manifest was picked from, when the push named an index. */
  indexDigest?: Digest;
  repository?: string;
  tags?: string[];
  pushedAt?: string;
  manifest?: ImageManifest;
  config?: ImageConfig;
  diffIds?: Digest[];
  layerDigests?: Digest[];
  /** Annotations from the manifest and from the index entry that pointed at it. */
  annotations?: Record<string, string>;
}

/**
 * Finds the stored image for an update. An image may be known by its manifest digest, by its
 * image ID, or by both once a push or a report has joined them. The manifest digest wins.
 */
export async function findExisting(context: IngestContext, update: ImageUpdate): Promise<Image | undefined> {
  const byDigest = update.manifestDigest ? await context.store.getImage(update.manifestDigest) : undefined;
  const imageId = update.imageId ?? update.manifest?.config.digest;
  let byImageId = imageId ? await context.store.getImage(imageId) : undefined;

  // The same config under another manifest digest (the layers compressed differently, or pushed
  // again) is another manifest of the same content: it gets its own record.
  if (byImageId?.digest && update.manifestDigest && byImageId.digest !== update.manifestDigest) byImageId = undefined;

  if (byDigest && byImageId && byDigest.key !== byImageId.key) {
    // NOTE: the record stored under the image ID alone keeps its own findings; only the alias moves.
    context.logger.warn('image known under two keys; joining on the manifest digest', { imageKey: byDigest.key, otherKey: byImageId.key });
  }

  return byDigest ?? byImageId;
}

function configFacts(config: ImageConfig | undefined): Partial<Image> {
  if (!config) return {};

  return {
    platform: config.os && config.architecture ? { os: config.os, architecture: config.architecture, variant: config.variant } : undefined,
    labels: config.config?.Labels ?? {},
    entrypoint: config.config?.Entrypoint,
    cmd: config.config?.Cmd,
    env: config.config?.Env,
    workingDir: config.config?.WorkingDir || undefined,
    user: config.config?.User || undefined,
    history: config.history,
  };
}

/** Merges an update into the stored image (or starts a new one), checking that both describe the same image. */
export function mergeImage(existing: Image | undefined, update: ImageUpdate, now: string): Image {
  const imageId = update.imageId ?? update.manifest?.config.digest;
  const key = existing?.key ?? update.manifestDigest ?? imageId;
  if (!key) {
    throw new InvalidInputError('The report names no image: it has neither a manifest digest nor an image ID. Pass the image digest with the upload.', { path: 'digest' });
  }

  for (const [field, stored, incoming] of [
    ['digest', existing?.digest, update.manifestDigest],
    ['imageId', existing?.imageId, imageId],
  ] as const) {
    if (stored && incoming && stored !== incoming) {
      throw new InvalidInputError(`Image ${key} has ${field} ${stored} on record but the new data has ${incoming}, so they are different images`, { path: field, value: incoming });
    }
  }

  const layers = mergeLayers(existing?.layers ?? [], buildLayers(update));
  const fromConfig = configFacts(update.config);
  const tags = [...new Set([...(existing?.tags ?? []), ...(update.tags ?? [])])];

  return {
    labels: {},
    ...existing,
    ...Object.fromEntries(Object.entries(fromConfig).filter(([, value]) => value !== undefined)),
    key,
    digest: existing?.digest ?? update.manifestDigest,
    imageId: existing?.imageId ?? imageId,
    indexDigest: update.indexDigest ?? existing?.indexDigest,
    // An image keeps the repository it was first seen in; the same digest pushed elsewhere does not move it.
    repository: existing?.repository ?? update.repository,
    tags,
    pushedAt: update.pushedAt ?? existing?.pushedAt,
    layers,
    annotations: { ...existing?.annotations, ...update.manifest?.annotations, ...update.annotations },
    createdAt: existing?.createdAt ?? now,
    updatedAt: now,
  };
}
