export { readImageLayers, type ImageLayers, type ReadImageOptions } from './read-image.ts';
export type { ImageSource } from './source.ts';
export { DEFAULT_LAYER_LIMITS, type LayerLimits } from './limits.ts';
export { CorruptLayerError, HostileLayerError, LayerLimitError } from './errors.ts';
export { INSPECTOR_HEAD_BYTES } from './read-layer.ts';
