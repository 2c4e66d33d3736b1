/** Package type of an operating system's packages, from the distribution family a scanner reports. */
const OS_PACKAGE_TYPES: Record<string, string> = {
  alpine: 'apk',
  wolfi: 'apk',
  chainguard: 'apk',
  minimos: 'apk',
  debian: 'deb',
  ubuntu: 'deb',
  distroless: 'deb',
  redhat: 'rpm',
  rhel: 'rpm',
  centos: 'rpm',
  rocky: 'rpm',
  alma: 'rpm',
  almalinux: 'rpm',
  amazon: 'rpm',
  oracle: 'rpm',
  fedora: 'rpm',
  photon: 'rpm',
  'cbl-mariner': 'rpm',
  azurelinux: 'rpm',
  suse: 'rpm',
  opensuse: 'rpm',
  'opensuse.leap': 'rpm',
  'opensuse.tumbleweed': 'rpm',
  sles: 'rpm',
};

export function osPackageType(family: string | undefined): string | undefined {
  if (!family) return undefined;
  return OS_PACKAGE_TYPES[family.toLowerCase()];
}

/** Returns the package type of a purl (`pkg:<type>/…`), the most reliable type when a scanner gives a purl. */
export function purlType(purl: string | undefined): string | undefined {
  const match = purl ? /^pkg:([a-zA-Z][a-zA-Z0-9.+-]*)\//.exec(purl) : null;
  if (!match) return undefined;
  // Older scanners, and Trivy for CBL-Mariner, name the distribution as the purl type (pkg:alpine/…).
  const type = match[1]!.toLowerCase();
  return osPackageType(type) ?? type;
}
