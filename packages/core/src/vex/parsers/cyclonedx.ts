import { z } from 'zod';

import { sha256 } from '../../digest.ts';
import { parseWith } from '../../validation.ts';
import type { ParsedVexDocument, VexIdentifier, VexJustification, VexProduct, VexStatement, VexStatus } from '../model.ts';
import { optionalList, optionalString } from './schema-parts.ts';

const FORMAT = 'CycloneDX VEX';

/** CycloneDX 1.4 to 1.6 `analysis.state` values. */
const STATES: Record<string, VexStatus> = {
  resolved: 'FIXED',
  resolved_with_pedigree: 'FIXED',
  exploitable: 'AFFECTED',
  in_triage: 'UNDER_INVESTIGATION',
  false_positive: 'NOT_AFFECTED',
  not_affected: 'NOT_AFFECTED',
};

/** CycloneDX `analysis.justification` values, mapped onto the nearest OpenVEX label. */
const JUSTIFICATIONS: Record<string, VexJustification> = {
  code_not_present: 'vulnerable_code_not_present',
  code_not_reachable: 'vulnerable_code_not_in_execute_path',
  requires_configuration: 'vulnerable_code_cannot_be_controlled_by_adversary',
  requires_dependency: 'vulnerable_code_cannot_be_controlled_by_adversary',
  requires_environment: 'vulnerable_code_cannot_be_controlled_by_adversary',
  protected_by_compiler: 'inline_mitigations_already_exist',
  protected_at_runtime: 'inline_mitigations_already_exist',
  protected_at_perimeter: 'inline_mitigations_already_exist',
  protected_by_mitigating_control: 'inline_mitigations_already_exist',
};

/** A BOM-Link to a component: `urn:cdx:<serial number UUID>/<version>#<url-encoded bom-ref>`. */
const BOM_LINK = /^urn:cdx:([^/]+)\/\d+#(.+)$/;

const componentSchema = z.object({
  'bom-ref': optionalString,
  type: optionalString,
  name: optionalString,
  version: optionalString,
  purl: optionalString,
  cpe: optionalString,
  get components() {
    return z.array(componentSchema).nullish();
  },
});
type Component = z.infer<typeof componentSchema>;

const analysisSchema = z.object({
  state: z.enum(Object.keys(STATES) as [string, ...string[]]).nullish(),
  justification: z.enum(Object.keys(JUSTIFICATIONS) as [string, ...string[]]).nullish(),
  // The spec defines an array, but some producers write a single value.
  response: z
    .union([z.array(z.string()), z.string()], { error: 'expected a list of responses such as ["will_not_fix", "update"]' })
    .nullish()
    .transform((value) => (typeof value === 'string' ? [value] : (value ?? []))),
  detail: optionalString,
  firstIssued: optionalString,
  lastUpdated: optionalString,
});

const affectSchema = z.object({
  ref: z.string().min(1),
  versions: optionalList(z.object({ version: optionalString, range: optionalString, status: optionalString })),
});
type Affect = z.infer<typeof affectSchema>;

const vulnerabilitySchema = z
  .object({
    'bom-ref': optionalString,
    id: z.string().min(1),
    references: optionalList(z.object({ id: optionalString })),
    published: optionalString,
    updated: optionalString,
    analysis: analysisSchema.nullish(),
    affects: optionalList(affectSchema),
  })
  .superRefine((vulnerability, context) => {
    if (!vulnerability.analysis?.state || vulnerability.affects.length > 0) return;
    context.addIssue({ code: 'custom', message: 'expected at least one affected component for a vulnerability with an analysis', path: ['affects'], input: [] });
  });
type Vulnerability = z.infer<typeof vulnerabilitySchema>;

const entitySchema = z.object({ name: optionalString }).nullish();

