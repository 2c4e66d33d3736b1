import { createHash } from 'node:crypto';

import { InvalidInputError } from './errors.ts';

/** OCI content digest: algorithm, colon, lowercase hex. Only sha256 and sha512 are registered. */
const DIGEST_PATTERN = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;

export type Digest = string;

export function isDigest(value: unknown): value is Digest {
  return typeof value === 'string' && DIGEST_PATTERN.test(value);
}

/** Returns the digest unchanged, or throws naming the field and the value that was not a digest. */
export function parseDigest(value: unknown, field: string, format?: string): Digest {
  if (isDigest(value)) return value;

  throw new InvalidInputError(
    `${field} must be a digest such as sha256:<64 lowercase hex characters>, got ${JSON.stringify(value)}`,
    { format, path: field, value },
  );
}

export function sha256(data: string | Uint8Array): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/**
 * Computes the OCI chain IDs of a diff_id list: ChainID(L0) = DiffID(L0) and
 * ChainID(L0..Ln) = sha256(ChainID(L0..Ln-1) + " " + DiffID(Ln)), as the OCI image spec
 * defines them. Two images share their first k layers exactly when their k-th chain IDs match.
 */
export function chainIds(diffIds: readonly Digest[]): Digest[] {
  const chain: Digest[] = [];

  for (const diffId of diffIds) {
    const previous = chain.at(-1);
    chain.push(previous === undefined ? diffId : sha256(`${previous} ${diffId}`));
  }

  return chain;
}
