// Signs cvadmin requests with Node's own Ed25519, following only the format in docs/cvadmin.md.
//   node sign_request.mjs keygen
//       → {"x": <public key, base64url>, "d": <private seed, base64url>}
//   node sign_request.mjs sign <x> <d> <user> <timestamp> <nonce> <METHOD> <target> <body>
//       → {"signature": <base64url>}
import { createHash, createPrivateKey, generateKeyPairSync, sign } from 'node:crypto';

const [command, ...args] = process.argv.slice(2);
if (command === 'keygen') {
  const { privateKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  console.log(JSON.stringify({ x: jwk.x, d: jwk.d }));
} else if (command === 'sign') {
  const [x, d, user, timestamp, nonce, method, target, body] = args;
  const digest = createHash('sha256').update(`${method}\n${target}\n${body}`).digest('hex');
  const message = `CV1-ED25519\n${user}\n${timestamp}\n${nonce}\n${digest}`;
  const key = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', x, d }, format: 'jwk' });
  console.log(JSON.stringify({ signature: sign(null, Buffer.from(message), key).toString('base64url') }));
} else {
  console.error('usage: sign_request.mjs keygen | sign <x> <d> <user> <ts> <nonce> <METHOD> <target> <body>');
  process.exit(2);
}
