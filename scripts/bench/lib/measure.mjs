// Shared by the benchmarks: options, timing under /usr/bin/time -v, medians, the table, the JSON.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * `--name value` options over `defaults` (numbers stay numbers); anything else is an error that
 * names the option and the usage.
 */
export function parseOptions(argv, defaults, usage) {
  const options = { ...defaults };
  for (let index = 0; index < argv.length; index += 2) {
    const name = argv[index]?.replace(/^--/, '');
    const value = argv[index + 1];
    if (!argv[index]?.startsWith('--') || !(name in defaults) || value === undefined) {
      console.error(`unknown or incomplete option ${argv[index]}; usage: ${usage}`);
      process.exit(1);
    }
    options[name] = typeof defaults[name] === 'number' ? Number(value) : value;
  }
  return options;
}

/**
 * Runs `command args` under `/usr/bin/time -v`: wall seconds (measured here, around the whole
 * child) and the "Maximum resident set size", which is the peak RSS of the largest single
 * process among the command and the children it waited for (not the sum of a pipeline's
 * processes; worker threads are part of their process). `options.onStdout(output, seconds)` is
 * called with the standard output so far as it grows. Throws with the output on failure.
 */
export async function measure(command, args, options = {}) {
  const { onStdout, ...spawnOptions } = options;
  const report = path.join(os.tmpdir(), `bench-time-${process.pid}.txt`);
  const started = process.hrtime.bigint();
  const elapsed = () => Number(process.hrtime.bigint() - started) / 1e9;
  // Asynchronous: a registry or proxy this process serves must keep running meanwhile.
  const child = spawn('/usr/bin/time', ['-v', '-o', report, command, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...spawnOptions,
  });
  let output = '';
  child.stdout.on('data', (chunk) => {
    output += chunk;
    onStdout?.(output, elapsed());
  });
  child.stderr.on('data', (chunk) => (output += chunk));
  const status = await new Promise((resolve) => child.on('close', resolve));
  const seconds = elapsed();
  const timeText = fs.existsSync(report) ? fs.readFileSync(report, 'utf8') : '';
  fs.rmSync(report, { force: true });
  if (status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${status}):\n${output}`);
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(timeText);
  return { seconds, rssMiB: rss ? Number(rss[1]) / 1024 : NaN, output };
}

/** Several measurements run one after the other count as one: wall summed, peak RSS the max. */
export function combine(...measurements) {
  return {
    seconds: measurements.reduce((sum, m) => sum + m.seconds, 0),
    rssMiB: Math.max(...measurements.map((m) => m.rssMiB)),
  };
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Collected measurements of one case: every run's wall time and peak RSS. */
export class Series {
  constructor() {
    this.seconds = [];
    this.rssMiB = [];
  }

  add(measurement) {
    this.seconds.push(measurement.seconds);
    this.rssMiB.push(measurement.rssMiB);
    return measurement;
  }

  get empty() {
    return this.seconds.length === 0;
  }

  toJSON() {
    return {
      medianSeconds: this.empty ? null : median(this.seconds),
      seconds: this.seconds,
      peakRssMiB: this.empty ? null : Math.max(...this.rssMiB),
      rssMiB: this.rssMiB,
    };
  }
}

/** `a ÷ b` to 3 decimals, or a dash when either side is missing. */
export function ratio(a, b) {
  return Number.isFinite(a) && Number.isFinite(b) && b > 0 ? (a / b).toFixed(3) : '—';
}

/** Prints rows of cells as an aligned table (first column left, the others right). */
export function printTable(rows) {
  const widths = rows[0].map((_, column) =>
    Math.max(...rows.map((row) => String(row[column]).length)),
  );
  for (const row of rows) {
    console.log(
      row
        .map((cell, column) =>
          column === 0 ? String(cell).padEnd(widths[0]) : String(cell).padStart(widths[column]),
        )
        .join('  '),
    );
  }
}

/** The load average, for the record: the figures are only as quiet as the machine was. */
export function loadAverage() {
  return os
    .loadavg()
    .map((value) => value.toFixed(2))
    .join(' ');
}

export function writeJson(file, value) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
  console.log(`\nfigures written to ${file}`);
}
