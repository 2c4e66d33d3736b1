import { z } from 'zod';

import { parseWith } from '../../validation.ts';
import { VEX_JUSTIFICATIONS, type ParsedVexDocument, type VexIdentifier, type VexProduct, type VexStatement, type VexStatus } from '../model.ts';
import { optionalList, optionalString } from './schema-parts.ts';

const FORMAT = 'OpenVEX';

/** Prefix of every OpenVEX context IRI, such as `https://openvex.dev/ns` (0.0.x) and `https://openvex.dev/ns/v0.2.0`. */
export const OPENVEX_CONTEXT_PREFIX = 'https://openvex.dev/ns';

const STATUSES: Record<string, VexStatus> = {
  not_affected: 'NOT_AFFECTED',
  affected: 'AFFECTED',
  fixed: 'FIXED',
  under_investigation: 'UNDER_INVESTIGATION',
};

const STATUS_NAMES = Object.keys(STATUSES) as [string, ...string[]];

/** OpenVEX 0.0.x writes products, subcomponents and the vulnerability as bare strings. */
function fromBareString(key: string) {
  return (value: unknown) => (typeof value === 'string' ? { [key]: value } : value);
}

// The 0.2.0 JSON schema spells the CPE keys with an @ and the spec text without one, so both are read.
const identifiersSchema = z
  .object({
    purl: optionalString,
    cpe22: optionalString,
    cpe23: optionalString,
    '@cpe22': optionalString,
    '@cpe23': optionalString,
  })
  .nullish();

const componentShape = {
  '@id': optionalString,
  identifiers: identifiersSchema,
};

type ComponentFields = { '@id'?: string | undefined; identifiers?: z.infer<typeof identifiersSchema> };

/** Rejects a component that has neither an @id nor a purl or CPE in its identifiers. */
function requireComponentId(component: ComponentFields, context: z.RefinementCtx): void {
  const identifiers = component.identifiers;
  const hasIdentifier = identifiers?.purl ?? identifiers?.cpe23 ?? identifiers?.['@cpe23'] ?? identifiers?.cpe22 ?? identifiers?.['@cpe22'];
  if (component['@id'] || hasIdentifier) return;

  context.addIssue({ code: 'custom', message: 'expected an @id or identifiers with a purl or CPE', path: ['@id'], input: component['@id'] });
}

const subcomponentSchema = z.preprocess(fromBareString('@id'), z.object(componentShape).superRefine(requireComponentId));

const productSchema = z.preprocess(
  fromBareString('@id'),
  z.object({ ...componentShape, subcomponents: optionalList(subcomponentSchema) }).superRefine(requireComponentId),
);

const vulnerabilitySchema = z.preprocess(
  fromBareString('name'),
  z.object({
    name: z.string().min(1),
    aliases: optionalList(z.string().min(1)),
  }),
);

const justificationSchema = z.preprocess((value) => (value === '' ? undefined : value), z.enum(VEX_JUSTIFICATIONS).nullish());

const statementSchema = z
  .object({
    '@id': optionalString,
    vulnerability: vulnerabilitySchema,
    products: z.array(productSchema).min(1, 'expected at least one product'),
    // Statement-level subcomponents are the 0.0.x shape, and they apply to every product of the statement.
    subcomponents: optionalList(subcomponentSchema),
    status: z.enum(STATUS_NAMES),
    justification: justificationSchema,
    impact_statement: optionalString,
    status_notes: optionalString,
    action_statement: optionalString,
    timestamp: optionalString,
    last_updated: optionalString,
  })
  .superRefine(requireNotAffectedReason);

type OpenVexStatement = z.infer<typeof statementSchema>;
type OpenVexComponent = z.infer<typeof subcomponentSchema>;

/**
 * Enforces the OpenVEX rule that a not_affected statement needs a justification or an impact
 * statement. The rule that an affected statement needs an action statement is not enforced,
 * because published documents often leave it out.
 */
