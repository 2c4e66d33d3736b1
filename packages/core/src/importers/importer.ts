import type { ParsedReport, ReportFormat } from '../report.ts';

/**
 * One report format. `detect` looks only at the document's shape so that auto-detection can
 * try every importer cheaply; `parse` validates the whole document and throws an
 * InvalidInputError naming the format, the JSON path and the value on the first problem.
 */
export interface Importer {
  format: ReportFormat;
  detect(document: unknown): boolean;
  parse(document: unknown): ParsedReport;
}
