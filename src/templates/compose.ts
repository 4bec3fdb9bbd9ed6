import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import MailComposer from 'nodemailer/lib/mail-composer';

export interface ComposeInput {
  from: { address: string; name?: string | undefined };
  to: string;
  subject: string;
  html: string;
  text?: string | null | undefined;
  /** Tenant slug and template name (null for a subject+html send): they make the Feedback-ID. */
  tenant: string;
  template: string | null;
}

export interface ComposeOptions {
  /** The Date header. */
  now: Date;
  /** Random bytes for the Message-ID; crypto by default. */
  random?: (n: number) => Buffer;
}

export interface ComposedMessage {
  /** With angle brackets, as in the header. */
  messageId: string;
  /** The whole RFC 5322 message, CRLF line ends, built as it is read. */
  message: Readable;
}

/**
 * `<40 hex@domain of the From address>`: MailWizz's own form (mailwizz.md §1.3),
 * so bounce and FBL tooling that matches on Message-ID sees the shape it knows.
 */
export function messageIdFor(fromAddress: string, random: (n: number) => Buffer = randomBytes): string {
  const domain = (fromAddress.split('@').pop() ?? '').toLowerCase() || 'localhost';
  return `<${random(20).toString('hex')}@${domain}>`;
}

/** `tx-<template>` or `tx-adhoc`: the first Feedback-ID field, which the stamper also makes the PowerMTA X-Job. */
export function transactionalJob(template: string | null): string {
  return `tx-${template ?? 'adhoc'}`;
}

/**
 * Feedback-ID as Gmail's feedback loop reads it (`a:b:c:SenderId`): job,
 * tenant, stream type, and a constant sender id. Complaints then group by
 * template and tenant, and the stamper derives X-Job from the first field
 * (src/stamp/headers.ts jobIdFor), as it does for MailWizz campaigns.
 */
export function feedbackId(tenant: string, template: string | null): string {
  return `${transactionalJob(template)}:${tenant}:transactional:pmta-agent`;
}

/**
 * The MIME message, built by nodemailer's composer: RFC 2047 encoded words
 * for a non-ASCII subject or name, quoted-printable bodies, multipart/alternative
 * when there is a text part. File and URL access are off: the content is only
 * the rendered strings.
 */
export function composeMessage(input: ComposeInput, opts: ComposeOptions): ComposedMessage {
  const messageId = messageIdFor(input.from.address, opts.random);
  const composer = new MailComposer({
    from: input.from.name ? { name: input.from.name, address: input.from.address } : input.from.address,
    to: input.to,
    // A rendered variable may carry a line break; a subject is one line.
    subject: input.subject.replace(/[\r\n]+/g, ' '),
    html: input.html,
    ...(input.text !== null && input.text !== undefined ? { text: input.text } : {}),
    messageId,
    date: opts.now,
    headers: { 'Feedback-ID': feedbackId(input.tenant, input.template) },
    newline: 'windows',
    disableFileAccess: true,
    disableUrlAccess: true,
  });
  return { messageId, message: composer.compile().createReadStream() };
}
