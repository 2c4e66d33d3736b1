import {
  exportOpenVex,
  importVexDocument,
  InvalidInputError,
  NotFoundError,
  parseDigest,
  parseVexDocument,
  revokeVexDocument,
  VEX_DOCUMENT_STATES,
  VEX_FORMATS,
  VEX_JUSTIFICATIONS,
  VEX_MATCH_KINDS,
  VEX_SOURCES,
  VEX_STATUSES,
  type Finding,
  type FindingVex,
  type VexChangeResult,
  type VexDocumentRecord,
  type VexHistoryEntry,
} from '@stratum/core';

import { builder } from '../builder.ts';
import type { GraphQLContext } from '../context.ts';
import { FindingRef } from './finding.ts';
import { forwardPage, toConnection } from './paging.ts';
import { parseJsonString } from './validate.ts';

export const VexStatusEnum = builder.enumType('VexStatus', { values: VEX_STATUSES });
const VexJustificationEnum = builder.enumType('VexJustification', { values: VEX_JUSTIFICATIONS });
const VexMatchEnum = builder.enumType('VexMatch', {
  description: 'How the statement reached the finding: IMAGE (it names this image), BASE_IMAGE (it names the base image; base layers only), PACKAGE (it names the package).',
  values: VEX_MATCH_KINDS,
});
const VexSourceEnum = builder.enumType('VexSource', {
  description: "OWN: the tenant's own assessment, applied in every layer of the images it names. VENDOR: a supplier's document. REGISTRY: found attached to an image.",
  values: VEX_SOURCES,
});
const VexFormatEnum = builder.enumType('VexFormat', { values: VEX_FORMATS });
const VexDocumentStateEnum = builder.enumType('VexDocumentState', { values: VEX_DOCUMENT_STATES });

export const FindingVexRef = builder.objectRef<FindingVex>('FindingVex').implement({
  description: 'The VEX statement that decides a finding, and why it applies.',
  fields: (t) => ({
    status: t.field({ type: VexStatusEnum, resolve: (vex) => vex.status }),
    justification: t.field({ type: VexJustificationEnum, nullable: true, resolve: (vex) => vex.justification }),
    impactStatement: t.exposeString('impactStatement', { nullable: true }),
    actionStatement: t.exposeString('actionStatement', { nullable: true }),
    statusNotes: t.exposeString('statusNotes', { nullable: true }),
    author: t.exposeString('author', { nullable: true }),
    documentId: t.exposeString('documentId', { description: "The document's own id, as its author wrote it." }),
    documentKey: t.exposeString('documentKey', { description: "Stratum's id of the imported document; pass it to revokeVex." }),
    statementTimestamp: t.string({ nullable: true, resolve: (vex) => vex.statementTimestamp }),
    matchedBy: t.field({ type: VexMatchEnum, resolve: (vex) => vex.matchedBy }),
    product: t.exposeString('product', { description: 'The product the statement names, as written.' }),
    reason: t.exposeString('reason', { description: 'A plain-language sentence saying which statement decided and why it applies.' }),
  }),
});

const VexHistoryRef = builder.objectRef<VexHistoryEntry>('VexHistoryEntry').implement({
  description: "A change of a finding's VEX decision.",
  fields: (t) => ({
    at: t.field({ type: 'DateTime', resolve: (entry) => entry.at }),
    action: t.exposeString('action', { description: 'APPLIED, CHANGED or REMOVED.' }),
    cause: t.exposeString('cause', { description: 'IMPORT, REVOKE, INGEST or REATTRIBUTION.' }),
    before: t.field({ type: FindingVexRef, nullable: true, resolve: (entry) => entry.before }),
    after: t.field({ type: FindingVexRef, nullable: true, resolve: (entry) => entry.after }),
  }),
});

builder.objectFields(FindingRef, (t) => ({
  vex: t.field({ type: FindingVexRef, nullable: true, resolve: ({ finding }) => finding.vex }),
  vexHistory: t.field({
    type: [VexHistoryRef],
    description: 'Earlier VEX decisions of this finding, oldest first.',
    resolve: async ({ finding, image }, _args, context) => (await context.store.vex.history(image.key, finding.id)).sort((a, b) => a.at.localeCompare(b.at)),
  }),
}));

