/**
 * A URL as the logs show it: scheme, host, port and path. The user and password
 * (basic auth) and the query and fragment are dropped: MailWizz and webhook
 * services carry keys and tokens there, and logs travel further than config files.
 */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return url.replace(/\/\/[^/]*@/, '//').replace(/[?#].*$/s, '');
  }
}
