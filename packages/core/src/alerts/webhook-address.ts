import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';

/** The environment variable that lets webhooks reach private, loopback and link-local addresses. */
export const ALLOW_PRIVATE_WEBHOOKS = 'STRATUM_ALLOW_PRIVATE_WEBHOOKS';

/**
 * Addresses a tenant's webhook must not reach on a shared deployment: loopback, the private
 * ranges of RFC 1918 and RFC 4193, link-local (169.254.0.0/16 contains the AWS instance metadata
 * service), carrier-grade NAT, and the unspecified addresses.
 */
const PRIVATE_RANGES = (() => {
  const list = new BlockList();
  list.addSubnet('0.0.0.0', 8, 'ipv4');
  list.addSubnet('10.0.0.0', 8, 'ipv4');
  list.addSubnet('100.64.0.0', 10, 'ipv4');
  list.addSubnet('127.0.0.0', 8, 'ipv4');
  list.addSubnet('169.254.0.0', 16, 'ipv4');
  list.addSubnet('172.16.0.0', 12, 'ipv4');
  list.addSubnet('192.168.0.0', 16, 'ipv4');
  list.addAddress('::', 'ipv6');
  list.addAddress('::1', 'ipv6');
  list.addSubnet('fc00::', 7, 'ipv6');
  list.addSubnet('fe80::', 10, 'ipv6');
  return list;
})();

/** Returns true when an IP address is loopback, private, link-local or otherwise internal, IPv4-mapped IPv6 included. */
export function isPrivateAddress(address: string): boolean {
  const bare = address.replace(/^\[|\]$/g, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare);
  if (mapped) return PRIVATE_RANGES.check(mapped[1]!, 'ipv4');

  const family = isIP(bare);
  if (family === 4) return PRIVATE_RANGES.check(bare, 'ipv4');
  if (family === 6) return PRIVATE_RANGES.check(bare, 'ipv6');
  return false;
}

/** Reads the setting. The local server turns it on unless it is set, and every other deployment leaves it off. */
export function privateWebhooksAllowed(env: NodeJS.ProcessEnv = process.env): boolean {
  return env[ALLOW_PRIVATE_WEBHOOKS] === 'true';
}

/** Formats the error for a webhook host that is or resolves to an internal address. */
export function privateAddressMessage(host: string, address: string): string {
  const resolved = host.replace(/^\[|\]$/g, '') === address ? 'is' : `resolves to ${address}, which is`;
  return `Webhook host ${host} ${resolved} a private, loopback or link-local address; use a public host, or set ${ALLOW_PRIVATE_WEBHOOKS}=true to allow internal receivers`;
}

/** Thrown when a webhook host is or resolves to an internal address and the setting does not allow it. */
export class PrivateAddressError extends Error {
  override readonly name = 'PrivateAddressError';
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;
type LookupFunction = (hostname: string, options: { all: true }, callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => void;

/**
 * Builds a `lookup` for node:net and node:http that resolves a host and checks every address it
 * resolves to. It returns only checked addresses, so the connection goes to an address that passed
 * the check and a second DNS answer cannot swap it.
 */
export function checkedLookup(allowPrivate: () => boolean, resolve: LookupFunction = dnsLookup as unknown as LookupFunction) {
  return (hostname: string, options: { all?: boolean; family?: number | string }, callback: LookupCallback): void => {
    resolve(hostname, { all: true }, (error, addresses) => {
      if (error) return callback(error, []);

      const matching = addresses.filter((entry) => !options.family || options.family === entry.family || options.family === `IPv${entry.family}`);
      if (matching.length === 0) return callback(Object.assign(new Error(`No address found for webhook host ${hostname}`), { code: 'ENOTFOUND' }), []);
      if (!allowPrivate()) {
        const internal = addresses.find((entry) => isPrivateAddress(entry.address));
        if (internal) return callback(new PrivateAddressError(privateAddressMessage(hostname, internal.address)), []);
      }

      if (options.all) return callback(null, matching);
      return callback(null, matching[0]!.address, matching[0]!.family);
    });
  };
}
