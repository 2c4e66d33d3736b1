import { FINDING_STATES, VEX_STATUSES, type Finding, type Image, type Layer } from '@stratum/core';

import { builder } from '../builder.ts';
import { LayerOriginEnum, ReachabilityEnum, SeverityEnum } from './enums.ts';
import { LayerRef } from './layer.ts';

/** A finding together with its image, so that fields such as `layer` resolve without another read. */
export interface FindingView {
  finding: Finding;
  image: Image;
}

const CvssRef = builder.objectRef<NonNullable<Finding['cvss']>>('Cvss').implement({
  description: 'The CVSS score chosen for the finding and where it comes from.',
  fields: (t) => ({
    score: t.exposeFloat('score'),
    vector: t.exposeString('vector', { nullable: true }),
    version: t.exposeString('version', { nullable: true }),
    source: t.exposeString('source', { nullable: true, description: 'Who scored it, for example nvd or redhat.' }),
  }),
});

const PackageRef = builder.objectRef<Finding['package']>('Package').implement({
  description: 'The package a finding is in.',
  fields: (t) => ({
    name: t.exposeString('name'),
    version: t.exposeString('version'),
    type: t.exposeString('type', { description: 'Ecosystem, for example apk, deb, rpm, npm, pypi, maven.' }),
    purl: t.exposeString('purl', { nullable: true }),
    path: t.exposeString('path', { nullable: true, description: 'File the package was found in, for language packages.' }),
  }),
});

export const FindingRef = builder.objectRef<FindingView>('Finding').implement({
  description: 'One vulnerability in one package of one image, as the current scan reports it.',
  fields: (t) => ({
    id: t.string({ resolve: ({ finding }) => finding.id }),
    vulnerabilityId: t.string({ resolve: ({ finding }) => finding.vulnerabilityId }),
    aliases: t.stringList({ resolve: ({ finding }) => finding.aliases }),
    severity: t.field({ type: SeverityEnum, resolve: ({ finding }) => finding.severity }),
    cvssScore: t.float({ nullable: true, resolve: ({ finding }) => finding.cvss?.score }),
    cvss: t.field({ type: CvssRef, nullable: true, resolve: ({ finding }) => finding.cvss }),
    title: t.string({ nullable: true, resolve: ({ finding }) => finding.title }),
    description: t.string({ nullable: true, resolve: ({ finding }) => finding.description }),
    fixedVersion: t.string({ nullable: true, resolve: ({ finding }) => finding.fixedVersion }),
    package: t.field({ type: PackageRef, resolve: ({ finding }) => finding.package }),
    layer: t.field({
      type: LayerRef,
      nullable: true,
      description: 'The layer that introduced the package; null when the report named no layer, or one the image does not have.',
      resolve: ({ finding, image }): Layer | undefined => (finding.layerIndex === undefined ? undefined : image.layers[finding.layerIndex]),
    }),
    origin: t.field({ type: LayerOriginEnum, resolve: ({ finding }) => finding.origin }),
    dataSource: t.string({ nullable: true, resolve: ({ finding }) => finding.dataSource }),
    primaryUrl: t.string({ nullable: true, resolve: ({ finding }) => finding.primaryUrl }),
    imageDigest: t.string({ description: "The image's manifest digest, or its image ID while the manifest digest is unknown.", resolve: ({ image }) => image.digest ?? image.key }),
  }),
});

const FindingStateEnum = builder.enumType('FindingState', { values: FINDING_STATES });

const VexStatusFilterEnum = builder.enumType('VexStatusFilter', { values: [...VEX_STATUSES, 'NONE'] as const });

export const FindingFilterInput = builder.inputType('FindingFilter', {
  description: 'Filters on findings; all given conditions must hold.',
  fields: (t) => ({
    origin: t.field({ type: LayerOriginEnum, required: false }),
    severity: t.field({ type: [SeverityEnum], required: false, description: 'Any of these severities.' }),
    vulnerabilityId: t.string({ required: false, description: 'A vulnerability id such as CVE-2021-44228 or GHSA-jfh8-c2jp-5v3q.' }),
    packageName: t.string({ required: false }),
    vexStatus: t.field({ type: [VexStatusFilterEnum], required: false, description: 'Any of these VEX statuses; NONE matches findings that no statement decides.' }),
    state: t.field({ type: [FindingStateEnum], required: false, description: 'OPEN: neither suppressed nor fixed. SUPPRESSED: under an unexpired suppression. FIXED: VEX states fixed.' }),
    actionable: t.boolean({ required: false, description: 'Only findings that are (true) or are not (false) actionable.' }),
    reachability: t.field({ type: [ReachabilityEnum], required: false, description: 'Any of these reachability statuses; UNKNOWN also matches findings no analysis has reached.' }),
  }),
});
