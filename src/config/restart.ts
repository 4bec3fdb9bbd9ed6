import type { Config } from './schema.js';

/** The settings a reload (SIGHUP) cannot apply to a running daemon: the listeners, the PowerMTA connection, the store. */
export function keysNeedingRestart(prev: Config, next: Config): string[] {
  const changed = (a: unknown, b: unknown) => JSON.stringify(a) !== JSON.stringify(b);
  return (['host', 'port', 'hostname', 'maxMessageBytes', 'maxClients', 'tls'] as const)
    .filter((k) => changed(next.smtp[k], prev.smtp[k]))
    .map((k) => `smtp.${k}`)
    .concat(changed(next.api.host, prev.api.host) || next.api.port !== prev.api.port ? ['api.host/port'] : [])
    .concat(changed(next.pmta, prev.pmta) ? ['pmta'] : [])
    .concat(changed(next.store, prev.store) ? ['store'] : []);
}
