import type { Context, EventBridgeEvent } from 'aws-lambda';
import { cosignAttestationSubject, EcrRegistry, fetchImage, importPushedImageVex, recordImage, REGISTRY_VEX_ACTOR, type RegistryClient } from '@stratum/core';

import { eventIdOf, parseImageActionEvent } from './events.ts';
import { rejectOrThrow, type HandlerOutcome } from './outcome.ts';
import { governanceFor, lambdaDependencies, type HandlerDependencies } from './runtime.ts';

/**
 * Handles an "ECR Image Action" event: fetches the pushed manifest and config from the
 * registry and stores the image with its layers and base image.
 */
export async function handleImagePushed(
  dependencies: HandlerDependencies,
  event: unknown,
  registryFor: (account: string, region: string) => RegistryClient = (account, region) => new EcrRegistry(dependencies.ecr(region), account),
): Promise<HandlerOutcome> {
  const { logger } = dependencies;
  const eventId = eventIdOf(event);

  try {
    const parsed = parseImageActionEvent(event);
    const { detail } = parsed;
    const fields = { eventId, repository: detail['repository-name'], digest: detail['image-digest'] };
    if (detail['action-type'] !== 'PUSH' || detail.result !== 'SUCCESS') {
      logger.info('ignored image action', { ...fields, action: detail['action-type'], result: detail.result });
      return { status: 'ignored', reason: `action ${detail['action-type']} with result ${detail.result}` };
    }

    const tenant = dependencies.tenantForAccount(parsed.account);
    const registry = registryFor(parsed.account, parsed.region);
    const vexContext = { store: dependencies.store.forTenant(tenant), clock: dependencies.clock, logger, actor: REGISTRY_VEX_ACTOR };

    // A cosign attestation is not an image: it brings VEX for the image its tag names, which may have been pushed before it.
    const subject = cosignAttestationSubject(detail['image-tag']);
    if (subject) {
      await importPushedImageVex(vexContext, registry, { repository: detail['repository-name'], digest: subject, attestation: detail['image-digest'] }, fields);
      return { status: 'ignored', reason: `cosign attestation of ${subject}; its VEX documents were imported, no image was stored` };
    }

    const fetched = await fetchImage(registry, detail['repository-name'], detail['image-digest']);
    const image = await recordImage(
      { store: dependencies.store.forTenant(tenant), clock: dependencies.clock, logger, governance: governanceFor(dependencies, tenant, logger) },
      {
        manifestDigest: fetched.manifestDigest,
        indexDigest: fetched.indexDigest,
        repository: detail['repository-name'],
        tags: detail['image-tag'] ? [detail['image-tag']] : [],
        pushedAt: new Date(parsed.time).toISOString(),
        manifest: fetched.manifest,
        config: fetched.config,
        annotations: fetched.annotations,
      },
    );

    await importPushedImageVex(vexContext, registry, { repository: detail['repository-name'], digest: detail['image-digest'], baseImage: image.baseImage }, fields);
    logger.info('stored pushed image', { ...fields, tenant, imageKey: image.key, layers: image.layers.length, baseMethod: image.baseImage?.method });

    // Content analysis reads every layer, so it runs as its own queued step and never delays this handler.
    if (dependencies.requestAnalysis) {
      await dependencies.requestAnalysis({ tenant, repository: detail['repository-name'], imageDigest: fetched.manifestDigest, registryId: parsed.account, region: parsed.region, requestedAt: dependencies.clock.now().toISOString(), requestedBy: 'stratum:image-pushed' });
      logger.info('queued image analysis', { ...fields, tenant, imageDigest: fetched.manifestDigest });
    } else {
      logger.info('no analysis queue configured; content analysis skipped', { ...fields, tenant });
    }

    return { status: 'stored', imageKey: image.key };
  } catch (error) {
    return rejectOrThrow(error, logger, { eventId, handler: 'image-pushed' });
  }
}

export const handler = async (event: EventBridgeEvent<'ECR Image Action', unknown>, context: Context): Promise<HandlerOutcome> => {
  const dependencies = lambdaDependencies();
  dependencies.logger.debug('invocation', { requestId: context.awsRequestId });
  return handleImagePushed(dependencies, event);
};
