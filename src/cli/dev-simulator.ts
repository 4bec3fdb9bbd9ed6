import type { Config } from '../config/schema.js';
import { startSimulator, type Simulator } from '../sim/simulator.js';

/**
 * `npm start`'s PowerMTA: the simulator in the daemon's process, listening where
 * the agent forwards (pmta.host:pmta.port; port 0 picks one) and writing accounting
 * where the agent tails (pmta.accountingDir), so one command shows the whole loop.
 */
export interface DevSimulator {
  readonly address: string;
  readonly behaviour: NonNullable<Config['dev']['simulator']>;
  /** The config with pmta.port set to where the simulator listens (a file may say 0). */
  pin(cfg: Config): Config;
  close(): Promise<void>;
}

export async function startDevSimulator(cfg: Config): Promise<DevSimulator | null> {
  const behaviour = cfg.dev.simulator;
  if (behaviour === null) return null;
  let sim: Simulator;
  try {
    sim = await startSimulator({
      host: cfg.pmta.host,
      port: cfg.pmta.port,
      acctDir: cfg.pmta.accountingDir,
      bounceDomains: behaviour.bounceDomains,
      deferDomains: behaviour.deferDomains,
      complainAddresses: behaviour.complainAddresses,
      keepMessages: false,
    });
  } catch (err) {
    throw new Error(`dev.simulator: cannot listen on ${cfg.pmta.host}:${cfg.pmta.port} (pmta.host, pmta.port): ${(err as Error).message}`);
  }
  return {
    address: `${sim.host}:${sim.port}`,
    behaviour,
    pin: (c) => ({ ...c, pmta: { ...c.pmta, port: sim.port } }),
    close: () => sim.close(),
  };
}
