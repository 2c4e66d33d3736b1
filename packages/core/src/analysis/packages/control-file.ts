import { excerpt } from './common.ts';

/** One paragraph of a deb822 control file (dpkg status) or of an RFC 822 header block (Python METADATA). */
export interface ControlParagraph {
  /** Field values by lowercased field name; continuation lines are joined with '\n'. */
  fields: Map<string, string>;
  /** 1-based line of the paragraph's first field, for warnings. */
  line: number;
}

/**
 * Parses "Field: value" paragraphs separated by blank lines. A line that is neither a field nor
 * a continuation (leading space or tab) is reported as a warning naming the file and line, and
 * the rest still parses. With `firstOnly`, parsing stops at the first blank line, because Python
 * METADATA puts a free-form description after its headers.
 */
export function parseControlParagraphs(text: string, file: string, warnings: string[], options: { firstOnly?: boolean } = {}): ControlParagraph[] {
  const paragraphs: ControlParagraph[] = [];
  const lines = text.split('\n');
  let current: ControlParagraph | undefined;
  let lastField: string | undefined;

  for (let index = 0; index < lines.length; index++) {
    const line = lines[index]!.replace(/\r$/, '');
    const lineNumber = index + 1;

    if (line.trim() === '') {
      if (current) paragraphs.push(current);
      current = undefined;
      lastField = undefined;
      if (options.firstOnly && paragraphs.length) break;
      continue;
    }

    if (line[0] === ' ' || line[0] === '\t') {
      if (current && lastField) current.fields.set(lastField, `${current.fields.get(lastField)}\n${line.slice(1)}`);
      else warnings.push(`${file}:${lineNumber}: continuation line without a field before it: "${excerpt(line)}"`);
      continue;
    }

    const colon = line.indexOf(':');
    if (colon <= 0) {
      warnings.push(`${file}:${lineNumber}: expected "Field: value", found "${excerpt(line)}"`);
      continue;
    }

    current ??= { fields: new Map(), line: lineNumber };
    lastField = line.slice(0, colon).trim().toLowerCase();
    current.fields.set(lastField, line.slice(colon + 1).trim());
  }

  if (current) paragraphs.push(current);
  return paragraphs;
}
