// Next-Auth 4 (pages router) configuration of the Kith test peer, as in seed 003:
// CredentialsProvider against the seeded users (password "pw"), JWT session
// strategy, the backend token in session.token (and session.accessToken).
//
// Additions over seed 003, for Kith's integration tests:
// - the backend token (HS256, ACCESS_TTL_SECONDS) is re-minted by the jwt
//   callback on a session read when it is expired or about to expire;
// - every session gets a random id (token.sid) and the current session epoch
//   (token.epoch) at sign-in; sign-out revokes the sid, POST
//   /__test__/expire-sessions bumps the epoch. A session read of a revoked or
//   old-epoch session makes the jwt callback throw SessionRevokedError, which
//   next-auth 4.24 handles exactly like an undecodable/expired session cookie:
//   it answers `{}` and clears the session cookie (Set-Cookie ...; Max-Age=0).
//   (Returning a token without accessToken would not do: next-auth 4.24 would
//   still answer {"user":…,"expires":…} and re-set the cookie.)
import NextAuth from "next-auth";
import CredentialsProvider from "next-auth/providers/credentials";
import crypto from "crypto";
import peer from "../../../lib/peer";

class SessionRevokedError extends Error {
  constructor(message) {
    super(message);
    this.name = "SessionRevokedError";
  }
}

function withBackendToken(token, user) {
  const { token: accessToken, exp } = peer.mintAccess(user);
  token.accessToken = accessToken;
  token.accessTokenExpires = exp; // epoch seconds
  return token;
}

export const authOptions = {
  // Test secret, public on purpose (see lib/peer.js). Never reuse it.
  secret: peer.NEXTAUTH_SECRET,
  session: {
    strategy: "jwt",
    maxAge: peer.config.sessionMaxAgeSeconds,
  },
  // next-auth 4.24 encodes the cookie JWE at sign-in with jwt.maxAge, whose
  // default is 30 days whatever session.maxAge says (session reads re-encode
  // with session.maxAge). Pin it, so a cookie is dead server-side after
  // SESSION_MAX_AGE_SECONDS (+ the 15 s clock tolerance of next-auth's decode).
  jwt: {
    maxAge: peer.config.sessionMaxAgeSeconds,
  },
  providers: [
    CredentialsProvider({
      name: "Kith test peer",
      credentials: {
        username: { label: "Username", type: "text" },
        password: { label: "Password", type: "password" },
      },
      async authorize(credentials) {
        const user = peer.checkPassword(credentials && credentials.username, credentials && credentials.password);
        if (!user) {
          peer.counters.failed_sign_ins++;
          peer.log(`sign-in refused: ${JSON.stringify(credentials && credentials.username)}`);
          return null;
        }
        return { id: String(user.id), name: user.username };
      },
    }),
  ],
  callbacks: {
    async jwt({ token, user }) {
      if (user) {
        // Sign-in (POST /api/auth/callback/credentials).
        const u = peer.userById(user.id);
        token.user_id = u.id;
        token.username = u.username;
        token.sid = crypto.randomUUID();
        token.epoch = peer.sessions.epoch;
        peer.counters.sign_ins++;
        peer.log(`signed in: ${u.username} sid=${token.sid}`);
        return withBackendToken(token, u);
      }
      // A session read (GET /api/auth/session, or POST for an update).
      if (typeof token.sid !== "string" || peer.isRevoked(token.sid)) {
        peer.counters.session_rejected++;
        throw new SessionRevokedError(`session ${token.sid} is signed out`);
      }
      if (token.epoch !== peer.sessions.epoch) {
        peer.counters.session_rejected++;
        throw new SessionRevokedError(`session ${token.sid} expired (epoch ${token.epoch} < ${peer.sessions.epoch})`);
      }
      const u = peer.userById(token.user_id);
      if (!u) throw new SessionRevokedError(`session ${token.sid}: unknown user ${token.user_id}`);
      const left = (typeof token.accessTokenExpires === "number" ? token.accessTokenExpires : 0) - Date.now() / 1000;
      if (!token.accessToken || left <= peer.config.refreshMarginSeconds) {
        peer.counters.session_mints++;
        return withBackendToken(token, u);
      }
      return token;
    },
    async session({ session, token }) {
      session.token = token.accessToken; // seed 003
      session.accessToken = token.accessToken;
      session.accessTokenExpires = token.accessTokenExpires;
      session.user = { ...(session.user || {}), id: token.user_id, username: token.username };
      return session;
    },
  },
  events: {
    async signOut({ token }) {
      peer.counters.sign_outs++;
      if (token && typeof token.sid === "string") {
        peer.revokeSession(token.sid);
        peer.log(`signed out: ${token.username} sid=${token.sid}`);
      }
    },
  },
  logger: {
    error(code, metadata) {
      const err = metadata && (metadata.error || metadata);
      if (code === "JWT_SESSION_ERROR" && err && err.name === "SessionRevokedError") {
        peer.log(`session refused: ${err.message}`);
        return;
      }
      if (code === "JWT_SESSION_ERROR") {
        peer.log(`[next-auth][error][${code}] ${(err && err.message) || ""}`);
        return;
      }
      peer.log(`[next-auth][error][${code}]`, (err && (err.stack || err.message)) || JSON.stringify(metadata));
    },
    warn(code) {
      peer.log(`[next-auth][warn][${code}]`);
    },
    debug() {},
  },
};

export default NextAuth(authOptions);
