import { chainIds, sha256 } from '../digest.ts';
import type { Image } from '../image/model.ts';
import { repositoryMatches } from './conditions.ts';
import type { GovernanceDependencies } from './dependencies.ts';
import { alertAction } from './workflow.ts';
import { enabledWorkflows } from './workflows.ts';

/**
 * Identifies an image's base image across detection methods. The chain id of its layers comes
 * first when the boundary and the diff_ids are known, so the same base found by annotation, by
 * layer prefix or by history has one identity. Otherwise its digest is used, else its name.
 */
export function baseImageIdentity(image: Image): string | undefined {
  const base = image.baseImage;
  if (!base) return undefined;

  const baseLayers = base.layerCount ? image.layers.slice(0, base.layerCount).map((layer) => layer.diffId) : [];
  if (baseLayers.length > 0 && baseLayers.every((id): id is NonNullable<typeof id> => id !== undefined)) return `chain:${chainIds(baseLayers).at(-1)}`;
  if (base.digest) return `digest:${base.digest}`;
  if (base.name) return `name:${base.name}`;
  return undefined;
}

/**
 * Sends NEW_BASE_IMAGE once per base image the tenant has not seen before, to the channels of
 * every enabled NEW_BASE_IMAGE workflow whose repositories match. The base is recorded as seen
 * after the dispatch, so a failure in between repeats the dispatch, which delivery deduplicates
 * by key. Without a dispatcher a matching base stays unseen, so a later save alerts.
 */
export async function checkNewBaseImage(dependencies: GovernanceDependencies, image: Image): Promise<boolean> {
  const identity = baseImageIdentity(image);
  if (!identity) return false;

  const baseKey = sha256(identity).slice(7, 39);
  if (await dependencies.store.governance.getSeenBase(baseKey)) return false;

  const workflows = (await enabledWorkflows(dependencies.store, 'NEW_BASE_IMAGE')).filter((workflow) => repositoryMatches(workflow.conditions.repositories, image.repository));
  const channelIds = [...new Set(workflows.flatMap((workflow) => alertAction(workflow)?.channelIds ?? []))];
  const base = image.baseImage!;
  const where = image.repository ?? image.key;
  // A base found by layer history alone has no name: it is described, never named after the image built on it.
  const named = base.name ?? base.digest;
  const summary = named ?? `a base of ${base.layerCount} layers`;
  const text = named
    ? `${where} is built on ${named}, a base image not seen before in this tenant`
    : `${where} is built on a base of ${base.layerCount} layers first seen in this image`;

  if (channelIds.length > 0) {
    if (!dependencies.alerts) {
      dependencies.logger.warn('new base image not alerted: no alert dispatcher configured', { tenant: dependencies.store.tenant, imageKey: image.key, baseKey });
      return false;
    }
    await dependencies.alerts.dispatch({
      tenant: dependencies.store.tenant,
      key: `base-image#${baseKey}#NEW`,
      kind: 'NEW_BASE_IMAGE',
      channelIds,
      subject: `New base image in ${where}: ${summary}`,
      text: `${text} (detected by ${base.method.toLowerCase().replaceAll('_', ' ')}, ${base.confidence.toLowerCase()} confidence).`,
      // A JSON round trip drops undefined fields, which stores that marshal the details reject.
      details: JSON.parse(
        JSON.stringify({
          baseImage: { name: base.name, digest: base.digest, method: base.method, confidence: base.confidence, layerCount: base.layerCount },
          image: { key: image.key, digest: image.digest, repository: image.repository, tags: image.tags },
          workflowIds: workflows.map((workflow) => workflow.id),
        }),
      ),
    });
  }

  await dependencies.store.governance.markBaseSeen({
    baseKey,
    ...(base.name ? { name: base.name } : {}),
    ...(base.digest ? { digest: base.digest } : {}),
    firstImageKey: image.key,
    ...(image.repository ? { repository: image.repository } : {}),
    seenAt: dependencies.clock.now().toISOString(),
  });
  dependencies.logger.info('recorded new base image', { tenant: dependencies.store.tenant, imageKey: image.key, baseKey, alerted: channelIds.length > 0 });
  return channelIds.length > 0;
}
