import { readFile } from 'node:fs/promises';

import { ingestReport, parseReportText, type IngestContext } from '@stratum/core';

/** Bundled real scan reports, ingested on the first start of the local stack. */
export const SAMPLE_REPORTS = ['juice-shop-v12.10.2.trivy.json', 'defectdojo-django-1.13.1.grype.json', 'spring4shell-jre8-tomcat.trivy.json'] as const;

const samplesFolder = new URL('../../samples/', import.meta.url);

export interface SampleResult {
  file: string;
  imageKey: string;
  repository?: string;
  findingCount: number;
}

/** Ingests every bundled sample. Ingest is idempotent, so a start that was interrupted can run it again. */
export async function ingestSamples(context: IngestContext): Promise<SampleResult[]> {
  const results: SampleResult[] = [];

  for (const file of SAMPLE_REPORTS) {
    const text = await readFile(new URL(file, samplesFolder), 'utf8');
    const result = await ingestReport(context, { report: parseReportText(text) });
    results.push({ file, imageKey: result.image.key, repository: result.image.repository, findingCount: result.findingCount });
  }

  return results;
}
