// send.js - firebase-admin (npm, pinned in package-lock.json) sends through
// fcm-sim: single messages (HTTP/1.1) and a batch with sendEach (HTTP/2).
// Expected answers: what Google documents for FCM v1 (fcm-protocol.md §4) as
// the Admin SDK reports them (its documented messaging/* error codes).
// usage: node --require redirect.js send.js MODE KEYFILE
//   MODE main: sends and a batch; prints "ok ..." / "FAIL ..." lines
//   MODE quota: three sends to one token; the third must be refused (429)
'use strict';
const admin = require('firebase-admin');
const [mode, keyfile] = process.argv.slice(2);
const sa = require(keyfile);
const app = admin.initializeApp({credential: admin.credential.cert(sa)});
const m = admin.messaging(app);
const TOK = process.env.FCM_TOKEN, UNREG = process.env.FCM_UNREG;
let fails = 0;
function check(ok, what, got) {
  if (!ok) fails++;
  console.log((ok ? 'ok   ' : 'FAIL ') + what + (ok ? '' : ': got ' + JSON.stringify(got)));
}
const NAME = new RegExp('^projects/' + sa.project_id + '/messages/0:\\d{16}%[0-9a-f]{16}$');

async function expectError(p, code, what) {
  try {
    const r = await p;
    check(false, what, r);
  } catch (e) {
    check(e.code === code, what + ' -> ' + code, e.code + ' ' + e.message);
  }
}

async function main() {
  if (mode === 'quota') {
    // --quota 2/60 (429 RESOURCE_EXHAUSTED, no FcmError) or --device-rate 2/600
    // (429 with FcmError QUOTA_EXCEEDED): two sends accepted, the third refused.
    for (let i = 0; i < 2; i++)
      check(NAME.test(await m.send({token: TOK})), 'send within the limit', null);
    await expectError(m.send({token: TOK}), 'messaging/message-rate-exceeded',
                      'send over the limit: ' + process.env.FCM_LIMIT);
    return;
  }
  const name = await m.send({token: TOK, notification: {title: 'Hi', body: 'there'},
                             data: {k: 'v'}, android: {priority: 'high', ttl: 3600 * 1000}});
  check(NAME.test(name), 'send: the message name', name);
  const dry = await m.send({token: TOK}, true);
  check(dry === 'projects/' + sa.project_id + '/messages/fake_message_id', 'dry run: fake_message_id', dry);
  await expectError(m.send({token: UNREG}), 'messaging/registration-token-not-registered',
                    'send to an unregistered token (404 UNREGISTERED)');
  await expectError(m.send({topic: 'news', data: {k: 'x'.repeat(2049)}}), 'messaging/invalid-argument',
                    'send with data over 2048 B to a topic (400 INVALID_ARGUMENT)');
  const batch = await m.sendEach([{token: TOK}, {token: UNREG}, {token: TOK, data: {a: 'b'}}]);
  check(batch.successCount === 2 && batch.failureCount === 1, 'sendEach: 2 sent, 1 failed', batch);
  check(NAME.test(batch.responses[0].messageId) && NAME.test(batch.responses[2].messageId),
        'sendEach: the message names', batch.responses);
  const e = batch.responses[1].error;
  check(!batch.responses[1].success && e && e.code === 'messaging/registration-token-not-registered',
        'sendEach: the unregistered token', e && e.code);
  const many = await m.sendEach(Array.from({length: 120}, (_, i) => ({token: TOK, data: {i: String(i)}})));
  check(many.successCount === 120, 'sendEach: 120 messages over one HTTP/2 session', many.failureCount);
}

main().then(() => app.delete()).then(() => process.exit(fails ? 1 : 0), (err) => {
  console.log('FAIL ' + (err && err.stack || err));
  process.exit(1);
});
