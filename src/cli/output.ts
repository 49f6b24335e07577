/** How a command reports: a table or lines for people, one JSON document with `--json`. */
export interface OutputOptions {
  json?: boolean;
}

function cellText(value: unknown): string {
  if (value === null || value === undefined) return '-';
  if (Array.isArray(value)) return value.join(' ');
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

export function printTable<T extends object>(rows: readonly T[], columns: readonly (keyof T & string)[]): void {
  if (rows.length === 0) {
    process.stdout.write('(none)\n');
    return;
  }
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cellText(r[c]).length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd() + '\n';
  process.stdout.write(line(columns.map((c) => c.toUpperCase())));
  for (const row of rows) process.stdout.write(line(columns.map((c) => cellText(row[c]))));
}

export function printRecord(record: object): void {
  const entries = Object.entries(record);
  const width = Math.max(...entries.map(([k]) => k.length));
  for (const [key, value] of entries) process.stdout.write(`${key.padEnd(width)}  ${cellText(value)}\n`);
}

export function emit<T>(opts: OutputOptions, value: T, human: (value: T) => void): void {
  if (opts.json) process.stdout.write(JSON.stringify(value, null, 2) + '\n');
  else human(value);
}
