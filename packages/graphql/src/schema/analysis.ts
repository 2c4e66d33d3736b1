import {
  InvalidInputError,
  NotFoundError,
  parseDigest,
  recordRuntimeEvidence,
  RUNTIME_EVIDENCE_LIMITS,
  type AnalysisHead,
  type AnalysisSummary,
  type FindingReachability,
  type Image,
  type LayerOrigin,
  type StoredPackage,
} from '@stratum/core';

import { builder } from '../builder.ts';
import type { GraphQLContext } from '../context.ts';
import { LayerOriginEnum, ReachabilityEnum } from './enums.ts';
import { FindingRef } from './finding.ts';
import { ImageRef } from './image.ts';
import { forwardPage, toConnection } from './paging.ts';

/** The reachability of a finding that no analysis has reached: UNKNOWN, which counts as reachable. */
const NOT_ANALYSED = { status: 'UNKNOWN', method: 'none', evidence: [] as string[], analyzedAt: undefined } as const;

const ReachabilityRef = builder.objectRef<FindingReachability | typeof NOT_ANALYSED>('Reachability').implement({
  description: 'Whether the vulnerable code can run, how that was decided, and the evidence a person can check.',
  fields: (t) => ({
    status: t.field({ type: ReachabilityEnum, resolve: (reachability) => reachability.status }),
    method: t.exposeString('method', {
      description: "The analysis that decided: for example 'elf-linkage', 'node-imports', 'python-imports', 'runtime'; 'none' when no analysis has run, 'package-match' when no installed package matched.",
    }),
    evidence: t.exposeStringList('evidence', { description: 'Chains such as `/usr/sbin/nginx → libssl.so.3 → libssl3 3.0.11-1`, or why nothing reaches the package.' }),
    analyzedAt: t.field({ type: 'DateTime', nullable: true, resolve: (reachability) => reachability.analyzedAt }),
  }),
});

builder.objectFields(FindingRef, (t) => ({
  reachability: t.field({
    type: ReachabilityRef,
    description: "From the analysis of the image's content; UNKNOWN with method 'none' until an analysis has run.",
    resolve: ({ finding }) => finding.reachability ?? NOT_ANALYSED,
  }),
}));

interface PackageView {
  pkg: StoredPackage;
  image?: Image;
}

const AnalyzedPackageRef = builder.objectRef<PackageView>('AnalyzedPackage').implement({
  description: "An installed package found in the image's content, with the layer that installed it and its reachability.",
  fields: (t) => ({
    name: t.string({ resolve: ({ pkg }) => pkg.name }),
    version: t.string({ resolve: ({ pkg }) => pkg.version }),
    type: t.string({ description: 'Ecosystem: deb, apk, rpm, npm, pypi, maven or golang.', resolve: ({ pkg }) => pkg.type }),
    purl: t.string({ resolve: ({ pkg }) => pkg.purl }),
    location: t.string({ nullable: true, description: 'For language packages, the folder or file the package lives in.', resolve: ({ pkg }) => pkg.location }),
    sourceName: t.string({ nullable: true, description: 'The source package, for OS packages that name one.', resolve: ({ pkg }) => pkg.sourceName }),
    layerIndex: t.int({ description: 'Index of the layer (0 = bottom) that installed the version present at the top.', resolve: ({ pkg }) => pkg.layerIndex }),
    origin: t.field({
      type: LayerOriginEnum,
      description: "The origin of that layer in the image record; UNKNOWN when the image's layers are not attributed.",
      resolve: ({ pkg, image }): LayerOrigin => image?.layers[pkg.layerIndex]?.origin ?? 'UNKNOWN',
    }),
    fileCount: t.int({ description: 'Files the package installed that still exist in the image.', resolve: ({ pkg }) => pkg.fileCount }),
    reachability: t.field({ type: ReachabilityRef, resolve: ({ pkg }) => pkg.reachability }),
  }),
});

