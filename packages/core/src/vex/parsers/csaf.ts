import { z } from 'zod';

import { InvalidInputError } from '../../errors.ts';
import { formatPath, parseWith } from '../../validation.ts';
import { VEX_JUSTIFICATIONS, type ParsedVexDocument, type VexIdentifier, type VexProduct, type VexStatement, type VexStatus } from '../model.ts';
import { optionalList, optionalString } from './schema-parts.ts';

const FORMAT = 'CSAF';

/** The CSAF 2.0 `product_status` lists that Stratum reads, in output order. `recommended` carries no status. */
const STATUS_LISTS = [
  ['known_not_affected', 'NOT_AFFECTED'],
  ['known_affected', 'AFFECTED'],
  ['first_affected', 'AFFECTED'],
  ['last_affected', 'AFFECTED'],
  ['fixed', 'FIXED'],
  ['first_fixed', 'FIXED'],
  ['under_investigation', 'UNDER_INVESTIGATION'],
] as const satisfies ReadonlyArray<readonly [string, VexStatus]>;

type StatusList = (typeof STATUS_LISTS)[number][0];

const productIds = optionalList(z.string());

// The CSAF 2.1 draft schema replaces the single purl with a purls list, so both are read.
const helperSchema = z
  .object({
    purl: optionalString,
    purls: optionalList(z.string()),
    cpe: optionalString,
  })
  .nullish();

const fullProductNameSchema = z.object({
  product_id: z.string().min(1),
  name: optionalString,
  product_identification_helper: helperSchema,
});
type FullProductName = z.infer<typeof fullProductNameSchema>;

const branchSchema = z.object({
  category: optionalString,
  product: fullProductNameSchema.nullish(),
  get branches() {
    return z.array(branchSchema).nullish();
  },
});
type Branch = z.infer<typeof branchSchema>;

const relationshipSchema = z.object({
  category: optionalString,
  product_reference: z.string().min(1),
  relates_to_product_reference: z.string().min(1),
  full_product_name: fullProductNameSchema,
});

const productTreeSchema = z.object({
  branches: optionalList(branchSchema),
  full_product_names: optionalList(fullProductNameSchema),
  relationships: optionalList(relationshipSchema),
  product_groups: optionalList(z.object({ group_id: z.string().min(1), product_ids: productIds })),
});

// Strict, because a misspelt status list would otherwise drop its products without a word.
const productStatusSchema = z.strictObject({
  first_affected: productIds,
  first_fixed: productIds,
  fixed: productIds,
  known_affected: productIds,
  known_not_affected: productIds,
  last_affected: productIds,
  recommended: productIds,
  under_investigation: productIds,
});

const flagSchema = z.object({ label: z.enum(VEX_JUSTIFICATIONS), product_ids: productIds, group_ids: productIds });
const threatSchema = z.object({ category: z.string(), details: z.string(), product_ids: productIds, group_ids: productIds });
const remediationSchema = z.object({
  category: z.string(),
  details: z.string(),
  url: optionalString,
  product_ids: productIds,
  group_ids: productIds,
});
type Remediation = z.infer<typeof remediationSchema>;

const vulnerabilitySchema = z
  .object({
    cve: optionalString,
    ids: optionalList(z.object({ system_name: optionalString, text: z.string().min(1) })),
    product_status: productStatusSchema.nullish(),
    flags: optionalList(flagSchema),
    threats: optionalList(threatSchema),
    remediations: optionalList(remediationSchema),
  })
  .superRefine((vulnerability, context) => {
    if (vulnerability.cve || vulnerability.ids.length > 0) return;
    context.addIssue({ code: 'custom', message: 'expected a cve or at least one entry in ids', path: ['cve'], input: undefined });
  });
type Vulnerability = z.infer<typeof vulnerabilitySchema>;

const csafSchema = z.object({
  document: z.object({
    category: z.string(),
    publisher: z.object({ name: optionalString }).nullish(),
    tracking: z.object({
      id: z.string().min(1),
      current_release_date: optionalString,
      version: optionalString,
    }),
  }),
  product_tree: productTreeSchema.nullish(),
  vulnerabilities: optionalList(vulnerabilitySchema),
});
type Csaf = z.infer<typeof csafSchema>;

/**
 * Detects CSAF VEX by category csaf_vex, or csaf_security_advisory with product status,
 * because Red Hat publishes VEX data in both.
 */
export function isCsafVex(document: unknown): boolean {
  if (document === null || typeof document !== 'object' || Array.isArray(document)) return false;

  const csaf = document as { document?: { category?: unknown }; vulnerabilities?: unknown };
  const category = csaf.document?.category;
  if (category === 'csaf_vex') return true;
  if (category !== 'csaf_security_advisory' || !Array.isArray(csaf.vulnerabilities)) return false;

  return csaf.vulnerabilities.some((vulnerability: unknown) => vulnerability !== null && typeof vulnerability === 'object' && 'product_status' in vulnerability);
}

