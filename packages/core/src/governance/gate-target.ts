import type { Image } from '../image/model.ts';
import type { TenantStore } from '../store/store.ts';

/** Maximum number of a repository's images the tag lookup reads, newest push first. */
const MAX_IMAGES_SEARCHED = 2000;
const PAGE_SIZE = 100;

/**
 * Finds the image a tag points at: the most recently pushed image of the repository that lists
 * the tag. An image keeps every tag it was ever seen with, so after a tag moves, both images
 * list it and the newer push wins. The repository must be spelled as the image was stored
 * (the push's or the report's repository).
 *
 * NOTE: images are ordered by push time, or by the time Stratum first stored them when the
 * push time is unknown (report uploads), so a report for an older build imported after a newer
 * push can win the tag.
 */
export async function findImageByTag(store: TenantStore, repository: string, tag: string): Promise<Image | undefined> {
  let after: string | undefined;
  let searched = 0;

  do {
    const page = await store.listImages(repository, { first: PAGE_SIZE, after });
    const match = page.items.find(({ node }) => node.tags.includes(tag));
    if (match) return match.node;

    searched += page.items.length;
    after = page.hasNextPage ? page.endCursor : undefined;
  } while (after && searched < MAX_IMAGES_SEARCHED);

  return undefined;
}
