import { ingestGovernance, ingestReport, InvalidInputError, parseDigest, parseReport, type ExploitFacts, type IngestResult } from '@stratum/core';

import { builder } from '../builder.ts';
import { ReportFormatEnum } from './enums.ts';
import { ImageRef } from './image.ts';
import { parseJsonString } from './validate.ts';

const IngestResultRef = builder.objectRef<IngestResult>('IngestResult').implement({
  fields: (t) => ({
    image: t.field({ type: ImageRef, resolve: (result) => result.image }),
    findingCount: t.exposeInt('findingCount'),
    unchanged: t.exposeBoolean('unchanged', { description: 'True when this report was already the current scan of the image, so nothing changed.' }),
  }),
});

const IngestScanReportInput = builder.inputType('IngestScanReportInput', {
  fields: (t) => ({
    report: t.field({ type: 'JSON', required: true, description: "The scanner's JSON output, as a JSON value (not a string)." }),
    format: t.field({ type: ReportFormatEnum, required: false, description: 'Detected from the document when omitted.' }),
    repository: t.string({ required: false, description: 'Repository of the image, for example 123456789012.dkr.ecr.us-east-1.amazonaws.com/shop.' }),
    digest: t.string({ required: false, description: 'Manifest digest of the scanned image, for reports that name only the image ID.' }),
    tags: t.stringList({ required: false }),
  }),
});

const TAG_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const REPOSITORY_PATTERN = /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;

builder.mutationFields((t) => ({
  ingestScanReport: t.field({
    type: IngestResultRef,
    description: "Imports a scan report for an image, replacing the image's current findings.",
    args: { input: t.arg({ type: IngestScanReportInput, required: true }) },
    resolve: async (_root, { input }, context) => {
      const digest = input.digest == null ? undefined : parseDigest(input.digest, 'input.digest');
      if (input.repository != null && !REPOSITORY_PATTERN.test(input.repository)) {
        throw new InvalidInputError(`Invalid input.repository ${JSON.stringify(input.repository)}: expected a repository name such as registry.example.com/team/app, in lowercase`, {
          path: 'input.repository',
          value: input.repository,
        });
      }
      const badTag = input.tags?.find((tag) => !TAG_PATTERN.test(tag));
      if (badTag !== undefined) {
        throw new InvalidInputError(`Invalid tag ${JSON.stringify(badTag)} in input.tags: tags are 1 to 128 letters, digits, '_', '.' or '-'`, { path: 'input.tags', value: badTag });
      }

      // Clients often send the report as a JSON string rather than a JSON value; both are accepted.
      const document = typeof input.report === 'string' ? parseJsonString(input.report, 'input.report') : input.report;
      const report = parseReport(document, input.format ?? undefined);
      // SLA deadlines are recorded here too, and NEW_BASE_IMAGE goes out when the server has an alert dispatcher.
      const exploitFacts = async (ids: readonly string[]) => {
        const facts = await context.exploitFacts.loadMany(ids);
        return new Map(ids.map((id, index) => [id.toUpperCase(), facts[index] instanceof Error ? {} : (facts[index] as ExploitFacts)]));
      };
      const governance = ingestGovernance({ store: context.store, clock: context.clock, logger: context.logger, alerts: context.alerts, exploitFacts });
      return ingestReport({ ...context, governance }, { report, repository: input.repository ?? undefined, digest, tags: input.tags ?? undefined });
    },
  }),
}));
