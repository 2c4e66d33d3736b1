import { sha256 } from '../digest.ts';
import { NotFoundError } from '../errors.ts';
import type { Finding } from '../finding.ts';
import type { Image } from '../image/model.ts';
import type { IngestContext } from '../ingest/context.ts';
import type { VexDocumentRecord, VexHistoryEntry } from '../store/vex-store.ts';
import { VexIndex, type FindingVex, type StoredStatement, type VexSource } from './matcher.ts';
import type { ParsedVexDocument } from './model.ts';

/** Pages of occurrences read per vulnerability id when a document is imported or revoked. */
const OCCURRENCE_PAGE = 500;

export interface VexContext extends IngestContext {
  /** The actor of the change, for the audit trail: a user, an API key's id, or a service. */
  actor: string;
}

export interface VexChangeResult {
  document: VexDocumentRecord;
  findingsUpdated: number;
  /** True when the same document was already active, so nothing changed. */
  alreadyImported: boolean;
}

export async function loadVexIndex(context: IngestContext): Promise<VexIndex> {
  return new VexIndex(await context.store.vex.activeStatements());
}

function sameDecision(a: FindingVex | undefined, b: FindingVex | undefined): boolean {
  if (!a || !b) return a === b;
  return a.documentKey === b.documentKey && a.statementIndex === b.statementIndex && a.matchedBy === b.matchedBy && a.status === b.status;
}

/** Sets each finding's VEX decision from the index; findings whose decision is unchanged are returned as they are. */
export function applyVex(index: VexIndex, image: Image, findings: Finding[]): Finding[] {
  return findings.map((finding) => {
    const vex = index.evaluate(image, finding);
    if (sameDecision(vex, finding.vex)) return finding;

    const { vex: _previous, ...rest } = finding;
    return vex ? { ...rest, vex } : rest;
  });
}

/**
 * Re-evaluates every current finding of the given vulnerability ids against the index, and
 * writes the findings whose decision changed with a history entry each.
 */
async function reevaluate(context: VexContext, index: VexIndex, vulnerabilityIds: Set<string>, cause: VexHistoryEntry['cause'], documentKey: string): Promise<number> {
  const seen = new Map<string, { finding: Finding; image: Image }>();

  for (const id of vulnerabilityIds) {
    let after: string | undefined;
    do {
      const page = await context.store.listOccurrences(id, { first: OCCURRENCE_PAGE, after });
      for (const { node } of page.items) seen.set(`${node.image.key}#${node.finding.id}`, node);
      after = page.hasNextPage ? page.endCursor : undefined;
    } while (after);
  }

  const now = context.clock.now().toISOString();
  const changed: Finding[] = [];
  const history: VexHistoryEntry[] = [];

  for (const { finding, image } of seen.values()) {
    const vex = index.evaluate(image, finding);
    if (sameDecision(vex, finding.vex)) continue;

    const { vex: before, ...rest } = finding;
    changed.push(vex ? { ...rest, vex } : rest);
    history.push({
      at: now,
      imageKey: image.key,
      findingId: finding.id,
      action: historyAction(before, vex),
      cause,
      before,
      after: vex,
      documentKey,
    });
  }

  // Findings first, then the history: a retry after a failure re-evaluates and finds the same changes.
  await context.store.putFindings(changed);
  await context.store.vex.appendHistory(history);
  await context.store.triage.appendAudit(
    history.map((entry) => ({
      at: entry.at,
      actor: context.actor,
      action: 'VEX_DECISION' as const,
      reason: `${entry.action.toLowerCase()} on ${entry.cause.toLowerCase()} of VEX document ${documentKey}`,
      imageKey: entry.imageKey,
      findingId: entry.findingId,
      before: entry.before ?? null,
      after: entry.after ?? null,
    })),
  );
  return changed.length;
}

