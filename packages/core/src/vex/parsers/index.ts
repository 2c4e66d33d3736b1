import { UnsupportedFormatError } from '../../errors.ts';
import type { ParsedVexDocument, VexFormat } from '../model.ts';
import { isCsafVex, parseCsafVex } from './csaf.ts';
import { isCycloneDxVex, parseCycloneDxVex } from './cyclonedx.ts';
import { isOpenVex, parseOpenVex } from './openvex.ts';

export { isCsafVex, parseCsafVex } from './csaf.ts';
export { isCycloneDxVex, parseCycloneDxVex } from './cyclonedx.ts';
export { isOpenVex, parseOpenVex, OPENVEX_CONTEXT_PREFIX } from './openvex.ts';

interface VexParser {
  format: VexFormat;
  /** Description of the keys the detector reads, for the error message when no format matches. */
  signature: string;
  detect: (document: unknown) => boolean;
  parse: (document: unknown) => ParsedVexDocument;
}

/** In detection order. Each detector reads a top-level key that only its own format has. */
const PARSERS: readonly VexParser[] = [
  { format: 'OPENVEX', signature: 'OpenVEX (@context starting with https://openvex.dev/ns)', detect: isOpenVex, parse: parseOpenVex },
  {
    format: 'CYCLONEDX',
    signature: 'CycloneDX VEX (bomFormat "CycloneDX" with a vulnerability that has an analysis)',
    detect: isCycloneDxVex,
    parse: parseCycloneDxVex,
  },
  {
    format: 'CSAF',
    signature: 'CSAF VEX (document.category "csaf_vex", or "csaf_security_advisory" with product_status)',
    detect: isCsafVex,
    parse: parseCsafVex,
  },
];

/** Returns the format of a VEX document, or throws an UnsupportedFormatError listing the formats tried. */
export function detectVexFormat(document: unknown): VexFormat {
  const parser = PARSERS.find((candidate) => candidate.detect(document));
  if (parser) return parser.format;

  const tried = PARSERS.map((candidate) => candidate.signature).join('; ');
  throw new UnsupportedFormatError(`Unsupported VEX document: tried ${tried}, and none matches. Upload an OpenVEX, CycloneDX VEX or CSAF VEX document.`, {
    format: 'VEX',
  });
}

/**
 * Parses a VEX document in the given format, or in the detected one when no format is given.
 * A format given explicitly that does not match fails with that format's validation error.
 */
export function parseVexDocument(document: unknown, format?: VexFormat): ParsedVexDocument {
  const chosen = format ?? detectVexFormat(document);
  const parser = PARSERS.find((candidate) => candidate.format === chosen);
  if (!parser) throw new UnsupportedFormatError(`Unsupported VEX format ${chosen}: expected one of ${PARSERS.map((candidate) => candidate.format).join(', ')}`, { value: chosen });

  return parser.parse(document);
}
