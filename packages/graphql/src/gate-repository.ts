import type { GateResult, TenantStore } from '@stratum/core';

/** Repositories read while looking for the requested one; a tenant with more gets no suggestions past them. */
const MAX_REPOSITORIES_READ = 5_000;
const PAGE_SIZE = 100;
const MAX_SUGGESTIONS = 5;

/**
 * Strips what differs between the names one image is known by: a registry host (a first part
 * with a dot or a port, or localhost) and Docker Hub's `library/` prefix for official images.
 */
function repositoryPath(repository: string): string {
  const parts = repository.toLowerCase().split('/');
  if (parts.length > 1 && (/[.:]/.test(parts[0]!) || parts[0] === 'localhost')) parts.shift();
  if (parts.length > 1 && parts[0] === 'library') parts.shift();
  return parts.join('/');
}

function samePath(stored: string, requested: string): boolean {
  const a = repositoryPath(stored);
  const b = repositoryPath(requested);
  return a === b || a.endsWith(`/${b}`) || b.endsWith(`/${a}`);
}

/**
 * Looks the requested repository up among the tenant's stored repositories. Returns whether it is
 * stored, and the stored names that end with the same path, such as bkimminich/juice-shop for
 * docker.io/bkimminich/juice-shop.
 */
export async function findRepository(store: TenantStore, repository: string): Promise<{ known: boolean; similar: string[] }> {
  const similar: string[] = [];
  let after: string | undefined;
  let read = 0;

  do {
    const page = await store.listRepositories({ first: PAGE_SIZE, after });
    for (const { node } of page.items) {
      if (node === repository) return { known: true, similar: [] };
      if (similar.length < MAX_SUGGESTIONS && samePath(node, repository)) similar.push(node);
    }
    read += page.items.length;
    after = page.hasNextPage ? page.endCursor : undefined;
  } while (after && read < MAX_REPOSITORIES_READ);

  return { known: false, similar };
}

/** A gate result with whether the requested repository is stored: null when the request named a digest. */
export type GateResultWithRepository = GateResult & { repositoryKnown: boolean | null };

/**
 * Adds the repository lookup to a PENDING result for an image that is not found. A pipeline that
 * names a repository the tenant has never stored then learns that at once, with the stored names
 * it may have meant, instead of waiting for an image that will not arrive under that name.
 */
export async function withRepositoryHint(store: TenantStore, result: GateResult, repository: string | undefined): Promise<GateResultWithRepository> {
  if (!repository || result.pendingReason !== 'IMAGE_NOT_FOUND') return { ...result, repositoryKnown: repository ? true : null };

  const { known, similar } = await findRepository(store, repository);
  if (known) return { ...result, repositoryKnown: true };

  const suggestion = similar.length > 0 ? ` Stored repositories with the same path: ${similar.join(', ')}; request the image under one of them.` : ' Check the repository name: it must match the name the image was pushed or reported under.';
  const reason = `Repository ${repository} is not known in this tenant: no push or scan report has named it.${suggestion}`;
  return { ...result, reasons: [reason, ...result.reasons], repositoryKnown: false };
}
