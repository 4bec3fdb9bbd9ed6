import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  HeaderEndFinder,
  jobIdFor,
  parseHeaders,
  splitHeaderBlock,
  stampHeaderBlock,
  type HeaderInfo,
} from '../../src/stamp/headers.js';

const NO_INFO: HeaderInfo = { messageId: null, xJob: null, xJobCount: 0, campaignUid: null, feedbackId: null, from: null };

describe('splitHeaderBlock', () => {
  it('finds a CRLF empty line: the block keeps its last CRLF, the body starts after the empty line', () => {
    const buf = Buffer.from('A: 1\r\nB: 2\r\n\r\nbody\r\n');
    assert.deepEqual(splitHeaderBlock(buf), { headerEnd: 12, bodyStart: 14 });
    assert.equal(buf.subarray(0, 12).toString(), 'A: 1\r\nB: 2\r\n');
    assert.equal(buf.subarray(14).toString(), 'body\r\n');
  });

  it('finds an LF-only empty line', () => {
    assert.deepEqual(splitHeaderBlock(Buffer.from('A: 1\nB: 2\n\nbody')), { headerEnd: 10, bodyStart: 11 });
  });

  it('takes whichever empty line comes first when CRLF and LF styles are mixed', () => {
    assert.deepEqual(splitHeaderBlock(Buffer.from('A: 1\n\nB\r\n\r\n')), { headerEnd: 5, bodyStart: 6 });
    assert.deepEqual(splitHeaderBlock(Buffer.from('A: 1\r\n\r\nB\n\n')), { headerEnd: 6, bodyStart: 8 });
  });

  it('treats an empty first line as a message without headers', () => {
    assert.deepEqual(splitHeaderBlock(Buffer.from('\r\nbody\r\n\r\nmore')), { headerEnd: 0, bodyStart: 2 });
    assert.deepEqual(splitHeaderBlock(Buffer.from('\nbody\n\nmore')), { headerEnd: 0, bodyStart: 1 });
  });

  it('returns null when there is no empty line', () => {
    assert.equal(splitHeaderBlock(Buffer.from('A: 1\r\nB: 2\r\n')), null);
    assert.equal(splitHeaderBlock(Buffer.from('')), null);
  });

  it('finds the same split when the message arrives in pieces split at every position', () => {
    const samples = ['A: 1\r\nB: 2\r\n\r\nbody', 'A: 1\nB: 2\n\nbody', '\r\nbody', 'X: y\r\n\nz', 'A: 1\r\n'];
    for (const s of samples) {
      const buf = Buffer.from(s);
      const whole = splitHeaderBlock(buf);
      for (let a = 0; a <= buf.length; a++) {
        for (let b = a; b <= buf.length; b++) {
          const f = new HeaderEndFinder();
          const found =
            f.feed(buf.subarray(0, a)) ?? f.feed(buf.subarray(a, b)) ?? f.feed(buf.subarray(b));
          assert.deepEqual(found, whole, `${JSON.stringify(s)} split at ${a},${b}`);
        }
      }
    }
  });
});

