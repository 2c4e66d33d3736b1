import { z } from 'zod';

import { InvalidInputError } from './errors.ts';

/** A zod string schema that accepts only OCI digests. */
export const digestSchema = z
  .string()
  .regex(/^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/, 'expected a digest such as sha256:<64 lowercase hex characters>');

/** Formats a JSON path from zod's issue path, for example `Results[2].Vulnerabilities[0].Severity`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';

  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }

  return out === '' ? '(document root)' : out;
}

/** Returns the value at a parsed path of a document, or undefined where the path leaves it. */
export function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let current: unknown = input;

  for (const part of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[part];
  }

  return current;
}

function preview(value: unknown): string {
  if (value === undefined) return 'nothing';

  const text = JSON.stringify(value);
  if (text === undefined) return String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/**
 * Parses input with a zod schema, or throws an InvalidInputError that names the format, the
 * JSON path of the first problem, the value found there and what was expected.
 */
export function parseWith<T extends z.ZodType>(schema: T, input: unknown, format: string): z.output<T> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;

  const issue = result.error.issues[0]!;
  const path = formatPath(issue.path);
  const value = valueAt(input, issue.path);
  const others = result.error.issues.length - 1;
  const more = others > 0 ? ` (and ${others} more ${others === 1 ? 'problem' : 'problems'})` : '';

  throw new InvalidInputError(
    `Invalid ${format} document at ${path}: ${issue.message}, found ${preview(value)}${more}`,
    { format, path, value },
  );
}
