import { z } from 'zod';

import { isDigest, sha256, type Digest } from '../digest.ts';
import { InvalidInputError } from '../errors.ts';
import type { BaseImage } from '../image/model.ts';
import { parseReference } from '../image/reference.ts';
import type { Logger } from '../logger.ts';
import { supportsReferrers, type ReferrerDescriptor } from '../registry/referrers.ts';
import { MAX_MANIFEST_BYTES, RegistryError, type RegistryClient } from '../registry/registry.ts';
import { digestSchema, parseWith } from '../validation.ts';
import { importVexDocument, type VexContext } from './apply.ts';
import type { ParsedVexDocument } from './model.ts';
import { OPENVEX_CONTEXT_PREFIX, parseVexDocument } from './parsers/index.ts';

/** Referrer manifests read per image; further referrers are logged and ignored. */
export const MAX_VEX_REFERRERS = 20;
/** Blobs read per image across all referrers and attestation layers, so one push costs a bounded download. */
export const MAX_VEX_BLOBS = 20;
export const MAX_VEX_BLOB_BYTES = 4 * 1024 * 1024;

/** The actor recorded on VEX documents imported from a registry. */
export const REGISTRY_VEX_ACTOR = 'registry-discovery';

const OPENVEX_MEDIA_TYPES = ['application/vnd.openvex+json', 'application/openvex+json'];
const DSSE_MEDIA_TYPE = 'application/vnd.dsse.envelope.v1+json';
const IN_TOTO_MEDIA_TYPE = 'application/vnd.in-toto+json';

/** Layer annotations that name an attestation's predicate type: cosign writes the first, BuildKit the second. */
const PREDICATE_TYPE_ANNOTATIONS = ['predicateType', 'in-toto.io/predicate-type'];

/** cosign stores attestations of `sha256:<hex>` under the tag `sha256-<hex>.att` in the image's repository. */
const COSIGN_ATTESTATION_TAG = /^sha256-([a-f0-9]{64})\.att$/;

type PayloadKind = 'OPENVEX' | 'DSSE' | 'IN_TOTO';

const descriptorSchema = z.object({
  mediaType: z.string(),
  digest: digestSchema,
  size: z.number().int().nonnegative(),
  annotations: z.record(z.string(), z.string()).optional(),
});
type LayerDescriptor = z.infer<typeof descriptorSchema>;

// Artifact manifests are image manifests with `artifactType` and `subject`, which the image schema drops.
const artifactManifestSchema = z.object({
  schemaVersion: z.literal(2),
  artifactType: z.string().optional(),
  config: descriptorSchema,
  layers: z.array(descriptorSchema),
  subject: descriptorSchema.optional(),
});

const dsseEnvelopeSchema = z.object({
  payloadType: z.string(),
  payload: z.string().regex(/^[A-Za-z0-9+/_-]*={0,2}$/, 'expected base64'),
});

const statementSchema = z.object({
  _type: z.string().startsWith('https://in-toto.io/Statement/'),
  subject: z.array(z.object({ name: z.string().optional(), digest: z.record(z.string(), z.string()) })).min(1),
  predicateType: z.string(),
  predicate: z.unknown(),
});

export interface VexDiscoveryOptions {
  /**
   * Digest of a cosign attestation manifest just pushed for the image. It is read by digest in
   * place of the `.att` tag, because Distribution 2.8 sends the push event before it writes the tag.
   */
  attestation?: Digest;
}

export interface VexDiscoveryResult {
  /** Documents found in the registry. */
  found: number;
  /** Documents imported now; the others were already imported with the same content. */
  imported: number;
  findingsUpdated: number;
}

/** State of one discovery: the image, the logger, and the number of blobs it may still read. */
interface DiscoveryRun {
  registry: RegistryClient;
  repository: string;
  digest: Digest;
  logger: Logger;
  blobsLeft: number;
}

function payloadKind(mediaType: string | undefined): PayloadKind | undefined {
  const type = mediaType?.split(';')[0]!.trim().toLowerCase();
  if (type === undefined) return undefined;
  if (OPENVEX_MEDIA_TYPES.includes(type)) return 'OPENVEX';
  if (type === DSSE_MEDIA_TYPE) return 'DSSE';
  if (type === IN_TOTO_MEDIA_TYPE) return 'IN_TOTO';
  return undefined;
}

