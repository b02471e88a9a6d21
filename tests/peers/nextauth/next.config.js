// Next.js config of the Kith Next-Auth test peer (built with `npm run build`).
"use strict";

module.exports = {
  reactStrictMode: true,
  // No ESLint in this test peer.
  eslint: { ignoreDuringBuilds: true },
  // This folder is its own project even though the repository has other lockfiles.
  outputFileTracingRoot: __dirname,
};
