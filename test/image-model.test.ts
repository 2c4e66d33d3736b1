import { describe, expect, it } from 'vitest';

import {
  alignHistory,
  applyOrigins,
  buildLayers,
  chainIds,
  detectBaseImage,
  InvalidInputError,
  parseImageConfig,
  parseManifest,
  parseManifestDocument,
  selectPlatform,
  sha256,
  trivyImporter,
  type Layer,
} from '@stratum/core';

import { readFixture, readFixtureText } from './support/fixtures.ts';

const defectdojoConfig = () => parseImageConfig(readFixture('images/defectdojo-django-1.13.1.config.json'));
const defectdojoManifest = () => parseManifest(readFixture('images/defectdojo-django-1.13.1.manifest.v2s2.json'));

describe('image manifest and config', () => {
  it('fixture digests match the image', () => {
    const manifestText = readFixtureText('images/defectdojo-django-1.13.1.manifest.v2s2.json');
    const configText = readFixtureText('images/defectdojo-django-1.13.1.config.json');

    expect(sha256(manifestText)).toBe('sha256:91bc0f1478c6d26e04da5c2a59ac20262ec2661942418e2a3e7c77245d872658');
    expect(sha256(configText)).toBe(defectdojoManifest().config.digest);
  });

  it('maps layer digests to diff_ids in order', () => {
    const manifest = parseManifest(readFixture('images/xjoin-kafka-connect-strimzi-rhel8.manifest.v2s2.json'));
    const config = parseImageConfig(readFixture('images/xjoin-kafka-connect-strimzi-rhel8.config.json'));
    const layers = buildLayers({ manifest, config });

    expect(layers).toHaveLength(18);
    expect(layers.map((layer) => layer.digest)).toEqual(manifest.layers.map((layer) => layer.digest));
    expect(layers.map((layer) => layer.diffId)).toEqual(config.rootfs.diff_ids);
    expect(layers[2]!.createdBy).toBe('RUN /bin/sh -c mkdir -p ${CONNECT_PLUGIN_PATH} # buildkit');
  });

  it('maps compressed digests from a report', () => {
    const report = trivyImporter.parse(readFixture('reports/trivy/trivy-golden-distroless-python27.json'));
    const layers = buildLayers({ diffIds: report.image.diffIds, layerDigests: report.image.layerDigests, config: report.image.config });

    expect(layers).toHaveLength(4);
    expect(layers[1]!.diffId).toBe('sha256:dffd9992ca398466a663c87c92cfea2a2db0ae0cf33fcb99da60eec52addbfc5');
    expect(layers[1]!.digest).toBe(report.findings[0]!.layer?.digest);
    expect(layers[1]!.digest).not.toBe(layers[1]!.diffId);
  });

  it('aligns history to non-empty layers', () => {
    const aligned = alignHistory(defectdojoConfig());

    expect(aligned).toHaveLength(18);
    expect(aligned[5]?.createdBy).toBe('WORKDIR /app');
    expect(aligned[4]?.precedingInstructions).toContain('/bin/sh -c #(nop)  ENV PYTHON_GET_PIP_SHA256=6e0bb0a2c2533361d7f297ed547237caf1b7507f197835974c0dd7eba998c53c');
  });

  it('rejects layer count mismatch', () => {
    const manifest = defectdojoManifest();
    manifest.layers.pop();

    expect(() => buildLayers({ manifest, config: defectdojoConfig() })).toThrow(/17 layers but the config lists 18 diff_ids/);
  });

  it('rejects a config without rootfs', () => {
    const config = readFixture<Record<string, unknown>>('images/python-3.6-debian10.config.json');
    delete config.rootfs;

    expect(() => parseImageConfig(config)).toThrow(InvalidInputError);
    expect(() => parseImageConfig(config)).toThrow(/image config document at rootfs/);
  });

  it('picks the platform and skips attestations', () => {
    const document = parseManifestDocument(readFixture('images/buildkit-doc-index-with-attestation-manifest.json'));
    if (document.kind !== 'index') throw new Error('expected an index');

    const picked = selectPlatform(document.index);

    expect(picked.platform).toEqual({ architecture: 'amd64', os: 'linux' });
    expect(picked.annotations?.['vnd.docker.reference.type']).toBeUndefined();
  });

  it('names available platforms when none match', () => {
    const document = parseManifestDocument(readFixture('images/buildkit-doc-index-with-attestation-manifest.json'));
    if (document.kind !== 'index') throw new Error('expected an index');

    expect(() => selectPlatform(document.index, { os: 'linux', architecture: 'arm64' })).toThrow(/no manifest for platform linux\/arm64; available: linux\/amd64/);
  });

  it('computes OCI chain ids', () => {
    const diffIds = defectdojoConfig().rootfs.diff_ids;
    const chain = chainIds(diffIds);

    expect(chain[0]).toBe(diffIds[0]);
    expect(chain[1]).toBe(sha256(`${diffIds[0]} ${diffIds[1]}`));
    expect(chain).toHaveLength(18);
  });
});

