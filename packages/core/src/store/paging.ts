import { InvalidInputError } from '../errors.ts';

export interface PageRequest {
  first: number;
  after?: string;
}

export interface Page<T> {
  items: Array<{ node: T; cursor: string }>;
  hasNextPage: boolean;
  endCursor?: string;
}

export const MAX_PAGE_SIZE = 500;

export function encodeCursor(key: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

/** Decodes a cursor produced by encodeCursor; the key attributes are checked against the expected names. */
export function decodeCursor(cursor: string, expected: readonly string[]): Record<string, string> {
  let key: unknown;

  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    key = undefined;
  }

  const valid =
    key !== null &&
    typeof key === 'object' &&
    expected.every((name) => typeof (key as Record<string, unknown>)[name] === 'string') &&
    Object.keys(key).length === expected.length;
  if (!valid) {
    throw new InvalidInputError(`Invalid cursor ${JSON.stringify(cursor.slice(0, 40))}: pass an endCursor or edge cursor from the same query`, { path: 'after', value: cursor });
  }

  return key as Record<string, string>;
}

export function assertPageSize(first: number): void {
  if (!Number.isInteger(first) || first < 1 || first > MAX_PAGE_SIZE) {
    throw new InvalidInputError(`Invalid page size ${first}: first must be an integer from 1 to ${MAX_PAGE_SIZE}`, { path: 'first', value: first });
  }
}
