// Verifies a cvadmin call session token with jose against cvadmin's published JWKS.
// Usage: node verify_token.mjs <jwks-url> <issuer> <token>
// Prints the verified payload as JSON and exits 0, or prints jose's error code and exits 1.
import { createRemoteJWKSet, jwtVerify } from 'jose';

const [jwksUrl, issuer, token] = process.argv.slice(2);
try {
  const jwks = createRemoteJWKSet(new URL(jwksUrl));
  const { payload, protectedHeader } = await jwtVerify(token, jwks, {
    issuer,
    algorithms: ['EdDSA'],
  });
  console.log(JSON.stringify({ header: protectedHeader, payload }));
} catch (err) {
  console.log(err.code ?? err.name);
  process.exit(1);
}