interface AnalysisView {
  head: AnalysisHead;
  summary: AnalysisSummary;
  image?: Image;
}

const ReachabilityCountsRef = builder.objectRef<AnalysisSummary['counts']>('ReachabilityCounts').implement({
  fields: (t) => ({
    reachable: t.int({ resolve: (counts) => counts.REACHABLE }),
    unreachable: t.int({ resolve: (counts) => counts.UNREACHABLE }),
    unknown: t.int({ resolve: (counts) => counts.UNKNOWN }),
  }),
});

const ImageAnalysisRef = builder.objectRef<AnalysisView>('ImageAnalysis').implement({
  description: "The analysis of an image's content: its installed packages and whether each can run from the entrypoint.",
  fields: (t) => ({
    imageDigest: t.string({ description: 'Manifest digest of the analysed image, or its image ID when it had no manifest.', resolve: ({ summary }) => summary.imageDigest }),
    imageId: t.string({ nullable: true, resolve: ({ summary }) => summary.imageId }),
    analyzedAt: t.field({ type: 'DateTime', resolve: ({ summary }) => summary.analyzedAt }),
    version: t.string({ description: 'Changes whenever the stored analysis changes, for example after runtime evidence.', resolve: ({ summary }) => summary.version }),
    entrypoint: t.stringList({ description: 'Entrypoint followed by Cmd, as the config states them.', resolve: ({ summary }) => summary.entrypoint }),
    layerCount: t.int({ resolve: ({ summary }) => summary.layers.length }),
    packageCount: t.int({ resolve: ({ summary }) => summary.counts.REACHABLE + summary.counts.UNREACHABLE + summary.counts.UNKNOWN }),
    counts: t.field({ type: ReachabilityCountsRef, description: 'Packages per reachability status.', resolve: ({ summary }) => summary.counts }),
    warnings: t.stringList({ description: 'What a person should know: a skipped oversized file, an unreadable database, a dynamic require.', resolve: ({ summary }) => summary.warnings }),
    packages: t.connection({
      type: AnalyzedPackageRef,
      description: 'Installed packages, in the order the analysis listed them.',
      resolve: async ({ head, image }, args, context) => toConnection(await context.store.analysis.listPackages(head, forwardPage(args)), (pkg) => ({ pkg, image })),
    }),
  }),
});

/** Reads the current analysis of the first of the digests that has one, with the image record its layer origins come from. */
async function analysisView(context: GraphQLContext, digests: string[], image?: Image): Promise<AnalysisView | null> {
  const head = await context.store.analysis.findHead(digests);
  if (!head) return null;

  const summary = await context.store.analysis.getSummary(head);
  if (!summary) return null;
  return { head, summary, image: image ?? (await context.store.getImage(head.imageDigest)) };
}

builder.objectFields(ImageRef, (t) => ({
  analysis: t.field({
    type: ImageAnalysisRef,
    nullable: true,
    description: "The current analysis of the image's content; null until one has run.",
    resolve: (image, _args, context) => analysisView(context, [image.digest, image.key, image.imageId].filter((digest): digest is string => Boolean(digest)), image),
  }),
}));

builder.queryFields((t) => ({
  imageAnalysis: t.field({
    type: ImageAnalysisRef,
    nullable: true,
    description: 'The current content analysis of an image by manifest digest or image ID; null when none has run.',
    args: { imageDigest: t.arg.string({ required: true }) },
    resolve: (_root, args, context) => analysisView(context, [parseDigest(args.imageDigest, 'imageDigest')]),
  }),
}));

const RuntimeEvidenceResultRef = builder.objectRef<{ view: AnalysisView; packagesChanged: number; findingsUpdated: number; observationId: string }>('RuntimeEvidenceResult').implement({
  fields: (t) => ({
    analysis: t.field({ type: ImageAnalysisRef, resolve: (result) => result.view }),
    packagesChanged: t.exposeInt('packagesChanged', { description: 'Packages whose verdict the evidence changed.' }),
    findingsUpdated: t.exposeInt('findingsUpdated', { description: "Current findings of the image whose reachability changed." }),
    observationId: t.exposeString('observationId', { description: 'Id of the stored observation.' }),
  }),
});

