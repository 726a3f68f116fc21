// Paid users on a network that blocks direct calling: the STUN attempt fails, each phone fetches
// TURN credentials and restarts ICE with them ("Improving connection…"), the call connects
// through cvrelay (texts both ways on the data channel, video both ways), the indicator says
// Relay, and the relay's usage ledger (its SQLite file) records relayed seconds for the user
// whose allocation carries the call, in that user's call session.
//
// Both users get an allocation, but one carries the call: ICE pairs one side's relayed candidate
// with the other's host candidate (relay to relay would be the relay talking to its own address,
// which cvrelay refuses). Which side's it is, the selected pair says.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { MESSAGES } from '../../../clients/web/callvault.js';
import {
  chatBothWays,
  env,
  sleep,
  topology,
  videoFlowsBothWays,
  visibleText,
  withCall,
} from '../lib/harness.mjs';
import { metricSum, metricValue } from '../lib/stack.mjs';

test(
  'Paid on a restrictive network: TURN retry, connected through the relay, metered',
  {
    timeout: env.deadlineMs,
  },
  async () => {
    await withCall(
      { tiers: ['pro', 'pro'], video: true, name: 'paid-restricted' },
      async ({ stack, phones, shot }) => {
        const [alice, bob] = phones;

        // The TURN requests are held until "Improving connection…" is on both screens (the notice
        // lasts as long as the request and the ICE restart, usually well under a second; and the
        // first phone through would connect the call for both).
        let release;
        const held = new Promise((resolve) => {
          release = resolve;
        });
        let turnRequests = 0;
        for (const p of phones) {
          await p.page.route('**/v1/turn-credentials', async (route) => {
            turnRequests++;
            await held;
            await route.continue();
          });
        }

        await alice.role('call').click();
        const trying = await alice.waitFor('call session', (s) => s.phase === 'connecting', 15000);
        assert.equal(trying.mode, 'stun', 'STUN first, even for an entitled plan');
        assert.equal(trying.relayAllowed, true);
        assert.equal(
          metricSum((await stack.admin('GET', '/metrics')).text, 'cvadmin_turn_credentials_total'),
          0,
          'no TURN credential before the direct attempt failed',
        );

        // ICE "disconnected" (about 15 s in Chromium) for 8 s more: TURN.
        for (const p of phones) {
          const improving = await p.waitFor(
            '"Improving connection…"',
            (s) => s.notice !== null,
            45000,
          );
          assert.equal(improving.notice, MESSAGES.IMPROVING);
          assert.equal(improving.prompt, null, 'no prompt for an entitled user');
          assert.equal(improving.phase, 'connecting', 'not blocked');
          assert.equal(await visibleText(p.role('notice')), 'Improving connection…');
          assert.equal(await p.role('modal').isVisible(), false);
          assert.equal(await p.role('hangup').isEnabled(), true, 'the call goes on meanwhile');
        }
        await shot(alice, '1-improving');
        assert.equal(turnRequests, 2);
        release();

        for (const p of phones) {
          const s = await p.waitFor(
            'relayed call',
            (st) => st.phase === 'connected' && st.indicator === 'Relay',
            20000,
          );
          assert.equal(s.route, 'relay');
          assert.equal(s.mode, 'turn');
          assert.equal(s.notice, null);
          assert.equal(s.video.allowed, true, 'paid plans have video on the relay');
          assert.equal(await visibleText(p.role('indicator')), 'Relay');
        }
        await chatBothWays(phones);
        await videoFlowsBothWays(phones);
        await shot(alice, '2-relay-connected');
        await shot(bob, '2-relay-connected');
        assert.equal(topology().directPackets() > 0, true, 'the direct attempt was dropped');

        // cvadmin: one credential each, both calls reported on the relay route.
        const metrics = (await stack.admin('GET', '/metrics')).text;
        assert.equal(
          metricValue(metrics, 'cvadmin_turn_credentials_total', { plan: 'pro', result: 'issued' }),
          2,
        );
        assert.equal(metricSum(metrics, 'cvadmin_route_reports_total', { route: 'relay' }), 2);

        // The relay: live allocations of both users, each for its own call session.
        const sessions = {};
        for (const p of phones) sessions[p.user.id] = (await p.status()).sessionId;
        const live = await stack.relayAllocations();
        for (const user of ['alice', 'bob']) {
          assert.ok(
            live.some((a) => a.user === user && a.session === sessions[user]),
            `${user} relays in call ${sessions[user]}: ${JSON.stringify(live)}`,
          );
        }

        // Whose allocation carries the call: a side whose selected local candidate is relayed
        // (usually one side; for a moment each side may send through its own).
        const routes = await Promise.all(
          phones.map((p) => p.page.evaluate(() => window.cvDemo.route(0))),
        );
        const carriers = ['alice', 'bob'].filter((_, i) => routes[i].local.type === 'relay');
        assert.ok(carriers.length > 0, JSON.stringify(routes));

        // The ledger (SQLite, checkpointed every second): relayed seconds for that user and call.
        const query =
          'SELECT user, session, plan, sum(relayed_ms) AS relayed_ms, ' +
          'sum(bytes_to_peer) AS up, sum(bytes_to_client) AS down ' +
          'FROM allocations GROUP BY user, session ORDER BY user';
        const carrying = (rows) =>
          rows.find((r) => carriers.includes(r.user) && r.relayed_ms >= 2000);
        let rows = [];
        const until = Date.now() + 15000;
        while (Date.now() < until) {
          rows = await stack.ledger(query);
          if (carrying(rows)) break;
          await sleep(500);
        }
        // A live allocation is in the ledger once it has relayed (docs/usage.md): the side whose
        // allocation only stood by has no row until it ends. Every row is its user's own call.
        for (const r of rows) {
          assert.deepEqual([r.session, r.plan], [sessions[r.user], 'pro'], JSON.stringify(rows));
        }
        const carried = carrying(rows);
        assert.ok(carried, `≥ 2 s relayed for ${carriers}: ${JSON.stringify(rows)}`);
        assert.ok(
          carried.up > 0 && carried.down > 0,
          `bytes both ways: ${JSON.stringify(carried)}`,
        );
        const daily = await stack.ledger(
          `SELECT user, relayed_ms FROM usage_daily WHERE user = '${carried.user}'`,
        );
        assert.equal(daily.length, 1);
        assert.ok(daily[0].relayed_ms >= 2000, JSON.stringify(daily));
        console.log(
          `relayed through ${carried.user}'s allocation (call ${carried.session}): ` +
            `${carried.relayed_ms} ms, ${carried.up} bytes to peer, ${carried.down} bytes to client`,
        );

        // Hang up: both sides end, cvadmin hears it, the allocations go.
        await alice.role('hangup').click();
        await bob.waitFor('end', (s) => s.phase === 'ended', 10000);
        let ended = 0;
        for (let i = 0; i < 50 && ended < 2; i++) {
          if (i > 0) await sleep(100);
          const text = (await stack.admin('GET', '/metrics')).text;
          ended = metricSum(text, 'cvadmin_call_sessions_ended_total', { reason: 'client' });
        }
        assert.equal(ended, 2, 'both sessions ended by their clients');
      },
    );
  },
);
