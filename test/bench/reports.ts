import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

import { parseReportText, type ParsedReport, type ReportedFinding } from '@stratum/core';

export interface BenchReport {
  path: string;
  bytes: number;
  text: string;
  report: ParsedReport;
}

function jsonFiles(folder: string): string[] {
  return readdirSync(folder, { withFileTypes: true }).flatMap((entry) => {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) return jsonFiles(path);
    return entry.isFile() && entry.name.endsWith('.json') ? [path] : [];
  });
}

/**
 * Picks the largest report under `folder` that imports and has findings. Fixtures come and go,
 * so the choice is made at run time rather than by name.
 */
export function largestReport(folder: string, root: string): BenchReport {
  const bySize = jsonFiles(folder)
    .map((path) => ({ path, bytes: statSync(path).size }))
    .sort((a, b) => b.bytes - a.bytes);

  for (const { path, bytes } of bySize) {
    const text = readFileSync(path, 'utf8');
    try {
      const report = parseReportText(text);
      if (report.findings.length > 0) return { path: relative(root, path), bytes, text, report };
    } catch {
      // Not a report any importer accepts (an event envelope, a broken sample): try the next one.
    }
  }

  throw new Error(`No report with findings under ${folder}`);
}

/**
 * Copies the report's findings until there are `count`, giving each copy its own vulnerability
 * id, so every copy is a distinct finding with its own index entries.
 */
export function scaledReport(report: ParsedReport, count: number): ParsedReport {
  const source = report.findings;
  const findings: ReportedFinding[] = Array.from({ length: count }, (_, index) => {
    const original = source[index % source.length]!;
    const copy = Math.floor(index / source.length);
    return copy === 0 ? original : { ...original, vulnerabilityId: `${original.vulnerabilityId}-X${copy}` };
  });

  return { ...report, findings };
}
