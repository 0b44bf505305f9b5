// Which clients may use the force header: a list of CIDRs compiled into a node:net BlockList.

import net from 'node:net';
import { parseCidr } from '../../../shared/cidr.ts';
import { DEFAULT_TRUSTED_SOURCES } from '../../../spec/proxy-spec.ts';

export { DEFAULT_TRUSTED_SOURCES };

/** A predicate over client addresses (as net.Socket reports them, ::ffff: prefix already removed). */
export function trustedMatcher(cidrs: readonly string[]): (ip: string) => boolean {
  const list = new net.BlockList();
  for (const text of cidrs) {
    const c = parseCidr(text);
    if (typeof c === 'string') throw new Error(`trustedSources: ${c}`);
    list.addSubnet(c.address, c.prefix, c.family);
  }
  return (ip) => {
    const v = net.isIP(ip);
    return v !== 0 && list.check(ip, v === 4 ? 'ipv4' : 'ipv6');
  };
}
