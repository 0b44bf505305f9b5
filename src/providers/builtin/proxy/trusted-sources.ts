// Which clients may use the force header: a list of CIDRs compiled into a node:net BlockList.

import net from 'node:net';

/** Loopback: the rollout driver's own checks come from here. */
export const DEFAULT_TRUSTED_SOURCES: readonly string[] = ['127.0.0.0/8', '::1/128'];

export interface Cidr {
  readonly address: string;
  readonly prefix: number;
  readonly family: 'ipv4' | 'ipv6';
}

/** "10.0.0.0/8", "::1" (a whole address) -> Cidr, or a message saying what is wrong and how to write it. */
export function parseCidr(text: string): Cidr | string {
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  const v = net.isIP(address);
  if (v === 0)
    return `"${text}" is not an IP address or CIDR; write for example 10.0.0.0/8, 192.168.1.7 or fd00::/8`;
  const max = v === 4 ? 32 : 128;
  const prefixText = slash < 0 ? String(max) : text.slice(slash + 1);
  const prefix = Number(prefixText);
  if (!/^\d{1,3}$/.test(prefixText) || prefix > max)
    return `"${text}": the prefix length after / is 0..${max} for an IPv${v} address`;
  return { address, prefix, family: v === 4 ? 'ipv4' : 'ipv6' };
}

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
