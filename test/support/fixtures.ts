import { readFileSync } from 'node:fs';

const root = new URL('../fixtures/', import.meta.url);

/** Reads a JSON fixture under test/fixtures, for example `reports/trivy/trivy-golden-alpine-310.json`. */
export function readFixture<T = unknown>(path: string): T {
  return JSON.parse(readFileSync(new URL(path, root), 'utf8')) as T;
}

export function readFixtureText(path: string): string {
  return readFileSync(new URL(path, root), 'utf8');
}
