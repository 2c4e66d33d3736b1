import type { Digest } from './digest.ts';
import type { ReportedFinding } from './finding.ts';
import type { ImageConfig } from './image/config.ts';
import type { ImageManifest } from './image/manifest.ts';

export const REPORT_FORMATS = ['TRIVY', 'GRYPE', 'CYCLONEDX', 'ECR', 'INSPECTOR2'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

/** What a report says about the image it scanned. Every field is optional because formats differ. */
export interface ReportImage {
  /** Digest of the image manifest, as a registry names the image. */
  manifestDigest?: Digest;
  /** Digest of the image config, which Docker and most scanners call the image ID. */
  imageId?: Digest;
  repository?: string;
  tags: string[];
  diffIds?: Digest[];
  layerDigests?: Digest[];
  config?: ImageConfig;
  manifest?: ImageManifest;
  /** Operating system the scanner detected, for example { family: "alpine", name: "3.11.12" }. */
  os?: { family: string; name?: string };
}

export interface ParsedReport {
  format: ReportFormat;
  scanner: { name: string; version?: string };
  createdAt?: string;
  image: ReportImage;
  findings: ReportedFinding[];
}
