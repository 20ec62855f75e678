import click
import pytest

from deploy.local.stack import parse_replicas


@pytest.mark.parametrize("spec, expected", [
    ("routing=3,sla=2", {"routing": 3, "sla": 2}),
    ("", {}),
    ("portal=2", {"portal": 2}),
    (" routing=3 , ,search=1,", {"routing": 3, "search": 1}),
])
def test_parse_replicas(spec, expected):
    assert parse_replicas(spec) == expected


@pytest.mark.parametrize("spec", [
    "routing", "routing=", "routing=0", "routing=-1", "routing=two", "routing=1.5",
    "mailer=2", "=2", "routing=3,bogus=1", "routing=²", "routing=3,routing=2",
])
def test_parse_replicas_rejects_bad_specs(spec):
    with pytest.raises(click.UsageError) as exc:
        parse_replicas(spec)
    assert "HELPDESK_REPLICAS" in exc.value.message
