/** Prints rows as a fixed-width text table with the first row as header, numbers aligned right. */
export function printTable(rows: ReadonlyArray<ReadonlyArray<string | number>>): void {
  const cells = rows.map((row) => row.map(String));
  const widths = cells[0]!.map((_, column) => Math.max(...cells.map((row) => row[column]?.length ?? 0)));
  const numeric = (value: string) => /^[\d.,-]+( ?[a-zA-Z%×]+)?$/.test(value);

  const line = (row: string[]) => row.map((cell, column) => (numeric(cell) && column > 0 ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!))).join('  ').trimEnd();

  console.log(line(cells[0]!));
  console.log(widths.map((width) => '-'.repeat(width)).join('  '));
  for (const row of cells.slice(1)) console.log(line(row));
}

export const ms = (value: number) => `${value.toFixed(value < 10 ? 2 : 1)} ms`;
export const ratio = (value: number) => `${value.toFixed(2)}x`;
export const mib = (bytes: number) => `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
