import type { Readable } from 'node:stream';
import type { Registry } from '../tenants/registry.js';
import type { SubmitFn, SubmitOutcome } from '../templates/submit.js';
import type { Reception } from './reception.js';
import type { Reply } from './replies.js';

/**
 * Messages the API composes go through the very steps an SMTP transaction
 * takes (Reception): sender check, suppression, reservation, stream to
 * PowerMTA and disk, commit or release, spool.
 */
export function createSubmit(reception: Reception, registry: Registry): SubmitFn {
  return async ({ tenant: ref, mailFrom, rcptTo, message }): Promise<SubmitOutcome> => {
    const tenant = registry.tenant(ref);
    const refuse = (reply: Reply, reason: Extract<SubmitOutcome, { kind: 'refused' }>['reason']): SubmitOutcome => ({
      kind: 'refused',
      code: reply.code,
      response: `${reply.code} ${reply.text}`,
      reason,
    });
    if (!tenant) return { kind: 'refused', code: 550, response: `550 5.7.1 unknown tenant ${ref}`, reason: 'no-tenant' };
    const step = reception.begin(tenant, mailFrom);
    if (!step.ok) return refuse(step.reply, 'sender');
    const tx = step.value;
    const refusal = await reception.addRecipient(tx, rcptTo);
    if (refusal) {
      await reception.abort(tx);
      return refuse(refusal, refusal.code === 452 ? 'spool-full' : 'suppressed');
    }
    const ip = tx.granted[0]?.grant.ip;
    const { reply, result } = await reception.receive(tx, message as Readable);
    if (!result) return refuse(reply, 'pmta');
    switch (result.kind) {
      case 'forwarded':
        return { kind: 'forwarded', ip: ip?.address ?? '', vmta: result.vmta, response: result.response };
      case 'spooled':
        return { kind: 'spooled', id: result.id, reason: result.reason };
      case 'refused':
        return refuse(reply, 'pmta');
      case 'spool-full':
        return refuse(reply, 'spool-full');
    }
  };
}
