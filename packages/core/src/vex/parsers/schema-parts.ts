import { z } from 'zod';

/** A string that may be missing, null or empty; empty strings count as absent, so an empty text never becomes a statement. */
export const optionalString = z
  .string()
  .nullish()
  .transform((value) => (value ? value : undefined));

/** Builds a schema for a list that may be missing or null, read as an empty list. */
export function optionalList<T extends z.ZodType>(item: T) {
  return z
    .array(item)
    .nullish()
    .transform((value) => value ?? []);
}
