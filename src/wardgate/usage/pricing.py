"""Prices per model and the exact cost of a call.

Prices are USD per 1M tokens, as providers publish them, held as ``Decimal`` so that costs add up exactly; the ledger
stores integer nano-dollars (``to_nanousd``). The catalog (``catalog.json``, shipped with the package) is read once into
frozen objects; a deployment's ``price:`` in the config overrides it. Nothing here does I/O at request time.

A call is priced by kind of token, following ``Usage``'s convention (input includes cache reads and writes, output
includes reasoning)::

    (input - cached - cache_write) × input  +  cached × cached_input  +  cache_write × cache_write
    + (output - reasoning) × output  +  reasoning × reasoning

A missing ``cached_input`` or ``cache_write`` price falls back to ``input``, a missing ``reasoning`` price to ``output``
(within a tier, to the tier's own input and output).

Long-context tiers follow the rule OpenAI (gpt-5.4, over 272K), Anthropic (Sonnet 4/4.5 with 1M context, over 200K)
and Google (Gemini 2.5 Pro, over 200K) share: when the prompt, cached and cache-write tokens included, exceeds the
threshold, every token of the request is priced at the tier's rates.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from functools import cache, lru_cache
from importlib.resources import files
from types import MappingProxyType
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from wardgate.core.usage import Usage

PER_MILLION = Decimal(1_000_000)
PER_THOUSAND = Decimal(1_000)
_NANO = Decimal(1_000_000_000)
_EXACT = Context(prec=60)  # wide enough that no sum of token counts × prices is ever rounded

NonNegative = Annotated[Decimal, Field(ge=0)]


@dataclass(frozen=True, slots=True)
class PriceTier:
    """The rates of a whole request whose prompt exceeds ``above_input_tokens``; USD per 1M tokens."""

    above_input_tokens: int
    input: Decimal
    output: Decimal = Decimal(0)
    cached_input: Decimal | None = None
    cache_write: Decimal | None = None
    reasoning: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Price:
    """USD per 1M tokens by kind of token. ``None`` means "the same as input" (cache) or "as output" (reasoning)."""

    input: Decimal
    output: Decimal = Decimal(0)
    cached_input: Decimal | None = None
    cache_write: Decimal | None = None
    reasoning: Decimal | None = None
    batch_discount: Decimal | None = None  # fraction taken off the whole cost of a batch call, e.g. 0.5
    tiers: tuple[PriceTier, ...] = ()  # ascending by threshold
    search_units: Decimal | None = None  # USD per 1,000 rerank search units (Cohere bills searches, not tokens)
    audio_minute: Decimal | None = None  # USD per minute of audio transcribed or translated
    characters: Decimal | None = None  # USD per 1M characters of speech synthesised
    images: tuple[tuple[str, Decimal], ...] = ()  # USD per image by "<size>/<quality>", "<size>" or "default"
    video_seconds: tuple[tuple[str, Decimal], ...] = ()  # USD per second of video by "<size>" or "default"
    audio_input: Decimal | None = None  # USD per 1M audio input tokens (Realtime); None: as text input
    audio_output: Decimal | None = None  # USD per 1M audio output tokens (Realtime); None: as text output

    def video_price(self, size: str | None) -> Decimal | None:
        table = dict(self.video_seconds)
        for key in [size, "default"]:
            if key in table:
                return table[key]
        return None

    def image_price(self, kind: str | None) -> Decimal | None:
        """The price of one image of ``kind`` ("<size>/<quality>"): that exact kind, else its size, else default."""
        table = dict(self.images)
        candidates = [kind, kind.split("/")[0]] if kind else []
        for key in [*candidates, "default"]:
            if key in table:
                return table[key]
        return None

    @classmethod
    def from_config(cls, config: PriceConfig, *, batch_discount: Decimal | None = None) -> Price:
        """A price from the config (or a catalog entry); ``batch_discount`` is the default the entry may override."""
        return cls(
            input=config.input,
            output=config.output,
            cached_input=config.cached_input,
            cache_write=config.cache_write,
            reasoning=config.reasoning,
            batch_discount=config.batch_discount if config.batch_discount is not None else batch_discount,
            search_units=config.search_units,
            audio_minute=config.audio_minute,
            characters=config.characters,
            images=tuple(sorted(config.images.items())),
            video_seconds=tuple(sorted(config.video_seconds.items())),
            audio_input=config.audio_input,
            audio_output=config.audio_output,
            tiers=tuple(
                PriceTier(t.above_input_tokens, t.input, t.output, t.cached_input, t.cache_write, t.reasoning)
                for t in config.tiers
            ),
        )

    def tier_for(self, input_tokens: int) -> PriceTier | None:
        """The highest tier whose threshold the prompt exceeds, or None for the base rates."""
        chosen = None
        for tier in self.tiers:
            if input_tokens > tier.above_input_tokens:
                chosen = tier
        return chosen


def cost(usage: Usage, price: Price, *, batch: bool = False) -> Decimal:
    """The exact USD cost of ``usage`` at ``price``.

    Counts that contradict each other (more cached than input tokens) are clamped at zero rather than raised:
    accounting runs after the answer has been sent, and a provider's odd usage must not lose the ledger event.
    """
    rates: PriceTier | Price = price.tier_for(usage.input_tokens) or price
    input_rate = rates.input
    output_rate = rates.output
    cached_rate = rates.cached_input if rates.cached_input is not None else input_rate
    write_rate = rates.cache_write if rates.cache_write is not None else input_rate
    reasoning_rate = rates.reasoning if rates.reasoning is not None else output_rate
    cached = max(usage.cached_tokens, 0)
    written = max(usage.cache_write_tokens, 0)
    reasoning = max(usage.reasoning_tokens, 0)
    uncached = max(usage.input_tokens - cached - written, 0)
    answered = max(usage.output_tokens - reasoning, 0)
    with localcontext(_EXACT):
        total = (
            uncached * input_rate
            + cached * cached_rate
            + written * write_rate
            + answered * output_rate
            + reasoning * reasoning_rate
        ) / PER_MILLION
        if usage.search_units > 0 and price.search_units is not None:
            total += usage.search_units * price.search_units / PER_THOUSAND
        if usage.audio_seconds > 0 and price.audio_minute is not None:
            total += Decimal(str(usage.audio_seconds)) * price.audio_minute / 60
        if usage.characters > 0 and price.characters is not None:
            total += usage.characters * price.characters / PER_MILLION
        if usage.images > 0:
            per_image = price.image_price(usage.image_kind)
            if per_image is not None:
                total += usage.images * per_image
        if usage.audio_input_tokens > 0 and price.audio_input is not None:  # uncached audio at the audio rate
            total += min(usage.audio_input_tokens, uncached) * (price.audio_input - input_rate) / PER_MILLION
        if usage.audio_output_tokens > 0 and price.audio_output is not None:
            total += min(usage.audio_output_tokens, answered) * (price.audio_output - output_rate) / PER_MILLION
        if usage.video_seconds > 0:
            per_second = price.video_price(usage.video_size)
            if per_second is not None:
                total += Decimal(str(usage.video_seconds)) * per_second
        if batch and price.batch_discount is not None:
            total *= 1 - price.batch_discount
        return total


@dataclass(frozen=True, slots=True)
class TokenRates:
    """A price's token rates as whole nano-dollars per token, where every rate is one (USD per 1M tokens with at
    most three decimals, as providers publish them): a call with tokens only is then priced in integers, exactly as
    ``to_nanousd(cost(...))`` prices it, at a fraction of the cost of ``Decimal`` arithmetic."""

    input: int
    output: int
    cached_input: int
    cache_write: int
    reasoning: int
    below_tiers: int  # the prompt sizes (input tokens) up to which the base rates apply

    @classmethod
    def of(cls, price: Price) -> TokenRates | None:
        rates = [
            price.input,
            price.output,
            price.cached_input if price.cached_input is not None else price.input,
            price.cache_write if price.cache_write is not None else price.input,
            price.reasoning if price.reasoning is not None else price.output,
        ]
        whole: list[int] = []
        for rate in rates:
            nano = rate * 1000  # USD per 1M tokens → nano-USD per token
            if nano != nano.to_integral_value():
                return None
            whole.append(int(nano))
        below = min((t.above_input_tokens for t in price.tiers), default=1 << 62)
        return cls(whole[0], whole[1], whole[2], whole[3], whole[4], below)

    def nanousd(self, usage: Usage) -> int | None:
        """The cost of a tokens-only ``usage`` in nano-dollars; None when it bills something else too (or reaches a
        long-context tier): ``cost`` prices those."""
        if (
            usage.input_tokens > self.below_tiers
            or usage.search_units
            or usage.audio_seconds
            or usage.characters
            or usage.images
            or usage.audio_input_tokens
            or usage.audio_output_tokens
            or usage.video_seconds
        ):
            return None
        cached = max(usage.cached_tokens, 0)
        written = max(usage.cache_write_tokens, 0)
        reasoning = max(usage.reasoning_tokens, 0)
        uncached = max(usage.input_tokens - cached - written, 0)
        answered = max(usage.output_tokens - reasoning, 0)
        return (
            uncached * self.input
            + cached * self.cached_input
            + written * self.cache_write
            + answered * self.output
            + reasoning * self.reasoning
        )


def to_nanousd(amount: Decimal) -> int:
    """USD as integer nano-dollars, rounded half up (the ledger's unit: exact sums, no floats)."""
    with localcontext(_EXACT):
        return int((amount * _NANO).quantize(Decimal(1), rounding=ROUND_HALF_UP))


# -- config ---------------------------------------------------------------------------------------------------------


class PriceTierConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    above_input_tokens: Annotated[int, Field(gt=0)]
    input: NonNegative
    output: NonNegative = Decimal(0)
    cached_input: NonNegative | None = None
    cache_write: NonNegative | None = None
    reasoning: NonNegative | None = None


class PriceConfig(BaseModel):
    """A deployment's ``price:``, USD per 1M tokens; it replaces the catalog's price for that deployment whole."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: NonNegative
    output: NonNegative = Decimal(0)  # embeddings models bill input only
    cached_input: NonNegative | None = None
    cache_write: NonNegative | None = None
    reasoning: NonNegative | None = None
    batch_discount: Annotated[Decimal, Field(ge=0, le=1)] | None = None
    tiers: tuple[PriceTierConfig, ...] = ()
    search_units: NonNegative | None = None  # USD per 1,000 rerank search units
    audio_minute: NonNegative | None = None  # USD per minute of audio (transcriptions, translations)
    characters: NonNegative | None = None  # USD per 1M characters (text-to-speech)
    images: dict[str, NonNegative] = Field(default_factory=dict)  # USD per image by "<size>/<quality>" or "<size>"
    video_seconds: dict[str, NonNegative] = Field(default_factory=dict)  # USD per second of video by "<size>"
    audio_input: NonNegative | None = None  # USD per 1M audio input tokens (Realtime)
    audio_output: NonNegative | None = None  # USD per 1M audio output tokens (Realtime)

    @model_validator(mode="after")
    def _tiers_ascending(self) -> PriceConfig:
        thresholds = [tier.above_input_tokens for tier in self.tiers]
        if thresholds != sorted(set(thresholds)):
            raise ValueError("tiers must be listed by ascending, distinct above_input_tokens")
        return self


# -- catalog --------------------------------------------------------------------------------------------------------


class _CatalogModel(PriceConfig):
    aliases: tuple[str, ...] = ()


class _CatalogFamily(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    provider_types: tuple[str, ...]
    source: Annotated[str, Field(pattern=r"^https://")]
    as_of: date
    batch_discount: Annotated[Decimal, Field(ge=0, le=1)] | None = None
    notes: str = ""
    models: dict[str, _CatalogModel]


class _CatalogFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    about: str
    unit: str
    families: dict[str, _CatalogFamily]


@dataclass(frozen=True, slots=True)
class PriceFamily:
    """One provider's prices, with where and when they were read."""

    name: str
    provider_types: tuple[str, ...]
    source: str
    as_of: date
    prices: Mapping[str, Price]  # model id or alias → price


_DATE_SUFFIX = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|\d{8})$")  # gpt-4o-mini-2024-07-18, claude-3-5-haiku-20241022
_BEDROCK_PROFILE = re.compile(r"^(?:us|eu|apac|jp|au|ca|us-gov|global)\.(?=[a-z]+\.)")  # us.anthropic.claude-…


