"""Token accounting: usage → tokens → cost, the usage ledger and chargeback."""
