// Shared by the simulator tests: temp dirs, an SMTP client, and an accounting
// reader that goes by the header line the way the real tailer must.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nodemailer from 'nodemailer';

export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'pmta-sim-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Splits one CSV line, honouring double quotes and doubled inner quotes. */
export function splitCsvLine(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') {
        quoted = false;
      } else {
        cur += c;
      }
    } else if (c === '"') {
      quoted = true;
    } else if (c === ',') {
      out.push(cur);
      cur = '';
    } else {
      cur += c;
    }
  }
  out.push(cur);
  return out;
}

export interface AcctFile {
  header: string[];
  rows: Array<Record<string, string>>;
  text: string;
}

export async function readAcct(path: string): Promise<AcctFile> {
  const text = await readFile(path, 'utf8');
  const lines = text.split('\n');
  if (lines.pop() !== '') throw new Error('accounting file does not end with a newline');
  const header = splitCsvLine(lines[0] ?? '');
  const rows = lines.slice(1).map((l) => {
    const cells = splitCsvLine(l);
    if (cells.length !== header.length) throw new Error(`row has ${cells.length} cells, header ${header.length}: ${l}`);
    return Object.fromEntries(header.map((h, i) => [h, cells[i] ?? '']));
  });
  return { header, rows, text };
}

export function send(port: number, from: string, to: string[], raw: string) {
  const t = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true });
  return t.sendMail({ envelope: { from, to }, raw }).finally(() => t.close());
}

export function message(headers: string[], body = 'Hello\r\n'): string {
  return headers.join('\r\n') + '\r\n\r\n' + body;
}