function requireNotAffectedReason(statement: { status: string; justification?: unknown; impact_statement?: string | undefined }, context: z.RefinementCtx): void {
  if (statement.status !== 'not_affected' || statement.justification || statement.impact_statement) return;

  context.addIssue({
    code: 'custom',
    message: 'expected a justification or an impact_statement for a not_affected statement',
    path: ['justification'],
    input: undefined,
  });
}

const documentSchema = z.object({
  '@context': z.string().startsWith(OPENVEX_CONTEXT_PREFIX, `expected an OpenVEX context starting with ${OPENVEX_CONTEXT_PREFIX}`),
  '@id': z.string().min(1),
  author: optionalString,
  timestamp: optionalString,
  last_updated: optionalString,
  version: z.union([z.number(), z.string()]).nullish(),
  statements: z.array(statementSchema),
});

/** Detects OpenVEX by its JSON-LD context. */
export function isOpenVex(document: unknown): boolean {
  if (document === null || typeof document !== 'object' || Array.isArray(document)) return false;

  const context = (document as Record<string, unknown>)['@context'];
  return typeof context === 'string' && context.startsWith(OPENVEX_CONTEXT_PREFIX);
}

function identifierOf(component: OpenVexComponent): VexIdentifier {
  const identifiers = component.identifiers;
  const cpe = identifiers?.cpe23 ?? identifiers?.['@cpe23'] ?? identifiers?.cpe22 ?? identifiers?.['@cpe22'];

  // requireComponentId guarantees that one of these is set.
  const id = component['@id'] ?? identifiers?.purl ?? cpe ?? '';
  const identifier: VexIdentifier = { id };

  const purl = identifiers?.purl ?? (id.startsWith('pkg:') ? id : undefined);
  if (purl) identifier.purl = purl;

  const anyCpe = cpe ?? (id.startsWith('cpe:') ? id : undefined);
  if (anyCpe) identifier.cpe = anyCpe;

  return identifier;
}

function uniqueById(identifiers: VexIdentifier[]): VexIdentifier[] {
  const byId = new Map<string, VexIdentifier>();
  for (const identifier of identifiers) {
    if (!byId.has(identifier.id)) byId.set(identifier.id, identifier);
  }
  return [...byId.values()];
}

function productsOf(statement: OpenVexStatement): VexProduct[] {
  const shared = statement.subcomponents.map(identifierOf);

  return statement.products.map((product) => ({
    ...identifierOf(product),
    subcomponents: uniqueById([...product.subcomponents.map(identifierOf), ...shared]),
  }));
}

function statementOf(statement: OpenVexStatement): VexStatement {
  const vulnerability = statement.vulnerability;
  const result: VexStatement = {
    vulnerabilityId: vulnerability.name,
    aliases: [...new Set(vulnerability.aliases)].filter((alias) => alias !== vulnerability.name),
    products: productsOf(statement),
    status: STATUSES[statement.status]!,
  };

  if (statement.justification) result.justification = statement.justification;
  if (statement.impact_statement) result.impactStatement = statement.impact_statement;
  if (statement.action_statement) result.actionStatement = statement.action_statement;
  if (statement.status_notes) result.statusNotes = statement.status_notes;

  const timestamp = statement.last_updated ?? statement.timestamp;
  if (timestamp) result.timestamp = timestamp;
  if (statement['@id']) result.id = statement['@id'];

  return result;
}

/**
 * Parses an OpenVEX document, version 0.2.0 or the earlier 0.0.x shape, where the
 * vulnerability, products and subcomponents are strings. Both shapes may occur in one document.
 */
export function parseOpenVex(document: unknown): ParsedVexDocument {
  const parsed = parseWith(documentSchema, document, FORMAT);
  const result: ParsedVexDocument = {
    format: 'OPENVEX',
    documentId: parsed['@id'],
    statements: parsed.statements.map(statementOf),
  };

  if (parsed.author) result.author = parsed.author;

  const timestamp = parsed.last_updated ?? parsed.timestamp;
  if (timestamp) result.timestamp = timestamp;
  if (parsed.version !== null && parsed.version !== undefined) result.version = String(parsed.version);

  return result;
}