describe('parseHeaders', () => {
  it('reads names case-insensitively and trims values', () => {
    const info = parseHeaders('message-id:   <abc@x.example>  \r\nFROM: a@example.com\r\nx-JOB: job-1\r\n');
    assert.equal(info.messageId, '<abc@x.example>');
    assert.equal(info.from, 'a@example.com');
    assert.equal(info.xJob, 'job-1');
  });

  it('keeps Message-ID angle brackets exactly as written', () => {
    const id = '<3f786850e387550fdab836ed7e6dc881de23001b@bounce.example.com>';
    assert.equal(parseHeaders(`Message-ID: ${id}\r\n`).messageId, id);
    assert.equal(parseHeaders('Message-Id: bare@example.com\n').messageId, 'bare@example.com');
  });

  it('unfolds continuation lines that start with a space or a tab', () => {
    const info = parseHeaders('From: "Acme\r\n News"\r\n\t<news@example.com>\r\nSubject: x\r\n');
    assert.equal(info.from, '"Acme News"\t<news@example.com>');
  });

  it('takes the campaign UID from X-Mw-Campaign-Uid before X-Campaign-Uid', () => {
    assert.equal(parseHeaders('X-Campaign-Uid: plain\nX-Mw-Campaign-Uid: mw\n').campaignUid, 'mw');
    assert.equal(parseHeaders('X-Campaign-Uid: plain\n').campaignUid, 'plain');
    assert.equal(parseHeaders('X-Mw-Campaign-Uid:\nX-Campaign-Uid: plain\n').campaignUid, 'plain');
  });

  it('keeps the first occurrence of a repeated field', () => {
    assert.equal(parseHeaders('X-Job: first\nX-Job: second\n').xJob, 'first');
  });

  it('reports fields that are absent as null', () => {
    assert.deepEqual(parseHeaders('Subject: hi\n'), NO_INFO);
    assert.deepEqual(parseHeaders(''), NO_INFO);
  });

  it('reads Feedback-ID as a whole', () => {
    assert.equal(parseHeaders('Feedback-ID: c1:s2:l3:cu4\r\n').feedbackId, 'c1:s2:l3:cu4');
  });
});

describe('jobIdFor', () => {
  const info = (over: Partial<HeaderInfo>): HeaderInfo => ({ ...NO_INFO, ...over });

  it('prefers an X-Job MailWizz already set', () => {
    assert.equal(
      jobIdFor(info({ xJob: 'xj', campaignUid: 'cu', feedbackId: 'fb:s:l:c' }), 'fallback'),
      'xj',
    );
  });

  it('uses the campaign UID header when there is no X-Job', () => {
    assert.equal(jobIdFor(info({ campaignUid: 'cu', feedbackId: 'fb:s:l:c' }), 'fallback'), 'cu');
  });

  it("uses the first field of Feedback-ID when there is no campaign UID header", () => {
    assert.equal(jobIdFor(info({ feedbackId: 'cmp789:sub456:ab123:cust001' }), 'fallback'), 'cmp789');
  });

  it('falls back when no header names a job, or the ones present are empty', () => {
    assert.equal(jobIdFor(NO_INFO, 'tenant-a'), 'tenant-a');
    assert.equal(jobIdFor(info({ xJob: '', feedbackId: ':s:l' }), 'tenant-a'), 'tenant-a');
  });

  it('leaves no CR, LF, control character or white space in the job id, so no header can be injected (PowerMTA job id rules)', () => {
    assert.equal(jobIdFor(info({ xJob: 'a\r\nBcc: x@y\u0000\u007f' }), 'f'), 'a_Bcc:_x@y');
  });

  it('caps the job id at 128 printable characters without splitting an escape', () => {
    assert.equal(jobIdFor(info({ xJob: 'j'.repeat(300) }), 'f'), 'j'.repeat(128));
    const emoji = jobIdFor(info({ xJob: '😀'.repeat(200) }), 'f');
    assert.ok(emoji.length <= 128 && /^(%F0%9F%98%80)+$/.test(emoji), emoji);
  });
});

