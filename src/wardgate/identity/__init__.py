"""Who is calling: API keys (master and virtual), JWT/OIDC, mTLS → Principal."""
