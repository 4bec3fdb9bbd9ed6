import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SMTPServer } from 'smtp-server';
import { greetWithoutPause } from '../../src/ingress/greeting.js';
import { startHarness, type Harness } from '../helpers/env.js';
import { rawSmtp } from '../helpers/raw-smtp.js';

describe('the greeting comes without smtp-server\'s early-talker pause', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(() => h.close());

  it('applies to the installed smtp-server (an upgrade that changes SMTPConnection.init fails here, not in production)', () => {
    const server = new SMTPServer({ logger: false, disabledCommands: ['STARTTLS'] });
    assert.equal(greetWithoutPause(server), true);
    assert.equal(h.logs.filter((l) => l.event === 'smtp.greeting_pause_kept').length, 0);
  });

  it('answers a client that sends EHLO without waiting for the greeting, instead of refusing it as an early talker', async () => {
    // With the pause, a line that arrives before the greeting gets "421 You talk too soon".
    const c = await rawSmtp(h.port, { firstLine: 'EHLO mailwizz.local' });
    try {
      assert.match(c.greeting, /^220 /);
      assert.match(await c.reply(), /^250[- ]/);
    } finally {
      c.close();
    }
  });
});
