// Free users on an open network (the router forwards between the two client networks): the call
// connects directly, the indicator says Direct, the relay is not used at all, and video is on
// only once the route is direct (audio-only before).
//
// First, the start-of-call handshake against a network that loses the request: the page retries
// silently (200 / 600 / 1200 ms, a new nonce each time), then shows "Connection handshake
// failed. Tap to retry."; a tap starts the call.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { MESSAGES } from '../../../clients/web/callvault.js';
import {
  approveEachOther,
  chatBothWays,
  env,
  topology,
  videoFlowsBothWays,
  visibleText,
  withCall,
} from '../lib/harness.mjs';
import { metricSum, metricValue } from '../lib/stack.mjs';

test(
  'Free on an open network: direct call, video only on the direct path, no relay use',
  {
    timeout: env.deadlineMs,
  },
  async () => {
    await withCall(
      { tiers: ['free', 'free'], video: true, name: 'free-open' },
      async ({ stack, phones, shot }) => {
        const [alice, bob] = phones;
        await approveEachOther(phones);

        // The network drops the call-session request four times.
        const attempts = [];
        const drop = async (route) => {
          const headers = route.request().headers();
          attempts.push({ at: Date.now(), nonce: headers['x-cv-nonce'] });
          await route.abort('connectionreset');
        };
        await alice.page.route('**/v1/call-sessions', drop);
        await alice.role('call').click();
        const failed = await alice.waitFor('handshake failure', (s) => s.phase === 'failed', 15000);
        assert.deepEqual(failed.error, {
          code: 'HANDSHAKE_FAILED',
          message: MESSAGES.HANDSHAKE_FAILED,
          retryable: true,
        });
        assert.equal(
          await visibleText(alice.role('error')),
          'Connection handshake failed. Tap to retry.',
        );
        assert.equal(attempts.length, 4);
        assert.equal(new Set(attempts.map((a) => a.nonce)).size, 4, 'a new nonce each time');
        const gaps = attempts.slice(1).map((a, i) => a.at - attempts[i].at);
        for (const [i, expected] of [200, 600, 1200].entries()) {
          assert.ok(gaps[i] >= expected - 20 && gaps[i] < expected + 800, `gaps ${gaps}`);
        }
        await shot(alice, '1-handshake-failed');

        // The network is back; a tap on the message starts the call.
        await alice.page.unroute('**/v1/call-sessions', drop);
        await alice.role('error').click();

        for (const p of phones) {
          const s = await p.waitFor(
            'direct call',
            (st) => st.phase === 'connected' && st.indicator === 'Direct',
            20000,
          );
          assert.equal(s.route, 'host', 'no NAT on this network: host to host');
          assert.equal(s.mode, 'stun');
          assert.equal(s.video.allowed, true, 'video on the direct path');
          assert.equal(await visibleText(p.role('indicator')), 'Direct');
        }
        await chatBothWays(phones);
        await videoFlowsBothWays(phones);
        await shot(alice, '2-direct-video');
        await shot(bob, '2-direct-video');

        // Video only on the direct path: no status ever allowed it without a direct route.
        for (const p of phones) {
          const history = await p.page.evaluate(() => window.cvDemo.history(0));
          const early = history.find((h) => h.phase === 'connecting');
          assert.deepEqual(early.video, { wanted: true, allowed: false }, 'audio-only at first');
          for (const h of history.filter((x) => x.video.allowed)) {
            assert.equal(h.phase, 'connected');
            assert.ok(['host', 'srflx', 'prflx'].includes(h.route), JSON.stringify(h));
          }
        }

        // The relay did nothing; the packets went straight through the router.
        assert.ok(topology().directPackets() > 0, 'direct packets forwarded');
        const metrics = (await stack.admin('GET', '/metrics')).text;
        assert.equal(metricSum(metrics, 'cvadmin_turn_credentials_total'), 0);
        assert.equal(
          metricValue(metrics, 'cvadmin_route_reports_total', {
            route: 'host',
            network: 'unknown',
          }),
          2,
        );
        assert.equal(metricSum(metrics, 'cvadmin_route_reports_total', { route: 'relay' }), 0);
        const counters = await stack.relayCounters();
        assert.equal(counters.allocations_created ?? 0, 0);
        assert.deepEqual(await stack.ledger('SELECT count(*) AS n FROM allocations'), [{ n: 0 }]);

        await bob.role('hangup').click();
        await alice.waitFor('end', (s) => s.phase === 'ended', 10000);
      },
    );
  },
);
