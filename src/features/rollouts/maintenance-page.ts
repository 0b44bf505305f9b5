// What the proxy answers while an app is in maintenance, as its traffic plan carries it; and the
// page when nobody gave one: it names the app, says when to come back, and reloads itself then.
// One self-contained HTML document: no script, no external asset.
import type { PlannedMaintenance } from '../../providers/traffic-router.ts';
import type { MaintenanceState } from '../../spec/maintenance.ts';

/** The plan's part: the page and Retry-After, while maintenance is on. */
export function plannedMaintenance(
  app: string,
  state: MaintenanceState | null,
): PlannedMaintenance | undefined {
  if (state === null) return undefined;
  const { retryAfterSeconds } = state;
  return { retryAfterSeconds, page: state.page ?? defaultMaintenancePage(app, retryAfterSeconds) };
}

const ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** "1 minute", "90 seconds", "2 hours": how long Retry-After asks to wait, for people. */
export function waitWords(seconds: number): string {
  const unit = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  if (seconds % 3600 === 0) return unit(seconds / 3600, 'hour');
  if (seconds % 60 === 0) return unit(seconds / 60, 'minute');
  return unit(seconds, 'second');
}

export function defaultMaintenancePage(app: string, retryAfterSeconds: number): string {
  const name = escapeHtml(app);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="${retryAfterSeconds}">
<title>${name}: down for maintenance</title>
<style>
body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f6f7f9;color:#1f2328}
main{max-width:34rem;padding:2rem;text-align:center}
h1{font-size:1.5rem;margin:0 0 .75rem}
p{line-height:1.5;margin:.5rem 0;color:#57606a}
@media (prefers-color-scheme:dark){body{background:#0d1117;color:#e6edf3}p{color:#8d96a0}}
</style>
</head>
<body>
<main>
<h1>${name} is down for maintenance</h1>
<p>We are working on it and will be back shortly.</p>
<p>This page tries again in ${waitWords(retryAfterSeconds)}.</p>
</main>
</body>
</html>
`;
}
