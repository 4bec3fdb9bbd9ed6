import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { InvalidInputError, ConflictError, NotFoundError } from '../../src/tenants/errors.js';
import { InvalidTemplateError, TemplateStore } from '../../src/templates/store.js';
import type { Db } from '../../src/store/db.js';
import { ManualClock } from '../../src/types.js';
import { START, tmpDir } from '../helpers/env.js';
import { openTestDb } from './app.js';

const welcome = { name: 'welcome', subject: 'Welcome [FNAME]', html: '<p>Hi {{ name }}</p>', text: 'Hi {{ name }}' };

describe('TemplateStore over SQLite', () => {
  let dir: { dir: string; cleanup(): void };
  let db: Db;
  let clock: ManualClock;
  let store: TemplateStore;
  beforeEach(() => {
    dir = tmpDir('pmta-agent-tpl-store-');
    db = openTestDb(dir.dir);
    clock = new ManualClock(START);
    store = new TemplateStore(db, clock);
  });
  afterEach(() => {
    db.close();
    dir.cleanup();
  });

  it('creates a template and reads it back by name and by id', () => {
    const t = store.create(1, welcome);
    assert.deepEqual(t, { id: t.id, tenantId: 1, ...welcome, createdAt: '2026-11-25T10:00:00.000Z', updatedAt: '2026-11-25T10:00:00.000Z' });
    assert.deepEqual(store.get(1, 'welcome'), t);
    assert.deepEqual(store.get(1, t.id), t);
    assert.deepEqual(store.get(1, String(t.id)), t);
  });

  it('stores a missing text part as null', () => {
    assert.equal(store.create(1, { name: 'bare', subject: 's', html: 'h' }).text, null);
  });

  it('keeps tenants apart: the same name in two tenants, and no reading across', () => {
    const a = store.create(1, welcome);
    store.create(2, { ...welcome, subject: 'other' });
    assert.equal(store.get(2, a.id), null);
    assert.equal(store.get(2, 'welcome')!.subject, 'other');
    assert.deepEqual(store.list(1).map((t) => t.id), [a.id]);
  });

  it('refuses a second template of the same name with a conflict on name', () => {
    store.create(1, welcome);
    assert.throws(() => store.create(1, welcome), (e: unknown) => e instanceof ConflictError && e.field === 'name');
  });

  it('refuses a name that is not lower case letters, digits, . _ - starting with a letter', () => {
    for (const name of ['Welcome', '1st', 'a b', 'a:b', '', 'x'.repeat(65)]) {
      assert.throws(() => store.create(1, { ...welcome, name }), (e: unknown) => e instanceof InvalidInputError && e.field === 'name', name);
    }
  });

  it('refuses a template that does not parse, naming the part and position', () => {
    assert.throws(
      () => store.create(1, { ...welcome, html: '<p>\n{{ name </p>' }),
      (e: unknown) => e instanceof InvalidTemplateError && e.field === 'html' && e.errors[0]!.line === 2 && e.errors[0]!.column === 1,
    );
    assert.deepEqual(store.list(1), []);
  });

  it('lists by name', () => {
    for (const name of ['receipt', 'alert', 'welcome']) store.create(1, { ...welcome, name });
    assert.deepEqual(store.list(1).map((t) => t.name), ['alert', 'receipt', 'welcome']);
  });

  it('updates the fields given, drops the text with null, and moves updated_at only', () => {
    const t = store.create(1, welcome);
    clock.advance(60_000);
    const u = store.update(1, 'welcome', { subject: 'New subject', text: null });
    assert.equal(u.subject, 'New subject');
    assert.equal(u.html, welcome.html);
    assert.equal(u.text, null);
    assert.equal(u.createdAt, t.createdAt);
    assert.equal(u.updatedAt, '2026-11-25T10:01:00.000Z');
  });

  it('renames, unless the new name is taken', () => {
    store.create(1, welcome);
    store.create(1, { ...welcome, name: 'receipt' });
    assert.throws(() => store.update(1, 'welcome', { name: 'receipt' }), ConflictError);
    assert.equal(store.update(1, 'welcome', { name: 'hello' }).name, 'hello');
    assert.equal(store.get(1, 'welcome'), null);
  });

  it('refuses an update that would not parse and keeps the old template', () => {
    store.create(1, welcome);
    assert.throws(() => store.update(1, 'welcome', { subject: 'Hi {{ }}' }), InvalidTemplateError);
    assert.equal(store.get(1, 'welcome')!.subject, welcome.subject);
  });

  it('deletes, and a missing template is not found', () => {
    store.create(1, welcome);
    assert.equal(store.delete(1, 'welcome').name, 'welcome');
    assert.equal(store.get(1, 'welcome'), null);
    assert.throws(() => store.delete(1, 'welcome'), (e: unknown) => e instanceof NotFoundError && e.what === 'template' && e.id === 'welcome');
    assert.throws(() => store.update(1, 'nope', { subject: 'x' }), NotFoundError);
  });

  it('keeps templates in the file across reopening', () => {
    store.create(1, welcome);
    db.close();
    db = openTestDb(dir.dir);
    assert.equal(new TemplateStore(db, clock).get(1, 'welcome')!.html, welcome.html);
  });
});
