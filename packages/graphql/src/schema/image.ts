import { parseDigest, type Image, type Severity } from '@stratum/core';

import { builder } from '../builder.ts';
import { FindingFilterInput, FindingRef } from './finding.ts';
import { BaseImageRef, LayerRef } from './layer.ts';
import { forwardPage, toConnection } from './paging.ts';
import { findingsByRisk } from './risk-order.ts';
import { validateFindingFilter } from './validate.ts';

const PlatformRef = builder.objectRef<NonNullable<Image['platform']>>('Platform').implement({
  fields: (t) => ({
    os: t.exposeString('os'),
    architecture: t.exposeString('architecture'),
    variant: t.exposeString('variant', { nullable: true }),
  }),
});

interface SeverityCounts {
  counts: Partial<Record<Severity, number>>;
}

const SeverityCountsRef = builder.objectRef<SeverityCounts>('SeverityCounts').implement({
  description: 'Number of findings per severity.',
  fields: (t) => ({
    total: t.int({ resolve: ({ counts }) => Object.values(counts).reduce((sum, count) => sum + (count ?? 0), 0) }),
    critical: t.int({ resolve: ({ counts }) => counts.CRITICAL ?? 0 }),
    high: t.int({ resolve: ({ counts }) => counts.HIGH ?? 0 }),
    medium: t.int({ resolve: ({ counts }) => counts.MEDIUM ?? 0 }),
    low: t.int({ resolve: ({ counts }) => counts.LOW ?? 0 }),
    negligible: t.int({ resolve: ({ counts }) => counts.NEGLIGIBLE ?? 0 }),
    unknown: t.int({ resolve: ({ counts }) => counts.UNKNOWN ?? 0 }),
  }),
});

const SummaryRef = builder.objectRef<Image>('FindingSummary').implement({
  description: "Counts of the current scan's findings by layer origin and severity.",
  fields: (t) => {
    const byOrigin = (image: Image, origin: 'BASE' | 'APPLICATION' | 'UNKNOWN') => ({ counts: image.scan?.counts[origin] ?? {} });

    return {
      total: t.int({ resolve: (image) => image.scan?.findingCount ?? 0 }),
      all: t.field({
        type: SeverityCountsRef,
        resolve: (image) => {
          const counts: Partial<Record<Severity, number>> = {};
          for (const origin of ['BASE', 'APPLICATION', 'UNKNOWN'] as const) {
            for (const [severity, count] of Object.entries(image.scan?.counts[origin] ?? {})) {
              counts[severity as Severity] = (counts[severity as Severity] ?? 0) + (count ?? 0);
            }
          }
          return { counts };
        },
      }),
      base: t.field({ type: SeverityCountsRef, resolve: (image) => byOrigin(image, 'BASE') }),
      application: t.field({ type: SeverityCountsRef, resolve: (image) => byOrigin(image, 'APPLICATION') }),
      unknown: t.field({ type: SeverityCountsRef, resolve: (image) => byOrigin(image, 'UNKNOWN') }),
    };
  },
});

const ScanRef = builder.objectRef<NonNullable<Image['scan']>>('Scan').implement({
  description: "The scan report whose findings are the image's current findings.",
  fields: (t) => ({
    id: t.exposeString('id'),
    format: t.exposeString('format'),
    scanner: t.exposeString('scanner'),
    scannerVersion: t.exposeString('scannerVersion', { nullable: true }),
    importedAt: t.field({ type: 'DateTime', resolve: (scan) => scan.importedAt }),
  }),
});

const FindingOrderEnum = builder.enumType('FindingOrder', { values: ['SEVERITY', 'RISK'] as const });

export const ImageRef = builder.objectRef<Image>('Image').implement({
  description: 'A container image: its layers, base image and current findings.',
  fields: (t) => ({
    digest: t.string({
      nullable: true,
      description: 'Manifest digest, as a registry names the image; null while only the image ID is known.',
      resolve: (image) => image.digest,
    }),
    imageId: t.string({ nullable: true, description: 'Config digest, which Docker and most scanners call the image ID.', resolve: (image) => image.imageId }),
    repository: t.string({ nullable: true, resolve: (image) => image.repository }),
    tags: t.exposeStringList('tags'),
    pushedAt: t.field({ type: 'DateTime', nullable: true, resolve: (image) => image.pushedAt }),
    platform: t.field({ type: PlatformRef, nullable: true, resolve: (image) => image.platform }),
    entrypoint: t.stringList({ nullable: true, resolve: (image) => image.entrypoint }),
    cmd: t.stringList({ nullable: true, resolve: (image) => image.cmd }),
    labels: t.field({ type: 'JSON', resolve: (image) => image.labels }),
    annotations: t.field({ type: 'JSON', resolve: (image) => image.annotations }),
    baseImage: t.field({ type: BaseImageRef, nullable: true, resolve: (image) => image.baseImage }),
    layers: t.field({ type: [LayerRef], resolve: (image) => image.layers }),
    scan: t.field({ type: ScanRef, nullable: true, resolve: (image) => image.scan }),
    summary: t.field({ type: SummaryRef, resolve: (image) => image }),
    findings: t.connection({
      type: FindingRef,
      description: 'Findings of the current scan, most severe first.',
      args: {
        filter: t.arg({ type: FindingFilterInput, required: false }),
        orderBy: t.arg({ type: FindingOrderEnum, required: false, description: 'SEVERITY (default): most severe first. RISK: actionable first, then by risk score.' }),
      },
      resolve: async (image, args, context) => {
        const filter = validateFindingFilter(args.filter ?? {}, context.clock.now());
        if (args.orderBy === 'RISK') return findingsByRisk(image, filter, forwardPage(args), context);

        const page = await context.store.listFindings(image, filter, forwardPage(args));
        return toConnection(page, (finding) => ({ finding, image }));
      },
    }),
  }),
});

builder.queryFields((t) => ({
  image: t.field({
    type: ImageRef,
    nullable: true,
    description: 'An image by its manifest digest or its image ID; null when Stratum has no such image.',
    args: { digest: t.arg.string({ required: true }) },
    resolve: async (_root, args, context) => context.store.getImage(parseDigest(args.digest, 'digest')),
  }),
  images: t.connection({
    type: ImageRef,
    description: 'Images of a repository, most recently pushed first.',
    args: { repository: t.arg.string({ required: true }) },
    resolve: async (_root, args, context) => {
      const page = await context.store.listImages(args.repository, forwardPage(args));
      return toConnection(page, (image) => image);
    },
  }),
}));
