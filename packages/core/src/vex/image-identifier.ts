import { PackageURL } from 'packageurl-js';

import { isDigest } from '../digest.ts';
import { parseReference } from '../image/reference.ts';

/** An image as a VEX product names it: by digest, by repository (all versions), or by repository and tag. */
export interface ImageIdentifier {
  /** Normalized repository, for example docker.io/library/nginx; undefined when only a digest is known. */
  repository?: string;
  digest?: string;
  tag?: string;
}

/** Docker Hub is written in several ways; all of them name the same registry. */
const DOCKER_HUB_ALIASES = ['index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com', 'hub.docker.com', 'docker.io'];

const ECR_HOST = /^\d{12}\.dkr\.ecr(-fips)?\.[a-z0-9-]+\.amazonaws\.com(\.cn)?\//;

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/**
 * Normalizes a repository: lowercase, no scheme, Docker Hub aliases folded to docker.io, and
 * Docker Hub's implicit `library/` namespace added, so `nginx`, `docker.io/nginx` and
 * `index.docker.io/library/nginx` compare equal.
 */
export function normalizeRepository(repository: string): string {
  let value = safeDecode(repository).trim().toLowerCase().replace(/^[a-z]+:\/\//, '').replace(/\/+$/, '');
  const first = value.split('/')[0]!;
  const hasRegistry = value.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');

  if (!hasRegistry) value = `docker.io/${value}`;
  for (const alias of DOCKER_HUB_ALIASES) {
    if (value.startsWith(`${alias}/`)) value = `docker.io/${value.slice(alias.length + 1)}`;
  }
  if (value.startsWith('docker.io/') && value.split('/').length === 2) value = value.replace('docker.io/', 'docker.io/library/');

  return value;
}

/**
 * Compares a repository named by a VEX product with an image's repository. ECR repositories
 * are stored by name without their registry host, so an ECR reference also matches by path.
 */
export function sameRepository(named: string, imageRepository: string): boolean {
  if (normalizeRepository(named) === normalizeRepository(imageRepository)) return true;

  const decoded = safeDecode(named).toLowerCase();
  return ECR_HOST.test(decoded) && decoded.replace(ECR_HOST, '') === imageRepository.toLowerCase();
}

function fromPurl(value: string): ImageIdentifier | undefined {
  let purl: PackageURL;
  try {
    purl = PackageURL.fromString(value);
  } catch {
    return undefined;
  }

  const version = purl.version ? safeDecode(purl.version) : undefined;
  const digest = version && isDigest(version) ? version : undefined;
  const qualifierTag = purl.qualifiers?.tag;
  const repositoryUrl = purl.qualifiers?.repository_url;

  if (purl.type === 'oci') {
    // The OCI purl names only the last path element; repository_url carries the full repository.
    // Some publishers put the path in the name instead (pkg:oci/dhi%2Fnginx).
    const repository = repositoryUrl ?? (purl.name.includes('/') ? purl.name : undefined);
    return { repository: repository ? normalizeRepository(repository) : undefined, digest, tag: qualifierTag };
  }

  if (purl.type === 'docker') {
    const path = purl.namespace ? `${purl.namespace}/${purl.name}` : purl.name;
    const registry = repositoryUrl ? safeDecode(repositoryUrl).replace(/\/+$/, '') : 'docker.io';
    return { repository: normalizeRepository(`${registry}/${path}`), digest, tag: digest ? qualifierTag : (version ?? qualifierTag) };
  }

  return undefined;
}

/**
 * Parses a VEX product id that names an image: `pkg:oci/…`, `pkg:docker/…`, `repo@sha256:…`,
 * `repo:tag`, or a bare digest. Returns undefined for anything else (package purls, CPEs, names).
 */
export function parseImageIdentifier(value: string): ImageIdentifier | undefined {
  const text = value.trim();
  if (text.startsWith('pkg:')) return fromPurl(text);
  if (isDigest(String(text))) return { digest: text };
  // Without a slash or a digest, a bare word is more likely a product name than a repository.
  if (/\s/.test(text) || text.startsWith('cpe:') || (!text.includes('/') && !/@sha(256|512):/.test(text))) return undefined;

  const reference = parseReference(text);
  if (reference.digest && !isDigest(reference.digest)) return undefined;
  return { repository: normalizeRepository(reference.repository), digest: reference.digest, tag: reference.tag };
}
