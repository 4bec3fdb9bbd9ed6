// The sent-message index's key for a Message-ID as PowerMTA logs it
// (`header_Message-Id`, angle brackets and all; MailWizz strips them too,
// mailwizz.md §4.2). Case is folded: the header may be rewritten in transit,
// and the ids the agent sees are random enough that folding merges none.
export function normaliseMessageId(raw: string): string {
  let s = raw.trim();
  if (s.startsWith('<')) s = s.slice(1);
  if (s.endsWith('>')) s = s.slice(0, -1);
  return s.trim().toLowerCase();
}