describe('stampHeaderBlock', () => {
  const stamp = { vmta: 'acme-10-0-0-1', job: 'cmp789' };

  it('adds X-Virtual-MTA and X-Job at the top and keeps every other byte', () => {
    const block = 'Message-ID: <a@b>\r\nSubject: hi\r\n';
    assert.equal(
      stampHeaderBlock(block, stamp, false),
      'X-Virtual-MTA: acme-10-0-0-1\r\nX-Job: cmp789\r\n' + block,
    );
  });

  it('replaces every X-Virtual-MTA, in any case and with its folded lines, by exactly one of ours', () => {
    const block =
      'A: 1\r\nx-virtual-mta: old-pool\r\n  still-old\r\nB: 2\r\n\tfolded-b\r\nX-VIRTUAL-MTA : other\r\nC: 3\r\n';
    const out = stampHeaderBlock(block, stamp, false);
    assert.equal(out, 'X-Virtual-MTA: acme-10-0-0-1\r\nX-Job: cmp789\r\nA: 1\r\nB: 2\r\n\tfolded-b\r\nC: 3\r\n');
  });

  it('does not mistake a header that merely starts with the same letters for X-Virtual-MTA', () => {
    const block = 'X-Virtual-MTA-Hint: keep\r\n';
    assert.equal(stampHeaderBlock(block, stamp, true), 'X-Virtual-MTA: acme-10-0-0-1\r\n' + block);
  });

  it('leaves an existing X-Job alone and adds none', () => {
    const block = 'X-Job: mailwizz-job\r\nSubject: hi\r\n';
    assert.equal(stampHeaderBlock(block, stamp, true), 'X-Virtual-MTA: acme-10-0-0-1\r\n' + block);
  });

  it('uses LF for added lines in an LF-only block', () => {
    assert.equal(stampHeaderBlock('Subject: hi\n', stamp, false), 'X-Virtual-MTA: acme-10-0-0-1\nX-Job: cmp789\nSubject: hi\n');
  });

  it('uses the given line ending for an empty block', () => {
    assert.equal(stampHeaderBlock('', stamp, false, '\r\n'), 'X-Virtual-MTA: acme-10-0-0-1\r\nX-Job: cmp789\r\n');
  });

  it('removes an X-Virtual-MTA that is the last, unterminated line', () => {
    assert.equal(stampHeaderBlock('A: 1\nX-Virtual-MTA: old', stamp, true), 'X-Virtual-MTA: acme-10-0-0-1\nA: 1\n');
  });

  it('adds no X-Job when the job id is empty', () => {
    assert.equal(stampHeaderBlock('A: 1\n', { vmta: 'v', job: '' }, false), 'X-Virtual-MTA: v\nA: 1\n');
  });

  it('refuses values that would inject a header', () => {
    assert.throws(() => stampHeaderBlock('A: 1\n', { vmta: 'v\r\nBcc: x', job: 'j' }, false), TypeError);
    assert.throws(() => stampHeaderBlock('A: 1\n', { vmta: 'v', job: 'j\n' }, false), TypeError);
    assert.throws(() => stampHeaderBlock('A: 1\n', { vmta: ' ', job: 'j' }, false), TypeError);
  });
});

describe('HeaderEndFinder agrees with the lines PowerMTA will see', () => {
  /** Where the first empty line starts when each of CRLF, CR and LF ends a line (as on the wire). */
  function reference(text: string): number | null {
    const re = /[^\r\n]*(\r\n|\r|\n)/g;
    let m: RegExpExecArray | null;
    while ((m = re.exec(text))) if (m[0].length === m[1]!.length) return m.index;
    return null;
  }
  let seed = 7;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  it('finds the first empty line (at most one byte into it), the same in one buffer or byte by byte, on 3000 random blocks', () => {
    const alphabet = ['a', 'b', ':', ' ', '\r', '\n', '\r\n'];
    for (let k = 0; k < 3000; k++) {
      const text = Array.from({ length: 1 + rand(12) }, () => alphabet[rand(alphabet.length)]).join('');
      const buf = Buffer.from(text);
      const whole = new HeaderEndFinder().feed(buf);
      const f = new HeaderEndFinder();
      let bytewise = null;
      for (let i = 0; i < buf.length && !bytewise; i++) bytewise = f.feed(buf.subarray(i, i + 1));
      assert.deepEqual(bytewise, whole, JSON.stringify(text));
      const ref = reference(text);
      if (ref === null) {
        // Only a trailing CR can still turn out to be a line end once more bytes come.
        assert.equal(whole, null, JSON.stringify(text));
        continue;
      }
      if (whole === null) {
        assert.ok(text.endsWith('\r'), `missed the empty line at ${ref} in ${JSON.stringify(text)}`);
        continue;
      }
      assert.ok(whole.headerEnd >= ref && whole.headerEnd <= ref + 1, `${whole.headerEnd} vs ${ref} in ${JSON.stringify(text)}`);
    }
  });
});