function parseJson(bytes: Buffer, what: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new InvalidInputError(`The ${what} is not valid JSON`, { format: what }, { cause: error });
  }
}

function verifyContent(bytes: Buffer, expected: { digest: Digest; size?: number }, what: string): void {
  if (expected.size !== undefined && bytes.length !== expected.size) {
    throw new InvalidInputError(`The ${what} ${expected.digest} is ${bytes.length} bytes, but its descriptor gives a size of ${expected.size}`, { value: expected.digest });
  }
  const actual = sha256(bytes);
  if (actual !== expected.digest) {
    throw new InvalidInputError(`The ${what} has digest ${actual}, not the expected ${expected.digest}, so it was rejected`, { value: actual });
  }
}

/** Tells whether a registry error means a missing tag or repository: ECR reports a failure code or an exception name, other registries HTTP 404. */
function isNotFound(error: unknown): boolean {
  if (!(error instanceof RegistryError)) return false;
  return error.status === 404 || error.status === 'ImageNotFound' || error.status === 'ImageNotFoundException' || error.status === 'RepositoryNotFoundException';
}

/** Returns the image digest a cosign attestation tag names, or undefined for any other tag. */
export function cosignAttestationSubject(tag: string | undefined): Digest | undefined {
  const match = tag === undefined ? null : COSIGN_ATTESTATION_TAG.exec(tag);
  return match ? `sha256:${match[1]}` : undefined;
}

/**
 * Reads an in-toto statement and returns its OpenVEX predicate, or undefined when the
 * predicate is not OpenVEX. Rejects a statement whose subjects do not include the image.
 */
function vexFromStatement(run: DiscoveryRun, input: unknown): ParsedVexDocument | undefined {
  const statement = parseWith(statementSchema, input, 'in-toto statement');
  if (!statement.predicateType.startsWith(OPENVEX_CONTEXT_PREFIX)) return undefined;

  const [algorithm, hex] = run.digest.split(':') as [string, string];
  const subjects = statement.subject.map((subject) => subject.digest[algorithm]?.toLowerCase());
  if (!subjects.includes(hex)) {
    throw new InvalidInputError(`The attestation's subjects ${JSON.stringify(subjects)} do not include the image ${run.digest}, so it is about another image`, { path: 'subject', value: subjects });
  }

  return parseVexDocument(statement.predicate, 'OPENVEX');
}

function vexFromBlob(run: DiscoveryRun, kind: PayloadKind, blob: Buffer): ParsedVexDocument | undefined {
  if (kind === 'OPENVEX') return parseVexDocument(parseJson(blob, 'OpenVEX document'), 'OPENVEX');
  if (kind === 'IN_TOTO') return vexFromStatement(run, parseJson(blob, 'in-toto statement'));

  const envelope = parseWith(dsseEnvelopeSchema, parseJson(blob, 'DSSE envelope'), 'DSSE envelope');
  if (envelope.payloadType !== IN_TOTO_MEDIA_TYPE) {
    throw new InvalidInputError(`The DSSE envelope's payloadType is ${JSON.stringify(envelope.payloadType)}, expected ${IN_TOTO_MEDIA_TYPE}`, { path: 'payloadType', value: envelope.payloadType });
  }
  // NOTE: the envelope's signatures are not verified, so anyone who can push to the repository can attach VEX that is imported.
  return vexFromStatement(run, parseJson(Buffer.from(envelope.payload, 'base64'), 'in-toto statement'));
}

/** Fetches one layer of an artifact and parses it. Returns undefined when it is not VEX, and throws when it is malformed. */
async function readLayer(run: DiscoveryRun, layer: LayerDescriptor, kind: PayloadKind): Promise<ParsedVexDocument | undefined> {
  if (layer.size > MAX_VEX_BLOB_BYTES) {
    throw new InvalidInputError(`The layer ${layer.digest} is ${layer.size} bytes, over the limit of ${MAX_VEX_BLOB_BYTES} for a VEX document`, { value: layer.size });
  }

  run.blobsLeft -= 1;
  // getBlob stops reading at 8 MiB, and the size and digest checks then hold the blob to its descriptor of at most 4 MiB.
  const blob = await run.registry.getBlob(run.repository, layer.digest);
  verifyContent(blob, layer, 'blob');
  return vexFromBlob(run, kind, blob);
}

