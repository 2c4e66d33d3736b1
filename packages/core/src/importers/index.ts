import { InvalidInputError, UnsupportedFormatError } from '../errors.ts';
import type { ParsedReport, ReportFormat } from '../report.ts';
import { cyclonedxImporter } from './cyclonedx.ts';
import { ecrImporter } from './ecr.ts';
import type { Importer } from './importer.ts';
import { grypeImporter } from './grype.ts';
import { inspector2Importer } from './inspector2.ts';
import { trivyImporter } from './trivy.ts';

/** In detection order: each detector looks at keys that only its own format has at the top level. */
export const IMPORTERS: readonly Importer[] = [cyclonedxImporter, grypeImporter, trivyImporter, ecrImporter, inspector2Importer];

export function importerFor(format: ReportFormat): Importer {
  const importer = IMPORTERS.find((candidate) => candidate.format === format);
  if (!importer) throw new UnsupportedFormatError(`No importer for format ${format}`, { value: format });
  return importer;
}

/** Returns the format of a scan report, or throws listing the formats that were tried. */
export function detectFormat(document: unknown): ReportFormat {
  const importer = IMPORTERS.find((candidate) => candidate.detect(document));
  if (importer) return importer.format;

  const keys = document !== null && typeof document === 'object' && !Array.isArray(document) ? Object.keys(document).slice(0, 8).join(', ') : '';
  const shape = Array.isArray(document) ? 'a top-level array' : document !== null && typeof document === 'object' ? `top-level keys ${keys || '(none)'}` : `a ${document === null ? 'null' : typeof document} value`;
  throw new UnsupportedFormatError(
    `Unrecognised scan report: tried ${IMPORTERS.map((candidate) => candidate.format).join(', ')}, and none matches a document with ${shape}. Pass the format explicitly or upload the scanner's JSON output.`,
    { value: keys },
  );
}

/**
 * Parses a report in the given format, or in the detected one when no format is given. A
 * format given explicitly that does not match the document fails with that format's
 * validation error, which names the field.
 */
export function parseReport(document: unknown, format?: ReportFormat): ParsedReport {
  return importerFor(format ?? detectFormat(document)).parse(document);
}

/** Parses report text as JSON first, naming the report when the text is not JSON at all. */
export function parseReportText(text: string, format?: ReportFormat): ParsedReport {
  let document: unknown;

  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new InvalidInputError(`The scan report is not valid JSON: ${(error as Error).message}`, { format, path: '(document root)' }, { cause: error });
  }

  return parseReport(document, format);
}

export { cyclonedxImporter, ecrImporter, grypeImporter, inspector2Importer, trivyImporter };
export type { Importer };