const VexDocumentRef = builder.objectRef<VexDocumentRecord>('VexDocument').implement({
  description: 'An imported VEX document.',
  fields: (t) => ({
    id: t.string({ description: "Stratum's id of the document.", resolve: (record) => record.key }),
    documentId: t.exposeString('documentId'),
    format: t.field({ type: VexFormatEnum, resolve: (record) => record.format }),
    author: t.exposeString('author', { nullable: true }),
    timestamp: t.string({ nullable: true, resolve: (record) => record.timestamp }),
    source: t.field({ type: VexSourceEnum, resolve: (record) => record.source }),
    state: t.field({ type: VexDocumentStateEnum, resolve: (record) => record.state }),
    statementCount: t.exposeInt('statementCount'),
    importedAt: t.field({ type: 'DateTime', resolve: (record) => record.importedAt }),
    importedBy: t.exposeString('importedBy'),
    revokedAt: t.field({ type: 'DateTime', nullable: true, resolve: (record) => record.revokedAt }),
    revokedBy: t.exposeString('revokedBy', { nullable: true }),
    revokeReason: t.exposeString('revokeReason', { nullable: true }),
  }),
});

const VexChangeRef = builder.objectRef<VexChangeResult>('VexChangeResult').implement({
  fields: (t) => ({
    document: t.field({ type: VexDocumentRef, resolve: (result) => result.document }),
    findingsUpdated: t.exposeInt('findingsUpdated', { description: 'Findings whose VEX decision changed.' }),
    alreadyImported: t.exposeBoolean('alreadyImported', { description: 'True when the same document was already active, so nothing changed.' }),
  }),
});

const ImportVexInput = builder.inputType('ImportVexInput', {
  fields: (t) => ({
    document: t.field({ type: 'JSON', required: true, description: 'An OpenVEX, CycloneDX VEX or CSAF VEX document, as a JSON value.' }),
    format: t.field({ type: VexFormatEnum, required: false, description: 'Detected from the document when omitted.' }),
    source: t.field({ type: VexSourceEnum, required: false, description: 'Defaults to VENDOR, the narrower scope.' }),
  }),
});

function vexContext(context: GraphQLContext) {
  return { store: context.store, clock: context.clock, logger: context.logger, actor: context.actor };
}

const DOCUMENT_KEY = /^[a-f0-9]{32}$/;

builder.mutationFields((t) => ({
  importVex: t.field({
    type: VexChangeRef,
    description: 'Imports a VEX document and re-evaluates the findings its statements name.',
    args: { input: t.arg({ type: ImportVexInput, required: true }) },
    resolve: async (_root, { input }, context) => {
      const raw = typeof input.document === 'string' ? parseJsonString(input.document, 'input.document') : input.document;
      const document = parseVexDocument(raw, input.format ?? undefined);
      return importVexDocument(vexContext(context), document, input.source ?? 'VENDOR');
    },
  }),
  revokeVex: t.field({
    type: VexChangeRef,
    description: "Revokes an imported document: its statements stop applying and the findings they decided are re-evaluated. The document's record stays.",
    args: { id: t.arg.string({ required: true }), reason: t.arg.string({ required: true }) },
    resolve: async (_root, args, context) => {
      if (!DOCUMENT_KEY.test(args.id)) throw new InvalidInputError(`Invalid id ${JSON.stringify(args.id)}: expected a VEX document id of 32 hex characters, as vexDocuments lists them`, { path: 'id', value: args.id });
      if (args.reason.trim() === '') throw new InvalidInputError('Missing reason: say why the document is revoked, for the audit trail', { path: 'reason' });
      return revokeVexDocument(vexContext(context), args.id, args.reason.trim());
    },
  }),
}));

builder.queryFields((t) => ({
  vexDocuments: t.connection({
    type: VexDocumentRef,
    description: 'Imported VEX documents, most recent first.',
    resolve: async (_root, args, context) => toConnection(await context.store.vex.listDocuments(forwardPage(args)), (record) => record),
  }),
  vexDocument: t.field({
    type: 'JSON',
    description: "An OpenVEX 0.2.0 document of the image's current not_affected, fixed and affected decisions, for scanners' --vex options.",
    args: { imageDigest: t.arg.string({ required: true }) },
    resolve: async (_root, args, context) => {
      const image = await context.store.getImage(parseDigest(args.imageDigest, 'imageDigest'));
      if (!image) throw new NotFoundError('Image', args.imageDigest, 'ingest a report or push the image first');

      const findings: Finding[] = image.scan ? await context.store.allFindings(image.scan.id) : [];
      return exportOpenVex(image, findings, { author: `Stratum (tenant ${context.tenant})`, now: context.clock.now().toISOString() });
    },
  }),
}));
