/** An image reference split into its parts: `registry/path/name:tag@digest`. */
export interface ImageReference {
  repository: string;
  tag?: string;
  digest?: string;
}

/**
 * Splits an image reference. A colon after the last slash starts the tag (a colon before it
 * belongs to a registry port, as in `localhost:5000/app`).
 */
export function parseReference(reference: string): ImageReference {
  const at = reference.indexOf('@');
  const digest = at >= 0 ? reference.slice(at + 1) : undefined;
  const name = at >= 0 ? reference.slice(0, at) : reference;
  const colon = name.lastIndexOf(':');
  const slash = name.lastIndexOf('/');

  if (colon > slash) return { repository: name.slice(0, colon), tag: name.slice(colon + 1), digest };
  return { repository: name, digest };
}
