import type { Readable } from 'node:stream';

/**
 * What became of one message handed to the gate outside SMTP: the same
 * decision SMTP ingress makes (suppression, quota reservation, IP/VMTA choice,
 * stamping, forwarding or spooling, commit/release), as a value.
 */
export type SubmitOutcome =
  | { kind: 'forwarded'; ip: string; vmta: string; response: string }
  | { kind: 'spooled'; id: string; reason: string }
  | { kind: 'refused'; code: number; response: string; reason: 'suppressed' | 'pmta' | 'sender' | 'spool-full' | 'no-tenant' };

/** The programmatic entry to the SMTP gate; the daemon provides it. */
export type SubmitFn = (req: { tenant: string; mailFrom: string; rcptTo: string; message: Readable }) => Promise<SubmitOutcome>;