/** Relationship product, which is a component on a platform, for example an RPM in a RHEL release. */
interface RelationshipProduct {
  component: string;
  platform: string;
}

/** The product tree indexed by product id, so each status entry resolves in constant time. */
interface ProductIndex {
  names: Map<string, FullProductName>;
  relationships: Map<string, RelationshipProduct>;
  groups: Map<string, string[]>;
  /** Products defined under a product_version_range branch: their versions are a range Stratum does not evaluate. */
  ranged: Set<string>;
}

function addBranches(branches: readonly Branch[], index: ProductIndex, inRange = false): void {
  for (const branch of branches) {
    const ranged = inRange || branch.category === 'product_version_range';
    if (branch.product) {
      index.names.set(branch.product.product_id, branch.product);
      if (ranged) index.ranged.add(branch.product.product_id);
    }
    addBranches(branch.branches ?? [], index, ranged);
  }
}

function indexProducts(csaf: Csaf): ProductIndex {
  const tree = csaf.product_tree;
  const index: ProductIndex = { names: new Map(), relationships: new Map(), groups: new Map(), ranged: new Set() };
  if (!tree) return index;

  addBranches(tree.branches, index);
  for (const product of tree.full_product_names) index.names.set(product.product_id, product);

  for (const relationship of tree.relationships) {
    const productId = relationship.full_product_name.product_id;
    index.names.set(productId, relationship.full_product_name);
    index.relationships.set(productId, { component: relationship.product_reference, platform: relationship.relates_to_product_reference });
  }

  for (const group of tree.product_groups) index.groups.set(group.group_id, group.product_ids);
  return index;
}

function invalidAt(path: PropertyKey[], value: unknown, expected: string): InvalidInputError {
  const where = formatPath(path);
  return new InvalidInputError(`Invalid ${FORMAT} document at ${where}: ${expected}, found ${JSON.stringify(value)}`, { format: FORMAT, path: where, value });
}

/** Lists the product ids an entry names directly and through its product groups. */
function productIdsOf(entry: { product_ids: string[]; group_ids: string[] }, index: ProductIndex): string[] {
  if (entry.group_ids.length === 0) return entry.product_ids;
  return [...entry.product_ids, ...entry.group_ids.flatMap((groupId) => index.groups.get(groupId) ?? [])];
}

function appendTo(map: Map<string, string[]>, key: string, text: string): void {
  const list = map.get(key);
  if (!list) map.set(key, [text]);
  else if (!list.includes(text)) list.push(text);
}

function remediationText(remediation: Remediation): string {
  const url = remediation.url ? ` (${remediation.url})` : '';
  return `${remediation.category}: ${remediation.details}${url}`;
}

/** The flags, impact threats and remediations of one vulnerability, by product id. */
interface ProductNotes {
  justifications: Map<string, VexStatement['justification']>;
  impacts: Map<string, string[]>;
  actions: Map<string, string[]>;
}

function notesOf(vulnerability: Vulnerability, index: ProductIndex): ProductNotes {
  const notes: ProductNotes = { justifications: new Map(), impacts: new Map(), actions: new Map() };

  for (const flag of vulnerability.flags) {
    for (const productId of productIdsOf(flag, index)) {
      if (!notes.justifications.has(productId)) notes.justifications.set(productId, flag.label);
    }
  }

  for (const threat of vulnerability.threats) {
    if (threat.category !== 'impact') continue;
    for (const productId of productIdsOf(threat, index)) appendTo(notes.impacts, productId, threat.details);
  }

  for (const remediation of vulnerability.remediations) {
    const text = remediationText(remediation);
    for (const productId of productIdsOf(remediation, index)) appendTo(notes.actions, productId, text);
  }

  return notes;
}

/** Products that share a status and the same texts form one statement. */
interface StatementGroup {
  status: VexStatus;
  justification?: VexStatement['justification'];
  impactStatement?: string;
  actionStatement?: string;
  productIds: Set<string>;
}

/**
 * Reads the texts of one product. Impact threats apply to not-affected products only, because
 * Red Hat also writes its severity rating ("Important") as an impact threat on affected ones.
 * Remediations apply to every status except not affected.
 */
function groupFieldsOf(productId: string, status: VexStatus, notes: ProductNotes): Omit<StatementGroup, 'productIds'> {
  if (status === 'NOT_AFFECTED') {
    return { status, justification: notes.justifications.get(productId), impactStatement: notes.impacts.get(productId)?.join('\n') };
  }
  return { status, actionStatement: notes.actions.get(productId)?.join('\n') };
}