/**
 * Reads the VEX documents in one artifact manifest, named by a referrer descriptor or by the
 * cosign tag. A layer with an unrecognized media type is read as the manifest's artifact type.
 */
async function readArtifact(run: DiscoveryRun, reference: string, referrer?: ReferrerDescriptor): Promise<ParsedVexDocument[]> {
  const response = await run.registry.getManifest(run.repository, reference);
  if (response.bytes.length > MAX_MANIFEST_BYTES) throw new InvalidInputError(`The manifest ${reference} is over the limit of ${MAX_MANIFEST_BYTES} bytes`);

  // The requested digest wins over the one the registry reports. A tag has only the reported one.
  const expected = referrer?.digest ?? [reference, response.digest].find((candidate) => isDigest(candidate));
  if (expected) verifyContent(response.bytes, { digest: expected, size: referrer?.size }, 'manifest');

  const manifest = parseWith(artifactManifestSchema, parseJson(response.bytes, 'artifact manifest'), 'artifact manifest');
  if (manifest.subject && manifest.subject.digest !== run.digest) {
    throw new InvalidInputError(`The artifact ${reference} has subject ${manifest.subject.digest}, not the image ${run.digest}`, { path: 'subject.digest', value: manifest.subject.digest });
  }

  const artifactKind = payloadKind(manifest.artifactType ?? referrer?.artifactType ?? manifest.config.mediaType);
  const documents: ParsedVexDocument[] = [];

  for (const layer of manifest.layers) {
    const kind = payloadKind(layer.mediaType) ?? artifactKind;
    if (!kind) continue;

    // cosign and BuildKit name the predicate type on the layer, so other attestations are skipped unread.
    const predicateType = PREDICATE_TYPE_ANNOTATIONS.map((name) => layer.annotations?.[name]).find((value) => value !== undefined);
    if (predicateType !== undefined && !predicateType.startsWith(OPENVEX_CONTEXT_PREFIX)) continue;

    if (run.blobsLeft <= 0) {
      run.logger.warn('skipped VEX layers over the limit', { repository: run.repository, digest: run.digest, artifact: reference, limit: MAX_VEX_BLOBS });
      break;
    }

    try {
      const document = await readLayer(run, layer, kind);
      if (document) documents.push(document);
    } catch (error) {
      run.logger.warn('skipped malformed VEX document', { repository: run.repository, digest: run.digest, artifact: reference, layer: layer.digest, error: (error as Error).message });
    }
  }

  return documents;
}

/** Lists the referrers that may hold VEX, or returns undefined when the registry has no referrers API. */
async function vexReferrers(run: DiscoveryRun): Promise<ReferrerDescriptor[] | undefined> {
  if (!supportsReferrers(run.registry)) return undefined;

  let referrers: ReferrerDescriptor[] | undefined;
  try {
    referrers = await run.registry.listReferrers(run.repository, run.digest);
  } catch (error) {
    run.logger.warn('listing referrers failed, trying the cosign attestation tag', { repository: run.repository, digest: run.digest, error: (error as Error).message });
    return undefined;
  }
  if (!referrers) return undefined;

  // A descriptor without artifactType may still be VEX, because only its manifest shows the type.
  const candidates = referrers.filter((referrer) => referrer.artifactType === undefined || payloadKind(referrer.artifactType) !== undefined);
  if (candidates.length > MAX_VEX_REFERRERS) {
    run.logger.warn('skipped referrers over the limit', { repository: run.repository, digest: run.digest, referrers: candidates.length, limit: MAX_VEX_REFERRERS });
  }
  return candidates.slice(0, MAX_VEX_REFERRERS);
}

async function referrerDocuments(run: DiscoveryRun, referrers: ReferrerDescriptor[]): Promise<ParsedVexDocument[]> {
  const documents: ParsedVexDocument[] = [];

  for (const referrer of referrers) {
    if (run.blobsLeft <= 0) break;
    try {
      documents.push(...(await readArtifact(run, referrer.digest, referrer)));
    } catch (error) {
      run.logger.warn('skipped malformed VEX referrer', { repository: run.repository, digest: run.digest, artifact: referrer.digest, error: (error as Error).message });
    }
  }
  return documents;
}

