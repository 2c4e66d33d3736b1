import type { BaseImage, Layer } from '@stratum/core';

import { builder } from '../builder.ts';
import { BaseDetectionMethodEnum, ConfidenceEnum, LayerOriginEnum } from './enums.ts';

export const LayerRef = builder.objectRef<Layer>('Layer').implement({
  description: 'One layer of an image, in order from the bottom.',
  fields: (t) => ({
    index: t.exposeInt('index'),
    digest: t.exposeString('digest', { nullable: true, description: 'Digest of the layer blob in the registry (usually compressed).' }),
    diffId: t.exposeString('diffId', { nullable: true, description: 'Digest of the uncompressed layer, from the config rootfs.diff_ids.' }),
    size: t.float({ nullable: true, description: 'Size of the layer blob in bytes.', resolve: (layer) => layer.size }),
    createdBy: t.exposeString('createdBy', { nullable: true, description: 'The build instruction that produced the layer, from the config history.' }),
    created: t.string({ nullable: true, resolve: (layer) => layer.created }),
    origin: t.field({ type: LayerOriginEnum, resolve: (layer) => layer.origin }),
  }),
});

export const BaseImageRef = builder.objectRef<BaseImage>('BaseImage').implement({
  description: 'The image this image was built on, and how Stratum decided it.',
  fields: (t) => ({
    name: t.exposeString('name', { nullable: true }),
    digest: t.exposeString('digest', { nullable: true }),
    hardened: t.exposeBoolean('hardened', { description: 'True when the base comes from a hardened-image catalog such as Docker Hardened Images or Chainguard.' }),
    method: t.field({ type: BaseDetectionMethodEnum, resolve: (base) => base.method }),
    confidence: t.field({ type: ConfidenceEnum, resolve: (base) => base.confidence }),
    layerCount: t.int({ nullable: true, description: 'Number of leading layers that belong to the base; null when only its name is known.', resolve: (base) => base.layerCount }),
    evidence: t.exposeString('evidence'),
  }),
});
