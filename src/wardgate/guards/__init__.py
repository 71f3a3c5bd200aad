"""The guards stage (issue 14): offline checks of prompts and answers (injection, PII, secrets, size, custom
patterns) that block, redact or warn, streams included. Assembled only when `guards:` is configured."""
