import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  TemplateSyntaxError,
  parseTemplate,
  renderMessage,
  renderTemplate,
  sampleVariables,
  templateVariables,
  validateTemplate,
  type RenderOptions,
  type TemplateVariables,
} from '../../src/templates/render.js';

const NOW = new Date('2026-11-25T10:00:00Z');
const html = (src: string, vars: TemplateVariables = {}, opts: Partial<RenderOptions> = {}) =>
  renderTemplate(parseTemplate(src), vars, { escape: 'html', now: NOW, ...opts });
const plain = (src: string, vars: TemplateVariables = {}, opts: Partial<RenderOptions> = {}) =>
  renderTemplate(parseTemplate(src), vars, { escape: 'none', now: NOW, ...opts });

function syntaxErrorOf(src: string): TemplateSyntaxError {
  try {
    parseTemplate(src);
  } catch (err) {
    assert.ok(err instanceof TemplateSyntaxError, String(err));
    return err;
  }
  assert.fail(`expected a syntax error in ${JSON.stringify(src)}`);
}

describe('rendering placeholders', () => {
  it('replaces {{ name }} with or without spaces inside the braces', () => {
    assert.equal(plain('Hi {{name}}, {{  name  }} and {{\tname\n}}!', { name: 'Ann' }), 'Hi Ann, Ann and Ann!');
  });

  it('accepts letters, digits, _ . - in names and reads dotted names as a key first, then through nested objects', () => {
    assert.equal(plain('{{ order-id }} {{ order_2 }} {{ a.b }}', { 'order-id': 'X1', order_2: 7, 'a.b': 'flat' }), 'X1 7 flat');
    assert.equal(plain('{{ order.total }} {{ order.customer.name }}', { order: { total: 12.5, customer: { name: 'Léa' } } }), '12.5 Léa');
  });

  it('renders a missing variable, null, an object or an array as the empty string', () => {
    assert.equal(plain('[{{ missing }}|{{ n }}|{{ o }}|{{ a }}|{{ o.x.y }}]', { n: null, o: { x: 1 }, a: [1, 2] }), '[||||]');
  });

  it('renders numbers and booleans as text', () => {
    assert.equal(plain('{{ n }} {{ b }} {{ z }}', { n: 42, b: false, z: 0 }), '42 false 0');
  });

  it('escapes & < > " \' in variable values of the html part, not the template text itself', () => {
    const v = { name: `<script>alert("x")</script> & 'co'` };
    assert.equal(html('<b title="t">{{ name }}</b>', v), '<b title="t">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;co&#39;</b>');
  });

  it('leaves variable values unescaped in the subject and the text part', () => {
    const v = { name: `Tom & "Jerry" <tj@example.com>` };
    assert.equal(plain('Hello {{ name }}', v), 'Hello Tom & "Jerry" <tj@example.com>');
  });

  it('keeps unicode as it is', () => {
    assert.equal(html('Ça va, {{ name }} ? 🎉', { name: 'Zoë 日本' }), 'Ça va, Zoë 日本 ? 🎉');
  });

  it('leaves a stray }} and a single { as text', () => {
    assert.equal(plain('a }} b { c {x}', {}), 'a }} b { c {x}');
  });
});

