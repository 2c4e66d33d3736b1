import { InvalidInputError, type Page } from '@stratum/core';

export const DEFAULT_PAGE_SIZE = 50;

interface ConnectionArgs {
  first?: number | null;
  after?: string | null;
  last?: number | null;
  before?: string | null;
}

/** Reads forward paging arguments; Stratum's lists page forward only. */
export function forwardPage(args: ConnectionArgs): { first: number; after?: string } {
  if (args.last != null || args.before != null) {
    throw new InvalidInputError('Backward paging is not supported: use first and after', { path: args.last != null ? 'last' : 'before' });
  }

  return { first: args.first ?? DEFAULT_PAGE_SIZE, after: args.after ?? undefined };
}

/** Converts a store page to a Relay connection. */
export function toConnection<T, N>(page: Page<T>, map: (node: T) => N) {
  return {
    edges: page.items.map(({ node, cursor }) => ({ node: map(node), cursor })),
    pageInfo: {
      hasNextPage: page.hasNextPage,
      hasPreviousPage: false,
      startCursor: page.items[0]?.cursor ?? null,
      endCursor: page.endCursor ?? null,
    },
  };
}
