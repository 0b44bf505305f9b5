// Roles of API tokens, weakest first. Each role can do everything the ones before it can.
import { z } from 'zod';

export const ROLES = ['viewer', 'deployer', 'admin'] as const;

export type Role = (typeof ROLES)[number];

export const roleSchema = z.enum(ROLES);

/** Whether `held` is `needed` or stronger. */
export function roleAtLeast(held: Role, needed: Role): boolean {
  return ROLES.indexOf(held) >= ROLES.indexOf(needed);
}

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}
