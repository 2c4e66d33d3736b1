import type { Finding } from '../finding.ts';
import type { Image } from '../image/model.ts';
import { parseReference } from '../image/reference.ts';
import type { VexJustification, VexProduct, VexStatement, VexStatus } from './model.ts';
import { parseImageIdentifier, sameRepository, type ImageIdentifier } from './image-identifier.ts';
import { normalizePurl, purlCovers } from './package-match.ts';

/**
 * The party behind a document. OWN: the tenant's own assessment, which applies anywhere in
 * the images it names. VENDOR: a supplier's document the tenant imported. REGISTRY: a
 * document found attached to an image in its registry.
 */
export const VEX_SOURCES = ['OWN', 'VENDOR', 'REGISTRY'] as const;
export type VexSource = (typeof VEX_SOURCES)[number];

/** The way a statement's product matched a finding. */
export const VEX_MATCH_KINDS = ['IMAGE', 'BASE_IMAGE', 'PACKAGE'] as const;
export type VexMatchKind = (typeof VEX_MATCH_KINDS)[number];

/** A statement as stored: the statement plus the facts of its document that matching needs. */
export interface StoredStatement extends VexStatement {
  documentKey: string;
  documentId: string;
  documentTimestamp?: string;
  author?: string;
  source: VexSource;
  importedAt: string;
  index: number;
}

/** The VEX decision shown on a finding: the winning statement and why it applies. */
export interface FindingVex {
  status: VexStatus;
  justification?: VexJustification;
  impactStatement?: string;
  actionStatement?: string;
  statusNotes?: string;
  author?: string;
  documentId: string;
  documentKey: string;
  statementIndex: number;
  statementTimestamp?: string;
  matchedBy: VexMatchKind;
  /** The product id the statement named, as written. */
  product: string;
  reason: string;
}

function effectiveTime(statement: StoredStatement): string {
  return statement.timestamp ?? statement.documentTimestamp ?? statement.importedAt;
}

const imageIdentifiers = new Map<string, ImageIdentifier | null>();

function imageIdentifierOf(product: VexProduct): ImageIdentifier | undefined {
  const key = product.purl ?? product.id;
  let identifier = imageIdentifiers.get(key);
  if (identifier === undefined) {
    identifier = parseImageIdentifier(key) ?? null;
    if (imageIdentifiers.size > 10_000) imageIdentifiers.clear();
    imageIdentifiers.set(key, identifier);
  }
  return identifier ?? undefined;
}

function namesImage(identifier: ImageIdentifier, image: Image): boolean {
  if (identifier.digest) return identifier.digest === image.digest || identifier.digest === image.imageId || identifier.digest === image.indexDigest;
  if (!identifier.repository || !image.repository || !sameRepository(identifier.repository, image.repository)) return false;
  return identifier.tag === undefined || image.tags.includes(identifier.tag);
}

function namesBaseImage(identifier: ImageIdentifier, image: Image): boolean {
  const base = image.baseImage;
  if (!base || base.layerCount === undefined) return false;
  if (identifier.digest) return identifier.digest === base.digest;
  if (!identifier.repository || !base.name) return false;

  const reference = parseReference(base.name);
  if (!sameRepository(identifier.repository, reference.repository)) return false;
  return identifier.tag === undefined || identifier.tag === reference.tag;
}

/** A statement without subcomponents covers the whole product; otherwise one must cover the package. */
function coversPackage(product: VexProduct, finding: Finding): boolean {
  if (product.subcomponents.length === 0) return true;

  const purl = finding.package.purl;
  // NOTE: subcomponents named only by CPE or name never match, because findings carry purls.
  if (!purl) return false;
  return product.subcomponents.some((subcomponent) => subcomponent.purl !== undefined && purlCovers(subcomponent.purl, purl));
}

/**
 * Decides how a product applies to a finding, or undefined when it does not. A statement
 * about the base image reaches only findings in base layers, and so does a supplier's
 * statement about a package version. The tenant's own statements reach every layer.
 */
