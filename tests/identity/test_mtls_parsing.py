"""Reading the forwarded client certificate: Envoy's XFCC and RFC 4514 distinguished names, without I/O."""

from __future__ import annotations

import pytest

from wardgate.config.identity import MTLSConfig
from wardgate.identity.mtls import MTLSIdentity, cert_identity, parse_dn, parse_xfcc

ENVOY = (
    "By=spiffe://cluster.local/ns/ai/sa/wardgate;Hash=468ed33be74eee6556d90c0149c1309e9ba61d6425303443c0748a02dd8de688;"
    'Subject="CN=billing-bot,OU=acme,O=Example Corp,C=US";URI=spiffe://cluster.local/ns/acme/sa/billing-bot'
)


def test_an_envoy_xfcc_element_is_read_into_its_keys() -> None:
    [element] = parse_xfcc(ENVOY)
    assert element["subject"] == ["CN=billing-bot,OU=acme,O=Example Corp,C=US"]
    assert element["uri"] == ["spiffe://cluster.local/ns/acme/sa/billing-bot"]
    assert element["hash"][0].startswith("468ed33b")


def test_xfcc_elements_split_on_commas_outside_quotes_only() -> None:
    elements = parse_xfcc(ENVOY + ',By=spiffe://mesh/edge;Subject="CN=edge,OU=infra";DNS=a.example;DNS=b.example')
    assert len(elements) == 2
    assert elements[1]["dns"] == ["a.example", "b.example"]
    assert elements[1]["subject"] == ["CN=edge,OU=infra"]


def test_an_escaped_quote_inside_a_quoted_xfcc_value_is_kept() -> None:
    [element] = parse_xfcc(r'Subject="CN=say \"hi\",OU=acme"')
    assert element["subject"] == ['CN=say "hi",OU=acme']


@pytest.mark.parametrize("bad", ["", "Subject", 'Subject="CN=x', "By=a;=b"])
def test_malformed_xfcc_is_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_xfcc(bad)


def test_a_dn_keeps_its_written_order() -> None:
    assert parse_dn("CN=alice,OU=acme,OU=research,O=Example Corp,C=US") == [
        ("CN", "alice"),
        ("OU", "acme"),
        ("OU", "research"),
        ("O", "Example Corp"),
        ("C", "US"),
    ]


@pytest.mark.parametrize(
    ("dn", "value"),
    [
        (r"CN=Doe\, John,OU=acme", "Doe, John"),
        (r"CN=Lu\C4\8Di\C4\87,OU=acme", "Lučić"),
        (r"CN=\#hash\+plus\;semi\\back,OU=acme", "#hash+plus;semi\\back"),
        ('CN="quoted, with comma",OU=acme', "quoted, with comma"),
        (r"CN=\ leading and trailing\ ,OU=acme", " leading and trailing "),
        ("CN=trailing spaces   ,OU=acme", "trailing spaces"),
        ("CN=#04024869,OU=acme", "#04024869"),
    ],
)
def test_dn_escapes_and_quoting_are_decoded(dn: str, value: str) -> None:
    assert parse_dn(dn)[0] == ("CN", value)
    assert parse_dn(dn)[-1] == ("OU", "acme")


def test_a_multi_valued_rdn_and_spaces_after_separators_are_read() -> None:
    assert parse_dn("CN=alice+UID=a1, OU=acme") == [("CN", "alice"), ("UID", "a1"), ("OU", "acme")]


def test_the_openssl_slash_form_is_read() -> None:
    assert parse_dn("/C=US/O=Example Corp/OU=acme/CN=alice") == [
        ("C", "US"),
        ("O", "Example Corp"),
        ("OU", "acme"),
        ("CN", "alice"),
    ]


@pytest.mark.parametrize("bad", ["", "CN", "CN=a,", "CN=a\\", r"CN=a\zz", 'CN="open', "=x", r"CN=\FF"])
def test_malformed_dns_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_dn(bad)


def test_an_xfcc_header_maps_ou_to_the_project_and_cn_to_the_user() -> None:
    cert = cert_identity(ENVOY, "xfcc", "OU", "CN")
    assert (cert.project, cert.user) == ("acme", "billing-bot")
    assert cert.uri == "spiffe://cluster.local/ns/acme/sa/billing-bot"
    assert cert.subject == "CN=billing-bot,OU=acme,O=Example Corp,C=US"


def test_attribute_names_are_case_insensitive_and_uri_is_available_from_xfcc() -> None:
    cert = cert_identity(ENVOY, "xfcc", "o", "URI")
    assert (cert.project, cert.user) == ("Example Corp", "spiffe://cluster.local/ns/acme/sa/billing-bot")


def test_only_the_first_xfcc_element_the_edge_added_counts() -> None:
    header = 'Subject="CN=client,OU=acme",By=spiffe://edge;Subject="CN=edge,OU=infra"'
    assert cert_identity(header, "xfcc", "OU", "CN").project == "acme"


def test_a_plain_dn_header_maps_the_same_way() -> None:
    cert = cert_identity("CN=alice,OU=research,O=Example", "dn", "OU", "CN")
    assert (cert.project, cert.user, cert.uri) == ("research", "alice", None)


def test_a_missing_attribute_maps_to_none() -> None:
    cert = cert_identity("CN=alice,O=Example", "dn", "OU", None)
    assert (cert.project, cert.user) == (None, None)


def test_an_xfcc_element_with_neither_subject_nor_uri_is_refused() -> None:
    with pytest.raises(ValueError, match="no subject"):
        cert_identity("Hash=abc;By=spiffe://edge", "xfcc", "OU", "CN")


def scope(*headers: tuple[bytes, bytes], client: tuple[str, int] | None = ("10.1.2.3", 5555)) -> dict[str, object]:
    return {"headers": list(headers), "client": client}


def test_the_header_is_read_only_from_a_trusted_proxy() -> None:
    mtls = MTLSIdentity(
        MTLSConfig.model_validate({"header": "X-Client-Cert-Subject", "trusted_proxies": ["10.0.0.0/8", "::1/128"]}),
        directory=None,  # type: ignore[arg-type]  # not used by read()
    )
    header = (b"x-client-cert-subject", b"CN=alice,OU=acme")
    assert mtls.read(scope(header)) == "CN=alice,OU=acme"
    assert mtls.read(scope(header, client=("::ffff:10.9.9.9", 1))) == "CN=alice,OU=acme"
    assert mtls.read(scope(header, client=("::1", 1))) == "CN=alice,OU=acme"
    assert mtls.read(scope(header, client=("192.168.1.1", 1))) is None
    assert mtls.read(scope(header, client=None)) is None
    assert mtls.read(scope((b"x-other", b"CN=x"))) is None


def test_a_header_sent_twice_is_ignored() -> None:
    mtls = MTLSIdentity(MTLSConfig(), directory=None)  # type: ignore[arg-type]
    header = (b"x-forwarded-client-cert", b'Subject="CN=a,OU=acme"')
    assert mtls.read(scope(header)) == 'Subject="CN=a,OU=acme"'
    assert mtls.read(scope(header, (b"x-forwarded-client-cert", b'Subject="CN=b,OU=evil"'))) is None