const bomSchema = z
  .object({
    bomFormat: z.literal('CycloneDX'),
    serialNumber: optionalString,
    version: z.union([z.number(), z.string()]).nullish(),
    metadata: z
      .object({
        timestamp: optionalString,
        authors: optionalList(z.object({ name: optionalString })),
        // CycloneDX 1.6 adds manufacturer (who made the BOM) and deprecates manufacture (who made the component).
        manufacture: entitySchema,
        manufacturer: entitySchema,
        supplier: entitySchema,
        component: componentSchema.nullish(),
      })
      .nullish(),
    components: optionalList(componentSchema),
    dependencies: optionalList(z.object({ ref: z.string(), dependsOn: optionalList(z.string()) })),
    vulnerabilities: z.array(vulnerabilitySchema),
  })
  .superRefine((bom, context) => {
    if (bom.vulnerabilities.some((vulnerability) => vulnerability.analysis?.state)) return;
    context.addIssue({ code: 'custom', message: 'expected at least one vulnerability with an analysis state', path: ['vulnerabilities'], input: bom.vulnerabilities });
  });
type Bom = z.infer<typeof bomSchema>;

/** Detects a CycloneDX BOM with VEX data, which means at least one vulnerability with an analysis. */
export function isCycloneDxVex(document: unknown): boolean {
  if (document === null || typeof document !== 'object' || Array.isArray(document)) return false;

  const bom = document as Record<string, unknown>;
  if (bom.bomFormat !== 'CycloneDX' || !Array.isArray(bom.vulnerabilities)) return false;
  return bom.vulnerabilities.some((vulnerability: unknown) => vulnerability !== null && typeof vulnerability === 'object' && 'analysis' in vulnerability);
}

/** The components of the BOM by bom-ref and purl, and which of them make up the product image. */
interface BomIndex {
  serialNumber?: string;
  product?: Component;
  byRef: Map<string, Component>;
  byPurl: Map<string, Component>;
  /** Components nested under the product image or reached from it through the dependency graph. */
  inImage: Set<Component>;
}

function addComponents(components: readonly Component[], index: BomIndex): void {
  for (const component of components) {
    if (component['bom-ref'] && !index.byRef.has(component['bom-ref'])) index.byRef.set(component['bom-ref'], component);
    if (component.purl && !index.byPurl.has(component.purl)) index.byPurl.set(component.purl, component);
    addComponents(component.components ?? [], index);
  }
}

function isContainerImage(component: Component | undefined): component is Component {
  if (!component) return false;
  return component.type === 'container' || Boolean(component.purl?.startsWith('pkg:oci/') || component.purl?.startsWith('pkg:docker/'));
}

function addNested(components: readonly Component[], into: Set<Component>): void {
  for (const component of components) {
    into.add(component);
    addNested(component.components ?? [], into);
  }
}

/** Walks the dependency graph from the product image, breadth first, so each bom-ref is visited once. */
function addDependencies(bom: Bom, productRef: string, index: BomIndex): void {
  const dependsOn = new Map(bom.dependencies.map((dependency) => [dependency.ref, dependency.dependsOn]));
  const visited = new Set([productRef]);
  const queue = [productRef];

  for (let position = 0; position < queue.length; position++) {
    for (const ref of dependsOn.get(queue[position]!) ?? []) {
      if (visited.has(ref)) continue;
      visited.add(ref);
      queue.push(ref);

      const component = index.byRef.get(ref);
      if (component) index.inImage.add(component);
    }
  }
}

/**
 * Finds the components that belong to the product image. Without a dependency graph, every
 * component of a container BOM is taken to be part of the image, because that is what such a BOM lists.
 */
function markImageContents(bom: Bom, index: BomIndex): void {
  const product = index.product;
  if (!isContainerImage(product)) return;

  addNested(product.components ?? [], index.inImage);

  if (bom.dependencies.length === 0) addNested(bom.components, index.inImage);
  else if (product['bom-ref']) addDependencies(bom, product['bom-ref'], index);

  index.inImage.delete(product);
}

function indexBom(bom: Bom): BomIndex {
  const index: BomIndex = { byRef: new Map(), byPurl: new Map(), inImage: new Set() };

  const serialNumber = bom.serialNumber?.replace(/^urn:uuid:/, '');
  if (serialNumber) index.serialNumber = serialNumber;

  const product = bom.metadata?.component ?? undefined;
  if (product) {
    index.product = product;
    addComponents([product], index);
  }
  addComponents(bom.components, index);

  markImageContents(bom, index);
  return index;
}