const AnalyzeImageResultRef = builder.objectRef<{ imageDigest: string; queued: boolean; message: string }>('AnalyzeImageResult').implement({
  fields: (t) => ({
    imageDigest: t.exposeString('imageDigest'),
    queued: t.exposeBoolean('queued'),
    message: t.exposeString('message'),
  }),
});

builder.mutationFields((t) => ({
  recordRuntimeEvidence: t.field({
    type: RuntimeEvidenceResultRef,
    description: `Records files and packages observed loaded in a running container of an image, from an eBPF agent or a profiler. Their packages become REACHABLE with method 'runtime', whatever the static analysis decided, and the image's findings follow. At most ${RUNTIME_EVIDENCE_LIMITS.files} files and ${RUNTIME_EVIDENCE_LIMITS.packages} packages per call; files are absolute paths inside the image.`,
    args: {
      imageDigest: t.arg.string({ required: true }),
      files: t.arg.stringList({ required: false, description: 'Absolute paths inside the image, for example /usr/lib/x86_64-linux-gnu/libssl.so.3.' }),
      packages: t.arg.stringList({ required: false, description: 'Package names or purls, for example libssl3 or pkg:npm/lodash@4.17.20.' }),
      source: t.arg.string({ required: true, description: 'What observed the use, for example the agent and its version.' }),
    },
    resolve: async (_root, args, context) => {
      const digest = parseDigest(args.imageDigest, 'imageDigest');
      const result = await recordRuntimeEvidence(
        { store: context.store, clock: context.clock, logger: context.logger, actor: context.actor },
        digest,
        { files: args.files ?? [], packages: args.packages ?? [], source: args.source },
      );

      const { packages: _packages, ...summary } = result.analysis;
      const head: AnalysisHead = { imageDigest: summary.imageDigest, version: summary.version, analyzedAt: summary.analyzedAt };
      return { view: { head, summary, image: await context.store.getImage(summary.imageDigest) }, packagesChanged: result.packagesChanged, findingsUpdated: result.findingsUpdated, observationId: result.observation.id };
    },
  }),
  analyzeImage: t.field({
    type: AnalyzeImageResultRef,
    description: "Queues an analysis of the image's content, read from its registry. The result shows in imageAnalysis and on the image's findings once it has run.",
    args: { imageDigest: t.arg.string({ required: true }) },
    resolve: async (_root, args, context) => {
      const digest = parseDigest(args.imageDigest, 'imageDigest');
      const image = await context.store.getImage(digest);
      if (!image) throw new NotFoundError('Image', digest, 'push the image or ingest a report for it first');
      if (!image.digest || !image.repository) {
        throw new InvalidInputError(`Image ${digest} has no manifest digest or repository on record, so it cannot be read from a registry; analyse a local copy with npm run analyze -- PATH`, { path: 'imageDigest', value: digest });
      }
      if (!context.requestAnalysis) {
        throw new InvalidInputError('No analysis queue is configured here: deploy the analysis stack, set STRATUM_REGISTRY_URL for the local server, or analyse a local copy with npm run analyze -- PATH', { path: 'imageDigest', value: digest });
      }

      await context.requestAnalysis({ tenant: context.tenant, repository: image.repository, imageDigest: image.digest, requestedAt: context.clock.now().toISOString(), requestedBy: context.actor });
      context.logger.info('queued image analysis', { tenant: context.tenant, imageDigest: image.digest, repository: image.repository, actor: context.actor, requestId: context.requestId });
      return { imageDigest: image.digest, queued: true, message: 'Analysis queued; query imageAnalysis for the result.' };
    },
  }),
}));

export { ImageAnalysisRef, ReachabilityRef };
