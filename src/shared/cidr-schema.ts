// A CIDR (or a single address) in config and API bodies, checked with the proxy's own parser.
import { z } from 'zod';
import { parseCidr } from '../providers/builtin/proxy/trusted-sources.ts';

export const cidrSchema = z.string().superRefine((value, ctx) => {
  const c = parseCidr(value);
  if (typeof c === 'string') ctx.addIssue({ code: 'custom', message: c });
});
