// Free users on a network that blocks direct calling: the STUN attempt fails, both phones show
// the upgrade prompt, and the relay is never asked for anything: cvadmin minted no TURN
// credential (it was not even asked), cvrelay made no allocation, its ledger is empty.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { MESSAGES } from '../../../clients/web/callvault.js';
import { approveEachOther, env, topology, visibleText, withCall } from '../lib/harness.mjs';
import { metricSum } from '../lib/stack.mjs';

test(
  'Free on a restrictive network: upgrade prompt, no TURN credential, no allocation',
  {
    timeout: env.deadlineMs,
  },
  async () => {
    await withCall(
      { tiers: ['free', 'free'], video: true, name: 'free-restricted' },
      async ({ stack, phones, shot }) => {
        const [alice, bob] = phones;
        await approveEachOther(phones);
        await alice.role('call').click();

        // STUN only, audio-only: a Free call has no video before a direct route exists.
        const trying = await alice.waitFor('call session', (s) => s.phase === 'connecting', 15000);
        assert.equal(trying.mode, 'stun');
        assert.equal(trying.relayAllowed, false);
        assert.deepEqual(trying.video, { wanted: true, allowed: false });
        await bob.waitFor('answer', (s) => s.phase === 'connecting', 15000);
        await shot(alice, '1-connecting');

        // ICE: "checking", then "disconnected" (about 15 s in Chromium), then 8 s more.
        for (const p of phones) {
          const s = await p.waitFor('upgrade prompt', (st) => st.prompt !== null, 45000);
          assert.equal(s.phase, 'blocked');
          assert.equal(s.prompt.message, MESSAGES.BLOCKED);
          assert.deepEqual(
            s.prompt.actions.map((a) => a.label),
            ['Try again', 'Switch to audio-only'],
          );
          assert.equal(s.indicator, null);
          assert.equal(s.mode, 'stun');
          assert.equal(s.video.allowed, false);
          assert.equal(
            await visibleText(p.role('modal-message')),
            'This network blocks direct calling. Upgrade for Relay Mode (reliable on mobile data).',
          );
          assert.equal(await visibleText(p.root.locator('[data-action="retry"]')), 'Try again');
          assert.equal(
            await visibleText(p.root.locator('[data-action="audio-only"]')),
            'Switch to audio-only',
          );
          assert.equal(await p.role('notice').isVisible(), false, 'no "Improving connection…"');
          const history = await p.page.evaluate(() => window.cvDemo.history(0));
          assert.ok(
            history.every((h) => !h.video.allowed),
            'video never went out',
          );
          assert.ok(
            history.every((h) => h.notice === null),
            'Free never "improves" to TURN',
          );
        }
        await shot(alice, '2-upgrade-modal');
        await shot(bob, '2-upgrade-modal');

        // The browsers did try each other directly: the network dropped it.
        assert.ok(topology().directPackets() > 0, 'direct packets were sent and dropped');

        // Nothing was asked of the relay.
        const metrics = (await stack.admin('GET', '/metrics')).text;
        assert.equal(metricSum(metrics, 'cvadmin_turn_credentials_total'), 0, 'no TURN credential');
        assert.equal(
          metricSum(metrics, 'cvadmin_requests_total', { route: 'POST /v1/turn-credentials' }),
          0,
          'TURN was never even asked for',
        );
        assert.equal(
          metricSum(metrics, 'cvadmin_call_starts_total', { plan: 'free', result: 'started' }),
          2,
        );
        const counters = await stack.relayCounters();
        assert.equal(counters.allocations_created ?? 0, 0, 'no allocation on the relay');
        assert.deepEqual(await stack.relayAllocations(), []);
        assert.deepEqual(await stack.ledger('SELECT count(*) AS n FROM allocations'), [{ n: 0 }]);

        // "Switch to audio-only": the prompt goes, the call tries again, audio only.
        await alice.root.locator('[data-action="audio-only"]').click();
        const retrying = await alice.waitFor('retry', (s) => s.prompt === null, 5000);
        assert.equal(retrying.phase, 'connecting');
        assert.deepEqual(retrying.video, { wanted: false, allowed: false });
        assert.equal(await alice.role('modal').isVisible(), false);
        await shot(alice, '3-audio-only-retry');
      },
    );
  },
);