def normalise_model_id(model: str) -> str:
    """The catalog key a provider's spelling of a model maps to.

    Strips Gemini's ``models/`` prefix, Vertex's ``@version``, a Bedrock inference-profile region prefix and a trailing
    snapshot date. Exact ids are always tried first, so a dated snapshot priced apart (gpt-4o-2024-05-13) or a
    ``global.`` profile listed apart keeps its own price.
    """
    model = model.removeprefix("models/").split("@", 1)[0]
    model = _BEDROCK_PROFILE.sub("", model)
    return _DATE_SUFFIX.sub("", model)


class Catalog:
    """The shipped price catalog, read once; lookups are pure and cached."""

    def __init__(self, families: Mapping[str, PriceFamily]) -> None:
        self.families: Mapping[str, PriceFamily] = MappingProxyType(dict(families))
        by_type: dict[str, list[PriceFamily]] = {}
        for family in self.families.values():
            for provider_type in family.provider_types:
                by_type.setdefault(provider_type, []).append(family)
        self._by_type = {name: tuple(found) for name, found in by_type.items()}
        self._cached_lookup = lru_cache(maxsize=4096)(self._find)  # ids come from the config: a bounded set

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Catalog:
        parsed = _CatalogFile.model_validate(data)
        families = {}
        for name, family in parsed.families.items():
            prices: dict[str, Price] = {}
            for model_id, entry in family.models.items():
                price = Price.from_config(entry, batch_discount=family.batch_discount)
                for key in (model_id, *entry.aliases):
                    if key in prices:
                        raise ValueError(f"catalog: {name}: {key!r} is listed twice")
                    prices[key] = price
            families[name] = PriceFamily(
                name, family.provider_types, family.source, family.as_of, MappingProxyType(prices)
            )
        return cls(families)

    def lookup(self, provider_type: str, model: str) -> Price | None:
        """The list price of ``model`` as ``provider_type`` names it: exact id first, then the normalised id."""
        return self._cached_lookup(provider_type, model)

    def _find(self, provider_type: str, model: str) -> Price | None:
        families = self._by_type.get(provider_type, ())
        for candidate in dict.fromkeys((model, normalise_model_id(model))):
            for family in families:
                if (price := family.prices.get(candidate)) is not None:
                    return price
        return None


@cache
def load_catalog() -> Catalog:
    """The catalog shipped in this package, parsed once per process."""
    text = files("wardgate.usage").joinpath("catalog.json").read_text(encoding="utf-8")
    return Catalog.from_json(json.loads(text, parse_float=Decimal))


class PriceTable:
    """What each deployment costs: its config ``price:`` when it has one, else the catalog's list price."""

    def __init__(self, catalog: Catalog, overrides: Mapping[str, PriceConfig] | None = None) -> None:
        self._catalog = catalog
        self._overrides = {name: Price.from_config(config) for name, config in (overrides or {}).items()}

    def for_deployment(self, deployment_name: str, provider_type: str, upstream_model: str) -> Price | None:
        override = self._overrides.get(deployment_name)
        if override is not None:
            return override
        return self._catalog.lookup(provider_type, upstream_model)
