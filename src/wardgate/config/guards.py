"""The `guards:` and `guards_stream:` config sections (issue 14): checks on prompts and answers, run inline."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

GuardType = Literal["injection", "pii", "secrets", "topics", "size", "cost", "regex", "tools"]
GuardScope = Literal["global", "project", "team", "user", "key", "model"]
GuardAction = Literal["block", "redact", "pseudonymize", "warn"]
Sensitivity = Literal["strict", "balanced", "permissive"]

PII_ENTITIES = (
    "email",
    "phone",
    "credit_card",
    "iban",
    "ip_address",
    "us_ssn",
    "uk_nino",
    "fr_nir",
    "de_tax_id",
    "es_dni",
    "it_fiscal_code",
    "nl_bsn",
    "pl_pesel",
    "se_personnummer",
    "in_aadhaar",
    "br_cpf",
    "person",
    "address",
)
# names and addresses are heuristic (docs/decisions/049-names-addresses.md): found only when named in `entities`
DEFAULT_PII_ENTITIES = tuple(e for e in PII_ENTITIES if e not in ("person", "address"))
MAX_PATTERNS = 50
MAX_PATTERN_CHARS = 1000


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GuardConfig(_Frozen):
    name: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")]
    type: GuardType
    on: Literal["request", "response", "both"] = "request"
    action: GuardAction = "block"
    scope: GuardScope = "global"
    match: str | None = None  # one scope value (a project name or id, a model …); unset: every value
    sensitivity: Sensitivity = "balanced"
    on_error: Literal["block", "allow"] = "block"
    entities: list[str] | None = None  # pii: the entity types to look for (default: all)
    patterns: list[Annotated[str, Field(min_length=1, max_length=MAX_PATTERN_CHARS)]] = Field(
        default_factory=list
    )  # regex
    max_prompt_tokens: Annotated[int, Field(gt=0)] | None = None  # size
    max_messages: Annotated[int, Field(gt=0)] | None = None  # size
    max_chars: Annotated[int, Field(gt=0)] | None = None  # size
    max_usd: Annotated[Decimal, Field(gt=0, le=1_000_000, allow_inf_nan=False)] | None = None  # cost, per request
    # tools: name globs; topics: topic descriptions
    allow: Annotated[list[Annotated[str, Field(min_length=1, max_length=200)]], Field(max_length=50)] | None = None
    deny: Annotated[list[Annotated[str, Field(min_length=1, max_length=200)]], Field(max_length=50)] = Field(
        default_factory=list
    )

    @model_validator(mode="before")
    @classmethod
    def _yaml_on(cls, data: Any) -> Any:
        """YAML 1.1 reads an unquoted ``on:`` key as the boolean true; it is the ``on`` key here."""
        if isinstance(data, dict) and True in data:
            data = {("on" if k is True else k): v for k, v in data.items()}
        return data

    @field_validator("entities")
    @classmethod
    def _known_entities(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        unknown = [e for e in value if e not in PII_ENTITIES]
        if unknown:
            raise ValueError(f"unknown entity {unknown[0]!r}; known: {', '.join(PII_ENTITIES)}")
        if not value:
            raise ValueError("give at least one entity, or leave `entities` out for the default ones")
        return value

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, value: list[str]) -> list[str]:
        if len(value) > MAX_PATTERNS:
            raise ValueError(f"at most {MAX_PATTERNS} patterns")
        import regex  # here, not at import: a worker without custom patterns never loads it

        for i, pattern in enumerate(value):
            try:
                regex.compile(pattern, regex.V0)
            except regex.error as exc:
                raise ValueError(f"patterns[{i}] is not a valid regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _fits_type(self) -> GuardConfig:
        if self.scope == "global" and self.match is not None:
            raise ValueError("a global guard has no `match`")
        if self.entities is not None and self.type != "pii":
            raise ValueError("`entities` is only for type: pii")
        if self.type == "regex" and not self.patterns:
            raise ValueError("type: regex needs `patterns:`")
        if self.patterns and self.type != "regex":
            raise ValueError("`patterns` is only for type: regex")
        sizes = (self.max_prompt_tokens, self.max_messages, self.max_chars)
        if self.type == "size":
            if all(v is None for v in sizes):
                raise ValueError("type: size needs max_prompt_tokens, max_messages or max_chars")
            if self.action != "block":
                raise ValueError("a size guard can only block")
            if self.on != "request":
                raise ValueError("a size guard checks requests only (on: request)")
        elif any(v is not None for v in sizes):
            raise ValueError("max_prompt_tokens, max_messages and max_chars are only for type: size")
        if self.type == "cost":
            if self.max_usd is None:
                raise ValueError("type: cost needs `max_usd` (the most one request may cost, estimated)")
            if self.action not in ("block", "warn") or self.on != "request":
                raise ValueError("a cost guard checks requests (on: request) and blocks or warns")
        elif self.max_usd is not None:
            raise ValueError("`max_usd` is only for type: cost")
        if self.type == "tools":
            if self.allow is None and not self.deny:
                raise ValueError("type: tools needs `allow:` and/or `deny:` (tool-name globs)")
            if self.action == "redact":
                raise ValueError("a tools guard blocks or warns (action: block | warn)")
        elif self.type == "topics":
            if not self.allow and not self.deny:
                raise ValueError("type: topics needs `deny:` and/or `allow:` (topic descriptions)")
            if self.action not in ("block", "warn") or self.on != "request":
                raise ValueError("a topics guard checks requests (on: request) and blocks or warns")
        elif self.allow is not None or self.deny:
            raise ValueError("`allow` and `deny` are only for type: tools and type: topics")
        if self.action == "pseudonymize" and (self.type != "pii" or self.on == "response"):
            raise ValueError("pseudonymize is for pii guards on requests (on: request | both): answers are restored")
        if self.type == "injection" and self.action == "redact":
            raise ValueError("an injection guard blocks or warns (action: block | warn)")
        if self.type == "injection" and self.on != "request":
            raise ValueError("an injection guard checks requests (on: request): prompts, tool results, documents")
        return self


class GuardsStreamConfig(_Frozen):
    # the most characters of a streamed answer held back at any time, so a value split across chunks is still seen
    holdback_chars: Annotated[int, Field(ge=16, le=4096)] = 64
