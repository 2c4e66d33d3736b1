import type { HistoryEntry } from './config.ts';

/**
 * A pause of this length between two history entries is taken as the end of one build and the
 * start of another (the base image was built and published, and a second build used it later).
 * A single build step rarely runs this long. Reproducible builds (Bazel, Jib) write one fixed
 * timestamp and give no signal.
 */
const BUILD_GAP_MS = 60 * 60 * 1000;

export interface HistoryBoundary {
  /** Number of leading layers that the history attributes to the base image. */
  layerCount: number;
  evidence: string;
}

/** Tells whether the legacy builder wrote an entry: it prefixes every instruction with the shell, and BuildKit does not. */
function isLegacyBuilder(createdBy: string | undefined): boolean {
  return createdBy !== undefined && createdBy.startsWith('/bin/sh -c ');
}

function timeOf(value: string | undefined): number | undefined {
  if (!value) return undefined;
  const time = Date.parse(value);
  return Number.isNaN(time) ? undefined : time;
}

function quote(text: string | undefined): string {
  const value = (text ?? '').replace(/\s+/g, ' ').trim();
  return value.length > 60 ? `"${value.slice(0, 57)}..."` : `"${value}"`;
}

/**
 * Finds where the application's build starts in an image's history. A build starts at an entry
 * created more than an hour after the entry before it, or at an entry written by BuildKit right
 * after entries written by the legacy builder. With several stacked base images the last such
 * entry wins, because the nearest base is the one the application's Dockerfile names. Returns
 * undefined when no entry qualifies or the history does not line up with the layers.
 */
export function findHistoryBoundary(history: readonly HistoryEntry[] | undefined, layerCount: number): HistoryBoundary | undefined {
  if (!history || history.filter((entry) => !entry.empty_layer).length !== layerCount) return undefined;

  let boundary: HistoryBoundary | undefined;
  let layersBefore = history[0]?.empty_layer ? 0 : 1;

  for (let index = 1; index < history.length; index++) {
    const entry = history[index]!;
    const previous = history[index - 1]!;
    const startedAt = timeOf(entry.created);
    const previousAt = timeOf(previous.created);
    const gap = startedAt !== undefined && previousAt !== undefined ? startedAt - previousAt : 0;
    const inRange = layersBefore > 0 && layersBefore < layerCount;

    if (inRange && gap >= BUILD_GAP_MS) {
      boundary = {
        layerCount: layersBefore,
        evidence: `history entry ${quote(entry.created_by)} was created ${Math.round(gap / 3_600_000)} h after the one before it, so a new build starts after layer ${layersBefore - 1}`,
      };
    } else if (inRange && isLegacyBuilder(previous.created_by) && entry.created_by && !isLegacyBuilder(entry.created_by)) {
      boundary = {
        layerCount: layersBefore,
        evidence: `history entry ${quote(entry.created_by)} was written by BuildKit after entries written by the legacy builder, so a new build starts after layer ${layersBefore - 1}`,
      };
    }

    if (!entry.empty_layer) layersBefore++;
  }

  return boundary;
}
