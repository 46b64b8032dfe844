// A real OpenID Connect provider for the clinic sign-in tests: panva's certified oidc-provider with its
// development login and consent pages (any user name signs in; the name becomes the subject).
//
//   node oidc_provider.mjs CLIENTS_JSON
//
// CLIENTS_JSON is a JSON list of oidc-provider client metadata (client_id, client_secret, redirect_uris).
// Listens on localhost at a free port and prints one line "READY <issuer>" on stdout when it serves.
// Test-only: never run it as a clinic's identity provider.
import http from "node:http";
import { generateKeyPair, exportJWK } from "jose";
import Provider from "oidc-provider";

const clients = JSON.parse(process.argv[2] || "[]");
const { privateKey } = await generateKeyPair("RS256", { extractable: true });
const jwk = { ...(await exportJWK(privateKey)), kid: "test-key-1", alg: "RS256", use: "sig" };

let handler = (req, res) => { res.statusCode = 503; res.end(); };
const server = http.createServer((req, res) => handler(req, res));
server.listen(0, "127.0.0.1", () => {
  const issuer = `http://localhost:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients,
    jwks: { keys: [jwk] },
    cookies: { keys: ["test-cookie-key-not-secret"] },
    pkce: { required: () => true },
    claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"] },
    features: { devInteractions: { enabled: true } },
    async findAccount(ctx, sub) {
      return {
        accountId: sub,
        async claims() {
          return { sub, email: `${sub}@clinic.test`, email_verified: true, name: `Test user ${sub}` };
        },
      };
    },
  });
  provider.on("server_error", (ctx, err) => console.error("oidc-provider error:", err));
  handler = provider.callback();
  console.log(`READY ${issuer}`);
});
for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => server.close(() => process.exit(0)));
