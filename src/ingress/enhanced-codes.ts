import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';

// smtp-server adds an enhanced status code to every reply from a table keyed by
// the basic code only (550 is always 5.1.1), so a handler cannot answer
// `550 5.7.1`. Our reply texts (ingress/replies.ts) carry their own RFC 3463
// code; for those the automatic one is skipped. Everything else keeps the table.
const ENHANCED = /^[245]\.\d{1,3}\.\d{1,3} /;
let installed = false;

export function useOwnEnhancedCodes(): void {
  if (installed) return;
  installed = true;
  const proto = SMTPConnection.prototype as unknown as {
    send(code: number, data?: string | string[] | null, context?: string | false): void;
  };
  const original = proto.send;
  proto.send = function (this: unknown, code, data, context) {
    if (typeof data === 'string' && ENHANCED.test(data)) return original.call(this, code, data, false);
    return original.call(this, code, data, context);
  };
}
