// Unit tests: which engine the demo cluster runs on (auto-detection of Mosquitto) and what each serves.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chooseDemoEngine, findMosquitto, servedProtocols } from '../../src/demo/engine.ts';
import { SluiceError } from '../../src/errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'sluice-engine-'));
const empty = join(dir, 'empty');
const withMosquitto = join(dir, 'bin');
const notExecutable = join(dir, 'noexec');
for (const d of [empty, withMosquitto, notExecutable]) mkdirSync(d);
writeFileSync(join(withMosquitto, 'mosquitto'), '#!/bin/sh\n');
chmodSync(join(withMosquitto, 'mosquitto'), 0o755);
writeFileSync(join(notExecutable, 'mosquitto'), 'not a program');
chmodSync(join(notExecutable, 'mosquitto'), 0o644);
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('a PATH without mosquitto (and no fallback directory) finds none', () => {
  assert.is(findMosquitto({ path: `${empty}:/nonexistent`, extraDirs: [] }), undefined);
  assert.is(findMosquitto({ path: '', extraDirs: [] }), undefined);
  assert.is(findMosquitto({ path: notExecutable, extraDirs: [] }), undefined, 'a file that is not executable is not a broker');
});

test('mosquitto is found on PATH, first match wins, or in a fallback directory such as /usr/sbin', () => {
  assert.is(findMosquitto({ path: `${empty}:${withMosquitto}`, extraDirs: [] }), join(withMosquitto, 'mosquitto'));
  assert.is(findMosquitto({ path: empty, extraDirs: [withMosquitto] }), join(withMosquitto, 'mosquitto'));
});

test('auto picks mosquitto when found, else aedes with the reason', () => {
  const m = chooseDemoEngine('auto', '/usr/sbin/mosquitto');
  assert.equal([m.engine, m.mosquittoPath], ['mosquitto', '/usr/sbin/mosquitto']);
  const a = chooseDemoEngine('auto', undefined);
  assert.is(a.engine, 'aedes');
  assert.match(a.why, /mosquitto not found on PATH or in \/usr\/sbin/);
  assert.is(chooseDemoEngine('aedes', '/usr/sbin/mosquitto').engine, 'aedes');
});

test('engine: mosquitto without a mosquitto binary is a coded error that says how to install it', () => {
  try {
    chooseDemoEngine('mosquitto', undefined);
    assert.unreachable('expected an error');
  } catch (err) {
    assert.instance(err, SluiceError);
    assert.is((err as SluiceError).code, 'SLUICE_ERR_DEMO');
    assert.match((err as Error).message, /apt-get install mosquitto/);
  }
});

test('what each engine serves, in the words of the start-up line', () => {
  assert.is(servedProtocols('mosquitto'), 'MQTT 3.1, 3.1.1 and 5.0');
  assert.is(servedProtocols('aedes'), 'MQTT 3.1 and 3.1.1 only; install mosquitto (apt-get install mosquitto) for MQTT 5');
});

test.run();
