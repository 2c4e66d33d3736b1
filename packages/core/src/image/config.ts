import { z } from 'zod';

import { InvalidInputError } from '../errors.ts';
import type { Digest } from '../digest.ts';
import { digestSchema, parseWith } from '../validation.ts';

// Docker writes null for empty lists and maps, so every optional field also accepts null.
const stringList = z.array(z.string()).nullish().transform((value) => value ?? undefined);
const stringMap = z.record(z.string(), z.string()).nullish().transform((value) => value ?? undefined);

const historySchema = z.object({
  created: z.string().optional(),
  created_by: z.string().optional(),
  author: z.string().optional(),
  comment: z.string().optional(),
  empty_layer: z.boolean().optional(),
});
export type HistoryEntry = z.infer<typeof historySchema>;

const configSchema = z.object({
  architecture: z.string().optional(),
  os: z.string().optional(),
  variant: z.string().optional(),
  created: z.string().optional(),
  config: z
    .object({
      User: z.string().optional(),
      Env: stringList,
      Entrypoint: stringList,
      Cmd: stringList,
      WorkingDir: z.string().optional(),
      Labels: stringMap,
    })
    .nullish()
    .transform((value) => value ?? undefined),
  rootfs: z.object({
    type: z.literal('layers'),
    // An image built FROM scratch with no layer-producing step has no diff_ids; Docker writes null.
    diff_ids: z.array(digestSchema).nullish().transform((value) => value ?? []),
  }),
  history: z.array(historySchema).nullish().transform((value) => value ?? undefined),
});
export type ImageConfig = z.infer<typeof configSchema>;

export function parseImageConfig(input: unknown): ImageConfig {
  return parseWith(configSchema, input, 'image config');
}

/** A history entry that produced a layer, or undefined when the history does not line up. */
export interface LayerHistory {
  created?: string;
  createdBy?: string;
  /** The empty-layer entries (ENV, CMD, LABEL, …) written between the previous layer and this one. */
  precedingInstructions: string[];
}

/**
 * Aligns the config's history with its diff_ids: each entry without `empty_layer` produced the
 * next layer. Returns one entry per layer, or undefined for every layer when the counts
 * disagree (squashed or hand-edited images), because a shifted alignment would be wrong
 * everywhere after the first gap.
 */
export function alignHistory(config: ImageConfig): Array<LayerHistory | undefined> {
  const layerCount = config.rootfs.diff_ids.length;
  const history = config.history ?? [];
  const producing = history.filter((entry) => !entry.empty_layer);
  if (producing.length !== layerCount) return new Array(layerCount).fill(undefined);

  const aligned: LayerHistory[] = [];
  let pending: string[] = [];

  for (const entry of history) {
    if (entry.empty_layer) {
      if (entry.created_by) pending.push(entry.created_by);
      continue;
    }
    aligned.push({ created: entry.created, createdBy: entry.created_by, precedingInstructions: pending });
    pending = [];
  }

  return aligned;
}

/** Checks that a set of diff_ids reported alongside a config agrees with it. */
export function assertDiffIdsMatch(config: ImageConfig, diffIds: readonly Digest[], source: string): void {
  const expected = config.rootfs.diff_ids;
  const same = expected.length === diffIds.length && expected.every((id, i) => id === diffIds[i]);
  if (same) return;

  throw new InvalidInputError(
    `${source}: the diff_ids (${diffIds.length}) do not match the image config's rootfs.diff_ids (${expected.length}); the report and the config describe different images`,
    { path: 'rootfs.diff_ids', value: diffIds.length },
  );
}