describe('templates are data, never code', () => {
  it('renders ejs tags <% %> and <%= %> as literal text', () => {
    const src = '<% process.exit(1) %><%= require("fs").readFileSync("/etc/passwd") %><%- include("/etc/passwd") %>';
    assert.equal(html(src, {}), src);
    assert.equal(plain(src, {}), src);
  });

  it('renders ${} as literal text, also when a variable holds ${} or {{ }}', () => {
    assert.equal(plain('${process.env.HOME} ${1+1}', {}), '${process.env.HOME} ${1+1}');
    assert.equal(plain('{{ v }}', { v: '${process.exit(1)} {{ other }} [FNAME]' }, {}), '${process.exit(1)} {{ other }} [FNAME]');
  });

  it('renders {{constructor}}, {{__proto__}}, {{toString}} and prototype walks as empty', () => {
    assert.equal(plain('[{{constructor}}|{{__proto__}}|{{toString}}|{{ a.constructor.name }}|{{ __proto__.polluted }}]', { a: {} }), '[||||]');
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it('uses an own __proto__ key from JSON as plain data', () => {
    const vars = JSON.parse('{"__proto__": "just text"}') as TemplateVariables;
    assert.equal(plain('{{ __proto__ }}', vars), 'just text');
  });

  it('rejects expressions inside braces instead of evaluating them', () => {
    for (const src of ['{{ 1+1 }}', '{{ a() }}', '{{ a[0] }}', '{{ a || b }}', '{{ `x` }}']) {
      assert.throws(() => parseTemplate(src), TemplateSyntaxError, src);
    }
  });
});

describe('MailWizz merge tags', () => {
  it('maps [FNAME] [LNAME] [EMAIL] [SUBSCRIBER_EMAIL] [COMPANY_NAME] to their variables', () => {
    const v = { first_name: 'Jean', last_name: 'Dupont', email: 'jean@example.net', company_name: 'SOS-Expat' };
    assert.equal(plain('[FNAME] [LNAME] <[EMAIL]> [SUBSCRIBER_EMAIL] [COMPANY_NAME]', v), 'Jean Dupont <jean@example.net> jean@example.net SOS-Expat');
  });

  it('prefers a variable named as the tag itself', () => {
    assert.equal(plain('[FNAME]', { FNAME: 'Tag', first_name: 'Var' }), 'Tag');
  });

  it('builds [FULL_NAME] from the first and last name when full_name is not given, trimmed', () => {
    assert.equal(plain('[FULL_NAME]', { first_name: 'Jean', last_name: 'Dupont' }), 'Jean Dupont');
    assert.equal(plain('[FULL_NAME]', { first_name: 'Jean' }), 'Jean');
    assert.equal(plain('[FULL_NAME]', { full_name: 'J. D.', first_name: 'Jean' }), 'J. D.');
  });

  it('computes the date tags from the injected clock, in the given time zone, in MailWizz formats', () => {
    const src = '[CURRENT_YEAR]|[CURRENT_MONTH]|[CURRENT_DAY]|[CURRENT_DATE]|[CURRENT_MONTH_FULL_NAME]';
    assert.equal(plain(src, {}), '2026|11|25|11/25/2026|November');
    const newYearsEve = new Date('2026-12-31T23:30:00Z');
    assert.equal(plain(src, {}, { now: newYearsEve, timeZone: 'Europe/Paris' }), '2027|01|01|01/01/2027|January');
  });

  it('escapes tag values in the html part', () => {
    assert.equal(html('Hi [FNAME]', { first_name: '<b>Jo</b>' }), 'Hi &lt;b&gt;Jo&lt;/b&gt;');
  });

  it('renders a missing tag variable as empty', () => {
    assert.equal(plain('Hi [FNAME]!', {}), 'Hi !');
  });

  it('leaves unknown or lower-case [TAGS] and other brackets as literal text', () => {
    const src = '[UNKNOWN_TAG] [fname] [ FNAME ] [1] [] a[b] [FNAME';
    assert.equal(plain(src, { first_name: 'X' }), src);
  });
});

describe('syntax errors carry their position', () => {
  it('reports an unclosed {{ at the braces, with line and column', () => {
    const e = syntaxErrorOf('line one\nab {{ name');
    assert.deepEqual([e.line, e.column, e.offset], [2, 4, 12]);
    assert.match(e.message, /unclosed \{\{.*line 2, column 4/);
  });

  it('reports an empty placeholder', () => {
    const e = syntaxErrorOf('x {{   }} y');
    assert.deepEqual([e.line, e.column], [1, 3]);
    assert.match(e.reason, /empty placeholder/);
  });

  it('reports a bad character at the character itself', () => {
    const e = syntaxErrorOf('\n\n  {{ user name }}');
    assert.deepEqual([e.line, e.column, e.offset], [3, 10, 11]);
    assert.match(e.reason, /bad character " "/);
  });

  it('counts columns in characters, so an emoji before the error is one column', () => {
    const e = syntaxErrorOf('🎉{{');
    assert.deepEqual([e.line, e.column, e.offset], [1, 2, 2]);
  });

  it('explains triple braces', () => {
    assert.match(syntaxErrorOf('{{{ raw }}}').reason, /triple braces/);
  });
});

describe('validateTemplate and templateVariables', () => {
  it('lists the variables of all parts, sorted and unique, tags as their variable names, date tags as none', () => {
    const t = { subject: 'Order {{ order.id }} for [FNAME]', html: '<p>{{ name }} [EMAIL] [SUBSCRIBER_EMAIL] [CURRENT_YEAR] {{ name }}</p>', text: '{{ b }} [FULL_NAME]' };
    assert.deepEqual(validateTemplate(t), { ok: true, variables: ['b', 'email', 'first_name', 'full_name', 'name', 'order.id'] });
    assert.deepEqual(templateVariables(t.subject, t.html, t.text), ['b', 'email', 'first_name', 'full_name', 'name', 'order.id']);
  });

  it('reports every error of every part with the part, line and column', () => {
    const r = validateTemplate({ subject: 'Hi {{ }}', html: '<p>\n {{ a b }} {{ ok }} {{ c!d }}</p>', text: 'x {{ y' });
    assert.equal(r.ok, false);
    assert.deepEqual(
      !r.ok && r.errors.map((e) => [e.part, e.line, e.column]),
      [
        ['subject', 1, 4],
        ['html', 2, 6],
        ['html', 2, 25],
        ['text', 1, 3],
      ],
    );
  });

  it('lists the placeholders that parse even when others do not', () => {
    assert.deepEqual(templateVariables('{{ a }} {{ b c }} {{ d }}'), ['a', 'd']);
  });

  it('gives sample data naming each variable', () => {
    assert.deepEqual(sampleVariables({ subject: '[FNAME]', html: '{{ code }}' }), { code: 'Sample code', first_name: 'Sample first_name' });
  });

  it('renders a whole message: subject and text unescaped, html escaped, text null when absent', () => {
    const v = { name: 'A&B' };
    assert.deepEqual(renderMessage({ subject: 'S {{ name }}', html: 'H {{ name }}', text: 'T {{ name }}' }, v, { now: NOW }), {
      subject: 'S A&B',
      html: 'H A&amp;B',
      text: 'T A&B',
    });
    assert.equal(renderMessage({ subject: 's', html: 'h' }, v, { now: NOW }).text, null);
  });
});
