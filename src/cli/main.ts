#!/usr/bin/env node
import { runCheckConfig } from './check-config.js';
import { runHashPassword } from './hash-password.js';
import { runDaemonCommand } from './run.js';
import { runDemo } from './demo.js';
import { runAddDomain, runCheck, runForecast, runIp, runPmta, runQuota, runStatus, runSuppression, runUser } from './ops.js';
import { runSimCommand } from '../sim/cli.js';
import { runPmtaLint } from './pmta-lint.js';
import { runToken } from './token.js';
import { runAcctPipe } from './acct-pipe.js';

const USAGE = `pmta-agent: warmup quota gate between MailWizz and PowerMTA

Usage:
  pmta-agent run [--config FILE]            start the daemon
  pmta-agent check-config [--config FILE]   validate the config file
  pmta-agent sim --smtp HOST:PORT --acct-dir DIR [options]
                                            run the PowerMTA simulator
  pmta-agent hash-password                  read a password on stdin, print its hash
  pmta-agent token new [--name N] [--scopes S] [--tenants T] [--write FILE]
                                            make an API token (and put it in the config)
  pmta-agent acct-pipe --dir DIR            run by PowerMTA (accounting.mode "pipe"): its records
                                            on stdin, spooled fsynced to DIR/pipe-YYYY-MM-DD.csv
  pmta-agent demo [--messages N]            the agent and the simulator on loopback, with quotas moving

Operator commands (over the control API; URL and token from $PMTA_AGENT_URL and
$PMTA_AGENT_TOKEN, else from the config file). Tables by default, --json for scripts:
  pmta-agent status
  pmta-agent quota <tenant>
  pmta-agent check <tenant> <n>
  pmta-agent forecast <tenant> [--days N] [--add-ip-every D]
  pmta-agent add-domain --tenant T --domain D --ip A [--hostname H]
  pmta-agent ip pause|resume|retire <ip> --reason TEXT
  pmta-agent ip list
  pmta-agent ip warmup <ip> --day N | --start YYYY-MM-DD [--hold-until D]
  pmta-agent user delete <tenant> <username>
  pmta-agent suppression add|remove <tenant> <email> | list <tenant>
  pmta-agent pmta render|apply            the PowerMTA config the agent owns
  pmta-agent pmta lint [FILE...]          check a PowerMTA config against the guide (no agent needed with FILE)

Config path (run and every command): --config, else $PMTA_AGENT_CONFIG, else the first that exists of
config/pmta-agent.json, /etc/pmta-agent/config.json, config/pmta-agent.dev.json (what npm start runs).
Each command answers --help. Exit codes: 0 ok, 1 failure, 2 usage error.
`;

const commands: Record<string, (argv: string[]) => Promise<number>> = {
  run: runDaemonCommand,
  'check-config': runCheckConfig,
  sim: runSimCommand,
  'hash-password': runHashPassword,
  token: runToken,
  status: runStatus,
  quota: runQuota,
  check: runCheck,
  'add-domain': runAddDomain,
  ip: runIp,
  pmta: (argv) => (argv[0] === 'lint' ? runPmtaLint(argv.slice(1)) : runPmta(argv)),
  forecast: runForecast,
  suppression: runSuppression,
  user: runUser,
  demo: runDemo,
  'acct-pipe': (argv) => runAcctPipe(argv),
};

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(USAGE);
    return cmd ? 0 : 2;
  }
  const run = commands[cmd];
  if (!run) {
    process.stderr.write(`pmta-agent: unknown command '${cmd}'\n${USAGE}`);
    return 2;
  }
  return run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`pmta-agent: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