async function cosignDocuments(run: DiscoveryRun, reference: string): Promise<ParsedVexDocument[]> {
  try {
    return await readArtifact(run, reference);
  } catch (error) {
    if (isNotFound(error)) return [];
    if (error instanceof RegistryError) throw error;

    run.logger.warn('skipped malformed cosign attestation manifest', { repository: run.repository, digest: run.digest, artifact: reference, error: (error as Error).message });
    return [];
  }
}

/**
 * Finds the VEX documents attached to an image in its repository: OpenVEX artifacts and
 * in-toto attestations with an OpenVEX predicate. The OCI 1.1 referrers API is read first.
 * The cosign tag `sha256-<hex>.att` is read when the registry has no referrers API or its
 * referrers hold no VEX. Malformed documents are logged and skipped. A missing tag means no
 * attestations, and other registry errors on that tag are thrown.
 */
export async function discoverVex(registry: RegistryClient, repository: string, digest: Digest, logger: Logger, options: VexDiscoveryOptions = {}): Promise<ParsedVexDocument[]> {
  const run: DiscoveryRun = { registry, repository, digest, logger, blobsLeft: MAX_VEX_BLOBS };
  if (options.attestation) return cosignDocuments(run, options.attestation);

  const referrers = await vexReferrers(run);
  if (referrers) {
    const documents = await referrerDocuments(run, referrers);
    if (documents.length > 0) return documents;
  }

  // A sha512 digest would make the tag longer than the 128 characters a tag may have, so only sha256 images have one.
  if (!digest.startsWith('sha256:')) return [];
  return cosignDocuments(run, `${digest.replace(':', '-')}.att`);
}

/** Discovers the VEX documents attached to an image and imports each with source REGISTRY. */
export async function discoverAndImportVex(context: VexContext, registry: RegistryClient, repository: string, digest: Digest, options: VexDiscoveryOptions = {}): Promise<VexDiscoveryResult> {
  const documents = await discoverVex(registry, repository, digest, context.logger, options);
  const result: VexDiscoveryResult = { found: documents.length, imported: 0, findingsUpdated: 0 };

  for (const document of documents) {
    const change = await importVexDocument(context, document, 'REGISTRY');
    if (!change.alreadyImported) result.imported += 1;
    result.findingsUpdated += change.findingsUpdated;
  }

  if (documents.length > 0) context.logger.info('imported VEX from the registry', { repository, digest, ...result });
  return result;
}

/** Returns the repository of a base image in the same registry, or undefined when its name is missing or names another registry host. */
function baseRepository(baseImage: BaseImage): string | undefined {
  if (!baseImage.name) return undefined;

  const { repository } = parseReference(baseImage.name);
  const first = repository.split('/')[0]!;
  const namesHost = repository.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  return namesHost ? undefined : repository;
}

/**
 * Imports the VEX attached to a pushed image and, when its digest and a same-registry name
 * are known, to its base image. For a pushed cosign attestation, `attestation` is its manifest
 * digest and `digest` the image it is for. Failures are logged with `fields` and never
 * thrown, so that discovery cannot fail a push.
 */
export async function importPushedImageVex(
  context: VexContext,
  registry: RegistryClient,
  image: { repository: string; digest: Digest; baseImage?: BaseImage; attestation?: Digest },
  fields: Record<string, unknown>,
): Promise<void> {
  const targets: Array<{ repository: string; digest: Digest; attestation?: Digest }> = [{ repository: image.repository, digest: image.digest, attestation: image.attestation }];
  const base = image.baseImage;
  const repository = base ? baseRepository(base) : undefined;
  if (base?.digest && repository && base.digest !== image.digest) targets.push({ repository, digest: base.digest });

  for (const target of targets) {
    try {
      await discoverAndImportVex(context, registry, target.repository, target.digest, { attestation: target.attestation });
    } catch (error) {
      context.logger.error('VEX discovery failed; the push is stored without it', { ...fields, repository: target.repository, digest: target.digest, error: (error as Error).message });
    }
  }
}