function historyAction(before: FindingVex | undefined, after: FindingVex | undefined): VexHistoryEntry['action'] {
  if (!before) return 'APPLIED';
  return after ? 'CHANGED' : 'REMOVED';
}

function vulnerabilityIdsOf(statements: readonly { vulnerabilityId: string; aliases: string[] }[]): Set<string> {
  return new Set(statements.flatMap((statement) => [statement.vulnerabilityId, ...statement.aliases].map((id) => id.toUpperCase())));
}

/**
 * Imports a parsed VEX document and re-evaluates the findings it touches. The document's key
 * is a digest of its normalized content, so importing the same document again changes nothing.
 * The statements are written before the document becomes ACTIVE, and only statements of
 * ACTIVE documents apply, so an interrupted import never applies half a document.
 */
export async function importVexDocument(context: VexContext, document: ParsedVexDocument, source: VexSource): Promise<VexChangeResult> {
  const key = sha256(JSON.stringify([source, document])).slice(7, 39);
  const existing = await context.store.vex.getDocument(key);
  if (existing?.state === 'ACTIVE') return { document: existing, findingsUpdated: 0, alreadyImported: true };

  const now = context.clock.now().toISOString();
  const record: VexDocumentRecord = {
    key,
    documentId: document.documentId,
    format: document.format,
    author: document.author,
    timestamp: document.timestamp,
    version: document.version,
    source,
    state: 'IMPORTING',
    statementCount: document.statements.length,
    importedAt: existing?.importedAt ?? now,
    importedBy: context.actor,
  };
  const statements: StoredStatement[] = document.statements.map((statement, index) => ({
    ...statement,
    documentKey: key,
    documentId: document.documentId,
    documentTimestamp: document.timestamp,
    author: document.author,
    source,
    importedAt: record.importedAt,
    index,
  }));

  await context.store.vex.putDocument(record, existing ? existing.state : null);
  await context.store.vex.putStatements(statements);
  // A document imported again after a revocation keeps its last revocation on record.
  const active: VexDocumentRecord = {
    ...record,
    state: 'ACTIVE',
    revokedAt: existing?.revokedAt,
    revokedBy: existing?.revokedBy,
    revokeReason: existing?.revokeReason,
    reimportedAt: existing?.state === 'REVOKED' ? now : undefined,
  };
  await context.store.vex.putDocument(active, 'IMPORTING');

  const index = await loadVexIndex(context);
  const findingsUpdated = await reevaluate(context, index, vulnerabilityIdsOf(statements), 'IMPORT', key);
  context.logger.info('imported VEX document', { tenant: context.store.tenant, documentKey: key, documentId: document.documentId, statements: statements.length, findingsUpdated, actor: context.actor });

  return { document: active, findingsUpdated, alreadyImported: false };
}

/** Revokes a document: its statements stop applying, and the findings they decided are re-evaluated. */
export async function revokeVexDocument(context: VexContext, key: string, reason: string): Promise<VexChangeResult> {
  const existing = await context.store.vex.getDocument(key);
  if (!existing) throw new NotFoundError('VEX document', key, 'list documents with vexDocuments to find its id');
  if (existing.state === 'REVOKED') return { document: existing, findingsUpdated: 0, alreadyImported: false };

  const statements = (await context.store.vex.activeStatements()).filter((statement) => statement.documentKey === key);
  const revoked: VexDocumentRecord = { ...existing, state: 'REVOKED', revokedAt: context.clock.now().toISOString(), revokedBy: context.actor, revokeReason: reason };
  await context.store.vex.putDocument(revoked, existing.state);

  const index = await loadVexIndex(context);
  const findingsUpdated = await reevaluate(context, index, vulnerabilityIdsOf(statements), 'REVOKE', key);
  await context.store.vex.deleteStatements(key);
  context.logger.info('revoked VEX document', { tenant: context.store.tenant, documentKey: key, findingsUpdated, actor: context.actor, reason });

  return { document: revoked, findingsUpdated, alreadyImported: false };
}