/** Drops the empty version of a purl that ends its name with `@`, such as `pkg:maven/g/a@`. */
function withoutEmptyVersion(purl: string): string {
  return purl.replace(/@(?=[?#]|$)/, '');
}

function purlHasVersion(purl: string): boolean {
  return /^[^?#]*@/.test(purl);
}

/** Inserts a version into a versionless purl, before its qualifiers and subpath. */
function purlWithVersion(purl: string, version: string): string {
  const end = purl.search(/[?#]/);
  const at = end === -1 ? purl.length : end;
  return `${purl.slice(0, at)}@${encodeURIComponent(version)}${purl.slice(at)}`;
}

function identifierOfComponent(id: string, component: Component): VexIdentifier {
  const identifier: VexIdentifier = { id };

  const ref = component['bom-ref'];
  const purl = component.purl ?? (ref?.startsWith('pkg:') ? ref : undefined);
  if (purl) identifier.purl = withoutEmptyVersion(purl);
  if (component.cpe) identifier.cpe = component.cpe;
  if (component.name) identifier.name = component.version ? `${component.name} ${component.version}` : component.name;

  return identifier;
}

function identifierOfText(id: string, text: string): VexIdentifier {
  const identifier: VexIdentifier = { id };
  if (text.startsWith('pkg:')) identifier.purl = withoutEmptyVersion(text);
  if (text.startsWith('cpe:')) identifier.cpe = text;
  return identifier;
}

function decodeFragment(fragment: string): string {
  try {
    return decodeURIComponent(fragment);
  } catch {
    return fragment;
  }
}

/**
 * Resolves an `affects[].ref`: a bom-ref of this BOM, a BOM-Link (resolved against this BOM
 * when its serial number matches, else its fragment is kept), or a purl.
 */
function resolveRef(ref: string, index: BomIndex): { identifier: VexIdentifier; component?: Component } {
  const link = BOM_LINK.exec(ref);
  const target = link ? decodeFragment(link[2]!) : ref;
  const sameBom = !link || link[1] === index.serialNumber;

  const component = sameBom ? (index.byRef.get(target) ?? index.byPurl.get(target)) : undefined;
  if (component) return { identifier: identifierOfComponent(ref, component), component };

  return { identifier: identifierOfText(ref, target) };
}

/** Reports whether a `versions[].status` entry agrees with the statement it would join. */
function versionStatusFits(versionStatus: string | undefined, status: VexStatus): boolean {
  if (status === 'NOT_AFFECTED') return versionStatus !== 'affected';
  return versionStatus !== 'unaffected';
}

/**
 * Narrows a versionless purl to the exact versions listed in `affects[].versions` whose status
 * agrees with the statement. Ranges (`vers:` strings) are not evaluated. A not_affected or fixed
 * statement scoped only by ranges is dropped for that purl, because widening it to every version
 * would hide findings in versions the author did not clear. An affected or under-investigation
 * statement keeps the versionless purl, which can only add attention.
 */
function withListedVersions(identifier: VexIdentifier, affect: Affect, status: VexStatus): VexIdentifier[] {
  const purl = identifier.purl;
  if (!purl || purlHasVersion(purl)) return [identifier];

  const versions = affect.versions.filter((entry) => entry.version && versionStatusFits(entry.status, status)).map((entry) => entry.version!);
  const clearing = status === 'NOT_AFFECTED' || status === 'FIXED';
  if (versions.length === 0 && clearing && affect.versions.length > 0) return [];
  if (versions.length === 0) return [identifier];

  return [...new Set(versions)].map((version) => {
    const versioned = purlWithVersion(purl, version);
    return { ...identifier, id: versioned, purl: versioned };
  });
}

function imageProductOf(product: Component): VexProduct {
  const id = product['bom-ref'] ?? product.purl ?? product.name ?? 'metadata.component';
  return { ...identifierOfComponent(id, product), subcomponents: [] };
}

/**
 * Turns the affected refs into products. A ref to a component inside the product image
 * becomes a subcomponent of the image, and any other ref becomes a product of its own.
 */
function productsOf(vulnerability: Vulnerability, status: VexStatus, index: BomIndex): VexProduct[] {
  const products = new Map<string, VexProduct>();
  const imageContents = new Map<string, VexIdentifier>();

  for (const affect of vulnerability.affects) {
    const { identifier, component } = resolveRef(affect.ref, index);
    const identifiers = withListedVersions(identifier, affect, status);
    const inImage = component !== undefined && index.inImage.has(component);

    for (const candidate of identifiers) {
      if (inImage) {
        if (!imageContents.has(candidate.id)) imageContents.set(candidate.id, candidate);
      } else if (!products.has(candidate.id)) {
        products.set(candidate.id, { ...candidate, subcomponents: [] });
      }
    }
  }

  if (imageContents.size === 0 || !index.product) return [...products.values()];

  const image = { ...imageProductOf(index.product), subcomponents: [...imageContents.values()] };
  return [image, ...products.values()];
}

function joinLines(lines: Array<string | undefined>): string | undefined {
  const text = lines.filter((line): line is string => Boolean(line)).join('\n');
  return text === '' ? undefined : text;
}

function statementOf(vulnerability: Vulnerability, index: BomIndex): VexStatement {
  const analysis = vulnerability.analysis!;
  const status = STATES[analysis.state!]!;
  const aliases = vulnerability.references.map((reference) => reference.id).filter((id): id is string => Boolean(id) && id !== vulnerability.id);

  const statement: VexStatement = {
    vulnerabilityId: vulnerability.id,
    aliases: [...new Set(aliases)],
    products: productsOf(vulnerability, status, index),
    status,
  };

  if (analysis.justification) {
    statement.justification = JUSTIFICATIONS[analysis.justification]!;
    statement.originalJustification = analysis.justification;
  }

  // The detail explains why a component is not affected, or what to do about it otherwise.
  const detailIsImpact = status === 'NOT_AFFECTED';
  const response = analysis.response.length > 0 ? `response: ${analysis.response.join(', ')}` : undefined;
  const impactStatement = detailIsImpact ? analysis.detail : undefined;
  const actionStatement = joinLines([detailIsImpact ? undefined : analysis.detail, response]);
  if (impactStatement) statement.impactStatement = impactStatement;
  if (actionStatement) statement.actionStatement = actionStatement;

  const timestamp = analysis.lastUpdated ?? analysis.firstIssued ?? vulnerability.updated ?? vulnerability.published;
  if (timestamp) statement.timestamp = timestamp;
  if (vulnerability['bom-ref']) statement.id = vulnerability['bom-ref'];

  return statement;
}

function authorOf(bom: Bom): string | undefined {
  const metadata = bom.metadata;
  if (!metadata) return undefined;

  const author = metadata.authors.find((entry) => entry.name)?.name;
  return author ?? metadata.manufacturer?.name ?? metadata.manufacture?.name ?? metadata.supplier?.name;
}

/** Returns `serialNumber/version`. A BOM without a serial number is named by the SHA-256 of its JSON instead. */
function documentIdOf(bom: Bom, document: unknown): string {
  const version = String(bom.version ?? 1);
  const serialNumber = bom.serialNumber ?? sha256(JSON.stringify(document));
  return `${serialNumber}/${version}`;
}

/**
 * Parses a CycloneDX 1.4 to 1.6 BOM with VEX data into one statement per vulnerability that
 * has an analysis state. Vulnerabilities without one carry no VEX data and are skipped.
 */
export function parseCycloneDxVex(document: unknown): ParsedVexDocument {
  const bom = parseWith(bomSchema, document, FORMAT);
  const index = indexBom(bom);

  const result: ParsedVexDocument = {
    format: 'CYCLONEDX',
    documentId: documentIdOf(bom, document),
    version: String(bom.version ?? 1),
    // A statement left without products (every ref scoped by ranges that cannot be checked) gives Stratum nothing to apply.
    statements: bom.vulnerabilities
      .filter((vulnerability) => vulnerability.analysis?.state)
      .map((vulnerability) => statementOf(vulnerability, index))
      .filter((statement) => statement.products.length > 0),
  };

  const author = authorOf(bom);
  if (author) result.author = author;
  if (bom.metadata?.timestamp) result.timestamp = bom.metadata.timestamp;

  return result;
}