describe('base image detection', () => {
  const layersOf = (configPath: string) => {
    const config = parseImageConfig(readFixture(configPath));
    return { config, layers: buildLayers({ config }) };
  };

  it.each([
    ['defectdojo-django-1.13.1', 'images/defectdojo-django-1.13.1.config.json', 5],
    ['xjoin kafka connect (Red Hat base)', 'images/xjoin-kafka-connect-strimzi-rhel8.config.json', 2],
    ['python:3.6 on buildpack-deps', 'images/python-3.6-debian10.config.json', 5],
  ])('finds the history boundary of %s', (_name, path, expected) => {
    const { config, layers } = layersOf(path);
    const base = detectBaseImage({ layers, history: config.history, annotations: {}, labels: {} });

    expect(base?.method).toBe('HISTORY');
    expect(base?.confidence).toBe('LOW');
    expect(base?.layerCount).toBe(expected);
  });

  it('prefers a layer prefix match', () => {
    const { config, layers } = layersOf('images/defectdojo-django-1.13.1.config.json');
    const base = detectBaseImage({
      layers,
      history: config.history,
      annotations: {},
      labels: {},
      prefixMatch: { key: 'k', name: 'python:3.6-slim', layerCount: 5, hardened: false },
    });

    expect(base).toMatchObject({ method: 'LAYER_PREFIX', confidence: 'HIGH', layerCount: 5, name: 'python:3.6-slim' });
  });

  it('keeps an annotated name without boundary', () => {
    const layers: Layer[] = [0, 1, 2].map((index) => ({ index, origin: 'UNKNOWN' }));
    const descriptor = readFixture<{ annotations: Record<string, string> }>('images/nginx-1.29.1-alpine-amd64.descriptor-base-annotations.json');
    const base = detectBaseImage({ layers, annotations: descriptor.annotations, labels: {} });

    expect(base?.name).toBe('nginx:1.29.1-alpine-slim');
    expect(base?.digest).toBe(descriptor.annotations['org.opencontainers.image.base.digest']);
    expect(base?.layerCount).toBeUndefined();
    expect(applyOrigins(layers, base).map((layer) => layer.origin)).toEqual(['UNKNOWN', 'UNKNOWN', 'UNKNOWN']);
  });

  it('marks hardened catalogs', () => {
    const layers: Layer[] = [0, 1, 2].map((index) => ({ index, origin: 'UNKNOWN' }));
    const base = detectBaseImage({ layers, annotations: {}, labels: {}, prefixMatch: { key: 'k', name: 'dhi/node:22', layerCount: 2, hardened: true } });

    expect(base?.hardened).toBe(true);
    expect(applyOrigins(layers, base).map((layer) => layer.origin)).toEqual(['BASE', 'BASE', 'APPLICATION']);
  });

  it('leaves reproducible builds unknown', () => {
    const time = '1970-01-01T00:00:00Z';
    const history = [0, 1, 2, 3].map(() => ({ created: time, created_by: 'bazel build ...' }));
    const layers: Layer[] = [0, 1, 2, 3].map((index) => ({ index, origin: 'UNKNOWN' }));

    expect(detectBaseImage({ layers, history, annotations: {}, labels: {} })).toBeUndefined();
  });
});
