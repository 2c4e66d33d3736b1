import { assessRisk, InvalidInputError, type Finding, type FindingFilter, type Image } from '@stratum/core';

import type { GraphQLContext } from '../context.ts';

/** Findings one RISK-ordered list reads at most; an image's current scan rarely has more. */
const MAX_RANKED = 20_000;

/**
 * Lists an image's findings ranked by risk: actionable ones first, then by score. The score
 * depends on exploit feeds that change daily, so it is computed when read, over every finding
 * that matches the filter; the cursor is the position in that ranking.
 */
export async function findingsByRisk(image: Image, filter: FindingFilter, page: { first: number; after?: string }, context: GraphQLContext) {
  const start = page.after === undefined ? 0 : Number.parseInt(Buffer.from(page.after, 'base64url').toString('utf8').replace(/^risk:/, ''), 10) + 1;
  if (!Number.isInteger(start) || start < 0) throw new InvalidInputError(`Invalid cursor ${JSON.stringify(page.after)}: pass an endCursor from a RISK-ordered list`, { path: 'after', value: page.after });

  const findings: Finding[] = [];
  let after: string | undefined;
  do {
    const batch = await context.store.listFindings(image, filter, { first: 500, after });
    findings.push(...batch.items.map((item) => item.node));
    after = batch.hasNextPage ? batch.endCursor : undefined;
  } while (after && findings.length < MAX_RANKED);

  const policy = await context.store.triage.getPolicy();
  const facts = await context.exploitFacts.loadMany([...new Set(findings.map((finding) => finding.vulnerabilityId))]);
  const factsById = new Map([...new Set(findings.map((finding) => finding.vulnerabilityId))].map((id, index) => [id, facts[index] instanceof Error ? {} : facts[index]!]));
  const now = context.clock.now();

  const ranked = findings
    .map((finding) => ({ finding, risk: assessRisk(finding, factsById.get(finding.vulnerabilityId) ?? {}, policy, now) }))
    .sort((a, b) => Number(b.risk.actionable) - Number(a.risk.actionable) || b.risk.score - a.risk.score || (a.finding.id < b.finding.id ? -1 : 1));

  const slice = ranked.slice(start, start + page.first);
  const cursor = (index: number) => Buffer.from(`risk:${index}`).toString('base64url');
  return {
    edges: slice.map(({ finding }, index) => ({ node: { finding, image }, cursor: cursor(start + index) })),
    pageInfo: {
      hasNextPage: start + page.first < ranked.length,
      hasPreviousPage: start > 0,
      startCursor: slice.length > 0 ? cursor(start) : null,
      endCursor: slice.length > 0 ? cursor(start + slice.length - 1) : null,
    },
  };
}