function groupProducts(vulnerability: Vulnerability, vulnerabilityIndex: number, index: ProductIndex): StatementGroup[] {
  const notes = notesOf(vulnerability, index);
  const groups = new Map<string, StatementGroup>();
  const productStatus = vulnerability.product_status;
  if (!productStatus) return [];

  for (const [list, status] of STATUS_LISTS) {
    productStatus[list as StatusList].forEach((productId, position) => {
      if (!index.names.has(productId)) {
        throw invalidAt(['vulnerabilities', vulnerabilityIndex, 'product_status', list, position], productId, 'expected a product_id defined in product_tree');
      }

      const fields = groupFieldsOf(productId, status, notes);
      if (status === 'NOT_AFFECTED' && !fields.justification && !fields.impactStatement) {
        throw invalidAt(
          ['vulnerabilities', vulnerabilityIndex, 'product_status', list, position],
          productId,
          'expected a flag or an impact threat that names this known_not_affected product',
        );
      }

      const key = JSON.stringify([fields.status, fields.justification, fields.impactStatement, fields.actionStatement]);
      let group = groups.get(key);
      if (!group) {
        group = { ...fields, productIds: new Set() };
        groups.set(key, group);
      }
      group.productIds.add(productId);
    });
  }

  return [...groups.values()];
}

function identifierOf(productId: string, index: ProductIndex): VexIdentifier {
  const identifier: VexIdentifier = { id: productId };
  const product = index.names.get(productId);
  if (!product) return identifier;

  const helper = product.product_identification_helper;
  const purl = helper?.purl ?? helper?.purls[0];
  // A versionless purl on a version-range product would cover every version, wider than the
  // author wrote, so it is left out and the product matches no package.
  const widened = purl !== undefined && index.ranged.has(productId) && !/@[^/]+$/.test(purl.split('?')[0]!.split('#')[0]!);
  if (purl && !widened) identifier.purl = purl;
  if (helper?.cpe) identifier.cpe = helper.cpe;
  if (product.name) identifier.name = product.name;

  return identifier;
}

/**
 * Maps product ids to products. A relationship product becomes its platform with the
 * component as a subcomponent, and components on the same platform share one product.
 */
function productsOf(productIds: Iterable<string>, index: ProductIndex): VexProduct[] {
  const products: VexProduct[] = [];
  const byPlatform = new Map<string, VexProduct>();

  for (const productId of productIds) {
    const relationship = index.relationships.get(productId);
    if (!relationship) {
      products.push({ ...identifierOf(productId, index), subcomponents: [] });
      continue;
    }

    let platform = byPlatform.get(relationship.platform);
    if (!platform) {
      platform = { ...identifierOf(relationship.platform, index), subcomponents: [] };
      byPlatform.set(relationship.platform, platform);
      products.push(platform);
    }
    platform.subcomponents.push(identifierOf(relationship.component, index));
  }

  return products;
}

function statementsOf(vulnerability: Vulnerability, vulnerabilityIndex: number, index: ProductIndex): VexStatement[] {
  const vulnerabilityId = vulnerability.cve ?? vulnerability.ids[0]!.text;
  const aliases = [...new Set(vulnerability.ids.map((id) => id.text))].filter((alias) => alias !== vulnerabilityId);

  return groupProducts(vulnerability, vulnerabilityIndex, index).map((group) => {
    const statement: VexStatement = { vulnerabilityId, aliases, products: productsOf(group.productIds, index), status: group.status };

    if (group.justification) statement.justification = group.justification;
    if (group.impactStatement) statement.impactStatement = group.impactStatement;
    if (group.actionStatement) statement.actionStatement = group.actionStatement;

    return statement;
  });
}

/**
 * Parses a CSAF 2.0 VEX document (or a security advisory with product status) into statements,
 * one per vulnerability, status and set of texts. CSAF gives no timestamp per statement.
 */
export function parseCsafVex(document: unknown): ParsedVexDocument {
  const csaf = parseWith(csafSchema, document, FORMAT);
  const index = indexProducts(csaf);

  const result: ParsedVexDocument = {
    format: 'CSAF',
    documentId: csaf.document.tracking.id,
    statements: csaf.vulnerabilities.flatMap((vulnerability, position) => statementsOf(vulnerability, position, index)),
  };

  const author = csaf.document.publisher?.name;
  if (author) result.author = author;
  if (csaf.document.tracking.current_release_date) result.timestamp = csaf.document.tracking.current_release_date;
  if (csaf.document.tracking.version) result.version = csaf.document.tracking.version;

  return result;
}