function matchProduct(product: VexProduct, statement: StoredStatement, image: Image, finding: Finding): VexMatchKind | undefined {
  const identifier = imageIdentifierOf(product);

  if (identifier) {
    if (!coversPackage(product, finding)) return undefined;
    if (namesImage(identifier, image)) return 'IMAGE';
    if (finding.origin === 'BASE' && namesBaseImage(identifier, image)) return 'BASE_IMAGE';
    return undefined;
  }

  // A product that is not an image (a package purl, or a platform such as an OS named by CPE)
  // speaks about packages: the product's own purl or one of its subcomponents must cover the package.
  const purl = finding.package.purl;
  if (!purl) return undefined;

  const named = product.subcomponents.length > 0 ? product.subcomponents.map((subcomponent) => subcomponent.purl) : [product.purl];
  const covering = named.filter((candidate): candidate is string => candidate !== undefined && purlCovers(candidate, purl));
  if (covering.length === 0) return undefined;

  // A supplier's statement about a package holds for the supplier's build of it: only an exact
  // version, and only in base layers. The tenant's own statements reach every layer.
  if (statement.source !== 'OWN') {
    if (finding.origin !== 'BASE') return undefined;
    if (!covering.some((candidate) => normalizePurl(candidate)?.version !== undefined)) return undefined;
  }
  return 'PACKAGE';
}

const STATUS_WORDS: Record<VexStatus, string> = {
  NOT_AFFECTED: 'is not affected by',
  AFFECTED: 'is affected by',
  FIXED: 'has a fix for',
  UNDER_INVESTIGATION: 'is still being investigated for',
};

function describe(statement: StoredStatement, kind: VexMatchKind, product: string, finding: Finding): string {
  const who = statement.author ?? 'An unnamed author';
  const subjects: Record<VexMatchKind, string> = { IMAGE: 'this image', BASE_IMAGE: `the base image ${product}`, PACKAGE: `${finding.package.name} ${finding.package.version}` };
  const subject = subjects[kind];
  const why = statement.justification ? ` (${statement.justification.replaceAll('_', ' ')})` : '';
  const scope = kind === 'BASE_IMAGE' ? " It applies because the package is in the base image's layers." : '';

  return `${who} states that ${subject} ${STATUS_WORDS[statement.status]} ${statement.vulnerabilityId}${why}, in document ${statement.documentId}.${scope}`;
}

/**
 * The active statements of a tenant, indexed by vulnerability id and alias so that evaluating
 * a finding looks only at the statements about its vulnerability.
 */
export class VexIndex {
  private readonly byVulnerability = new Map<string, StoredStatement[]>();

  constructor(statements: readonly StoredStatement[]) {
    for (const statement of statements) {
      for (const id of new Set([statement.vulnerabilityId, ...statement.aliases].map((value) => value.toUpperCase()))) {
        const list = this.byVulnerability.get(id);
        if (list) list.push(statement);
        else this.byVulnerability.set(id, [statement]);
      }
    }
  }

  get size(): number {
    return this.byVulnerability.size;
  }

  /**
   * Returns the VEX decision for a finding: of the statements that match it, the latest by
   * statement timestamp, then document timestamp, then import time. Undefined when none matches.
   */
  evaluate(image: Image, finding: Finding): FindingVex | undefined {
    const candidates = new Set<StoredStatement>();
    for (const id of [finding.vulnerabilityId, ...finding.aliases]) {
      for (const statement of this.byVulnerability.get(id.toUpperCase()) ?? []) candidates.add(statement);
    }

    let best: { statement: StoredStatement; kind: VexMatchKind; product: string } | undefined;
    for (const statement of candidates) {
      for (const product of statement.products) {
        const kind = matchProduct(product, statement, image, finding);
        if (!kind) continue;

        const newer = !best || effectiveTime(statement) > effectiveTime(best.statement) || (effectiveTime(statement) === effectiveTime(best.statement) && statement.importedAt > best.statement.importedAt);
        if (newer) best = { statement, kind, product: product.id };
        break;
      }
    }
    if (!best) return undefined;

    const { statement, kind, product } = best;
    return {
      status: statement.status,
      justification: statement.justification,
      impactStatement: statement.impactStatement,
      actionStatement: statement.actionStatement,
      statusNotes: statement.statusNotes,
      author: statement.author,
      documentId: statement.documentId,
      documentKey: statement.documentKey,
      statementIndex: statement.index,
      statementTimestamp: statement.timestamp,
      matchedBy: kind,
      product,
      reason: describe(statement, kind, product, finding),
    };
  }
}
