import { InvalidInputError } from '../../errors.ts';

/** A layer went over one of the reader's limits; the read stops and nothing is returned. */
export class LayerLimitError extends InvalidInputError {
  constructor(
    message: string,
    readonly layer: string,
    readonly limit: string,
    readonly reached: number,
  ) {
    super(message, { format: 'image layer', path: limit, value: reached });
  }
}

/** A layer entry that would reach outside the image root: a path or a link target climbing above '/'. */
export class HostileLayerError extends InvalidInputError {
  constructor(
    message: string,
    readonly layer: string,
    readonly entry: string,
  ) {
    super(message, { format: 'image layer', path: entry, value: layer });
  }
}

/** A layer whose bytes do not match its digests, or whose compressed or tar stream is damaged or cut short. */
export class CorruptLayerError extends InvalidInputError {
  constructor(message: string, readonly layer: string, options?: { cause?: unknown }) {
    super(message, { format: 'image layer', value: layer }, options);
  }
}
