import * as core from './runner.js';

/** Sets every output and echoes it to the log, so a terminal run shows what a step hands on. */
export function setOutputs(outputs: Record<string, string | number | boolean | undefined>): void {
  for (const [name, value] of Object.entries(outputs)) {
    if (value === undefined) continue;
    core.setOutput(name, String(value));
  }
}

export interface SummaryTable {
  headers: string[];
  rows: Array<Array<string | number>>;
}

/**
 * Appends a heading, optional key/value facts and tables to the job summary. Outside a runner
 * (no GITHUB_STEP_SUMMARY) it prints the same content to the log instead.
 */
export async function writeSummary(
  heading: string,
  facts: Array<[string, string]>,
  tables: Array<{ title?: string } & SummaryTable> = [],
): Promise<void> {
  if (!process.env.GITHUB_STEP_SUMMARY) {
    core.info(`== ${heading}`);
    for (const [key, value] of facts) core.info(`${key}: ${value}`);
    for (const table of tables) {
      if (table.title) core.info(`-- ${table.title}`);
      core.info(table.headers.join(' | '));
      for (const row of table.rows) core.info(row.join(' | '));
    }
    return;
  }
  const summary = core.summary.addHeading(heading, 3);
  if (facts.length > 0) {
    summary.addTable(
      facts.map(([key, value]) => [{ data: escapeHtml(key), header: true }, escapeHtml(value)]),
    );
  }
  for (const table of tables) {
    if (table.title) summary.addHeading(table.title, 4);
    summary.addTable([
      table.headers.map((header) => ({ data: escapeHtml(header), header: true })),
      ...table.rows.map((row) => row.map((cell) => escapeHtml(String(cell)))),
    ]);
  }
  await summary.write();
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
