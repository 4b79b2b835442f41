#!/usr/bin/env node
// node-apn-bench.js - @parse/node-apn in its idiomatic use, as a peer for
// bench/compare: one apn.Provider (token auth, one HTTP/2 session), one
// apn.Notification, provider.send(note, token) awaited by N concurrent
// workers (N = the stream concurrency given to the other clients), until
// --count notifications are answered. Prints one JSON object.
//
//   node node-apn-bench.js --host 127.0.0.1 --port 2197 --ca ca.pem \
//     --key-file AuthKey.p8 --key-id KEYID --team-id TEAMID \
//     --tokens-file tokens.txt --payload-file payload.json \
//     --topic com.example.app --count 200000 --concurrency 100
'use strict';

const fs = require('fs');
const apn = require('@parse/node-apn');

function parseArgs(argv) {
  const a = {
    host: '127.0.0.1',
    port: 2197,
    topic: 'com.example.app',
    count: 100000,
    concurrency: 100,
    pushType: 'alert',
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[i + 1];
    const need = () => {
      if (v === undefined) throw new Error(`${k} needs a value`);
      i++;
      return v;
    };
    switch (k) {
      case '--host': a.host = need(); break;
      case '--port': a.port = Number(need()); break;
      case '--ca': a.ca = need(); break;
      case '--key-file': a.keyFile = need(); break;
      case '--key-id': a.keyId = need(); break;
      case '--team-id': a.teamId = need(); break;
      case '--tokens-file': a.tokensFile = need(); break;
      case '--payload-file': a.payloadFile = need(); break;
      case '--topic': a.topic = need(); break;
      case '--push-type': a.pushType = need(); break;
      case '--count': a.count = Number(need()); break;
      case '--concurrency': a.concurrency = Number(need()); break;
      default: throw new Error(`unknown option ${k}`);
    }
  }
  for (const r of ['keyFile', 'keyId', 'teamId', 'tokensFile', 'payloadFile']) {
    if (!a[r]) throw new Error(`missing --${r.replace(/[A-Z]/g, c => '-' + c.toLowerCase())}`);
  }
  return a;
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const tokens = fs.readFileSync(a.tokensFile, 'utf8').split('\n').map(s => s.trim())
    .filter(s => s && !s.startsWith('#'));
  const payloadText = fs.readFileSync(a.payloadFile, 'utf8').replace(/\r?\n$/, '');
  const payload = JSON.parse(payloadText);

  const provider = new apn.Provider({
    token: { key: a.keyFile, keyId: a.keyId, teamId: a.teamId },
    address: a.host,
    port: a.port,
    ca: a.ca ? [a.ca] : null,
    production: false,
  });

  // The idiomatic notification: alert text, topic and push type set through
  // the Notification API; node-apn compiles it to the same bytes as the
  // payload file (checked below, so every client sends the same body).
  const note = new apn.Notification();
  note.alert = payload.aps.alert;
  note.topic = a.topic;
  note.pushType = a.pushType;
  if (note.compile() !== payloadText) {
    throw new Error(`compiled payload differs from ${a.payloadFile}:\n${note.compile()}\n${payloadText}`);
  }

  // One notification first, outside the measurement: it opens the session
  // and lets the server raise SETTINGS_MAX_CONCURRENT_STREAMS (APNs and
  // apns-sim allow 1 stream until a valid provider token arrives, and
  // node-apn does not resend a stream refused with REFUSED_STREAM).
  const warm = await provider.send(note, tokens[0]);
  if (warm.failed.length) {
    process.stderr.write(`node-apn-bench: warm-up notification failed: ${JSON.stringify(warm.failed[0])}\n`);
  }

  let next = 0;
  let sent = 0;
  let failed = 0;
  const reasons = {};
  const t0 = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();

  async function worker() {
    while (next < a.count) {
      const token = tokens[next++ % tokens.length];
      const res = await provider.send(note, token);
      sent += res.sent.length;
      failed += res.failed.length;
      for (const f of res.failed) {
        const why = (f.response && f.response.reason) || (f.error && f.error.message) || String(f.status);
        reasons[why] = (reasons[why] || 0) + 1;
      }
    }
  }

  await Promise.all(Array.from({ length: a.concurrency }, worker));
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  await provider.shutdown();

  const ru = process.resourceUsage();
  const answered = sent + failed;
  const out = {
    tool: 'node-apn',
    version: require('@parse/node-apn/package.json').version,
    node: process.version,
    concurrency: a.concurrency,
    payload_bytes: Buffer.byteLength(note.compile()),
    elapsed_s: elapsed,
    answered,
    accepted: sent,
    failed,
    failed_by_reason: reasons,
    accepted_per_s: sent / elapsed,
    cpu_user_s: cpu.user / 1e6,
    cpu_sys_s: cpu.system / 1e6,
    cpu_s_per_million: answered ? ((cpu.user + cpu.system) / 1e6) / (answered / 1e6) : 0,
    peak_rss_kb: ru.maxRSS,
  };
  process.stdout.write(JSON.stringify(out) + '\n');
  process.exitCode = failed ? 1 : 0;
}

main().catch(e => {
  process.stderr.write(`node-apn-bench: ${e && e.stack ? e.stack : e}\n`);
  process.exit(2);
});
