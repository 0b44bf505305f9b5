// The drill report as Markdown: the runbook's "Rollback Test Checklist" (seed 002) first, filled in
// from the drill's measurements, then the numbers behind each line and what the drill did.
import { type ChecklistResult, type DrillReport, drillChecklist } from './drill-report.ts';

const iso = (at: number) => new Date(at).toISOString();
const ms = (n: number | null | undefined) => (n == null ? '-' : `${Math.round(n)} ms`);
/** Keeps text from breaking a table row. */
const cell = (text: string) => text.replace(/\r?\n/g, ' ').replace(/\|/g, '\\|');
const MARK: Record<ChecklistResult, string> = {
  pass: 'PASS',
  fail: 'FAIL',
  'not applicable': 'n/a',
  'not reached': 'not reached',
};

export function renderDrillMarkdown(r: DrillReport): string {
  const out: string[] = [
    `# Rollback drill ${r.id}: ${r.app} ${r.status === 'Running' ? 'in progress' : r.status.toUpperCase()}`,
    '',
    `- **App**: ${r.app}, ${r.strategy}; stable ${r.stable.version} (revision ${r.stable.revision})`,
    `- **Version drilled**: ${r.version}${r.version === r.stable.version ? ' (the stable version, deployed onto itself)' : ''}`,
    `- **Started**: ${iso(r.startedAt)} by ${r.by ?? 'rewind'} (${r.trigger === 'schedule' ? 'drills.every in rewind.yaml' : 'API'})`,
    `- **Finished**: ${r.finishedAt === null ? 'not yet' : iso(r.finishedAt)}`,
    `- **Rolled back**: ${r.rollbackPoint}`,
    '- **Incidents**: none (a drill opens no incident; its notifications and events say "drill")',
    '',
    '## Rollback Test Checklist',
    '',
    '| Test | Result | Measured |',
    '|------|--------|----------|',
    ...drillChecklist(r).map((l) => `| **${l.test}** | ${MARK[l.result]} | ${cell(l.detail)} |`),
    '',
  ];
  if (r.failures.length) out.push('## Why it failed', '', ...r.failures.map((f) => `- ${f}`), '');
  out.push('## Phases', '', '| Phase | Time | Share |', '|-------|------|-------|');
  const total = r.phases.reduce((sum, p) => sum + p.ms, 0);
  for (const p of r.phases)
    out.push(`| ${p.name} | ${ms(p.ms)} | ${total > 0 ? `${Math.round((p.ms / total) * 100)}%` : '-'} |`);
  out.push('');
  if (r.verification) {
    out.push('## Verification of the restored revision', '');
    for (const c of r.verification.checks)
      out.push(`- [${c.passed ? 'x' : ' '}] ${c.name}${c.notChecked ? ' (not checked)' : ''}: ${c.detail}`);
    out.push('');
  }
  if (r.database?.applies) {
    out.push(
      '## Database',
      '',
      `- Applied by the drill's deploy: ${r.database.applied.join(', ') || 'none'}`,
      `- Undone by its rollback: ${r.database.undone.join(', ') || 'none'}`,
      ...r.database.failures.map((f) => `- ${f}`),
      '',
    );
  }
  if (r.partialRollbacks.length) {
    out.push('## Partial rollbacks (kill-switch flags)', '', '| Flag | Rule | Off | On again | Result |');
    out.push('|------|------|-----|----------|--------|');
    for (const p of r.partialRollbacks)
      out.push(
        `| ${p.flag} | ${p.rule} | ${ms(p.offMs)} | ${ms(p.onMs)} | ${p.skipped ? `not rehearsed: ${cell(p.skipped)}` : p.passed ? 'PASS' : `FAIL: ${cell(p.checks.find((c) => !c.passed)?.detail ?? '')}`} |`,
      );
    out.push('');
  }
  if (r.previous.length) {
    out.push(
      '## Previous drills',
      '',
      '| Drill | At | Traffic restored |',
      '|-------|----|------------------|',
    );
    for (const p of r.previous) out.push(`| ${p.id} | ${iso(p.at)} | ${ms(p.msToTrafficRestored)} |`);
    out.push('');
  }
  out.push('## Progress', '', ...r.progress.map((p) => `- ${iso(p.at).slice(11, 23)} ${p.message}`), '');
  return out.join('\n');
}
