// The environment Rewind hands to processes it starts (the agent, app instances, checks, hooks):
// its own, minus every REWIND_* variable. The server's settings (REWIND_SECRETS_KEY,
// REWIND_DATABASE_URL with its password...) stay in the server; an app gets the REWIND_* values
// meant for it (REWIND_APP, REWIND_OFREP_URL...) from its instance spec instead.

export function childEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(env)) if (!key.startsWith('REWIND_')) out[key] = value;
  return out;
}
